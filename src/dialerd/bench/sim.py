"""``dialerd bench sim``: can one core simulate 2,000 concurrent calls and 500 agents in real time?

The simulator runs in its own process (so its CPU time is its own); this process is a plain
asyncio AMI client that logs in, adds the agents as queue members and keeps the number of calls
in flight at the target by originating E.164 numbers (the seeded statistical callee model).
Two phases run in the same invocation: a baseline with the agents but only a tenth of the calls,
then the full load. For each phase the simulator reports its CPU share of one core, events per
second, how late its timers fired and how late a 50 ms event-loop probe woke up. "Keeps up with
real time" means: CPU below one core and the loop probe's p99 lateness below 100 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing as mp
import os
import platform
import sys
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from dialerd.ami.codec import AmiDecoder, Message, MessageKind, encode_action

QUEUE = "dialer-q1"


@dataclass(frozen=True, slots=True)
class PhaseResult:
    phase: str
    target_calls: int
    agents: int
    seconds: float
    mean_calls: float
    max_calls: int
    originates_per_s: float
    events_per_s: float
    cpu_share: float
    timer_lag_mean_ms: float
    timer_lag_max_ms: float
    loop_lag_p50_ms: float
    loop_lag_p99_ms: float
    loop_lag_max_ms: float
    client_events_per_s: float

    @property
    def keeps_up(self) -> bool:
        return self.cpu_share < 1.0 and self.loop_lag_p99_ms < 100.0


@dataclass(frozen=True, slots=True)
class OfflineResult:
    """The same load without sockets on a hand-stepped clock: pure simulation cost."""

    target_calls: int
    agents: int
    simulated_s: float
    cpu_s: float
    events: int

    @property
    def realtime_factor(self) -> float:
        return self.simulated_s / self.cpu_s if self.cpu_s > 0 else 0.0

    @property
    def events_per_cpu_s(self) -> float:
        return self.events / self.cpu_s if self.cpu_s > 0 else 0.0


def offline(
    calls: int, agents: int, seconds: float, seed: int, warmup: float = 60.0
) -> OfflineResult:
    """Run ``calls`` concurrent calls for ``seconds`` of simulated time as fast as one core can.

    Every event is still built and encoded, only the socket writes are left out, so the ratio
    of simulated to CPU seconds is the simulator's head-room over real time, whatever else the
    machine is doing (CPU time, not wall time, is measured).
    """
    from dialerd.ami.codec import encode
    from dialerd.domain.clock import ManualClock
    from dialerd.sim.model import SimModel
    from dialerd.sim.pbx import Pbx
    from dialerd.sim.queue import Member
    from dialerd.sim.scheduler import Scheduler

    clock = ManualClock()
    sched = Scheduler(clock)
    count = 0

    def emit(name: str, headers: list[tuple[str, str]]) -> None:
        nonlocal count
        encode("Event", name, headers)
        count += 1

    pbx = Pbx(clock, sched, emit, SimModel(), seed)
    q = pbx.get_queue(QUEUE)
    for n in range(1, agents + 1):
        iface = f"Local/agent-{n}@sim-agents"
        q.members[iface] = Member(iface, f"Agent {n}", iface)
    seq = 0
    step = 0.02
    cpu0 = 0.0
    count0 = 0
    measuring = False
    while clock.monotonic() < warmup + seconds:
        if not measuring and clock.monotonic() >= warmup:
            measuring = True
            cpu0, count0 = time.process_time(), count
        while len(pbx.calls) < calls:
            seq += 1
            att = f"o-{seq}"
            pbx.originate(
                att,
                [
                    ("Channel", f"Local/+4930{seq:09d}@sim-callees"),
                    ("Context", "dialer-connect"),
                    ("Exten", "s"),
                    ("Timeout", "25000"),
                    ("CallerID", '"Bench" <0212345678>'),
                    ("ChannelId", f"{att}-a"),
                    ("OtherChannelId", f"{att}-b"),
                    ("Variable", f"DIALER_ATTEMPT={seq}"),
                ],
            )
        clock.advance(step)
        sched.run_due()
    return OfflineResult(calls, agents, seconds, time.process_time() - cpu0, count - count0)


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "sim", help="simulator capacity: 2,000 concurrent calls and 500 agents on one core"
    )
    p.add_argument("--calls", type=int, default=2000, help="concurrent calls to hold (2000)")
    p.add_argument("--agents", type=int, default=500, help="queue members (500)")
    p.add_argument("--duration", type=float, default=60.0, help="seconds measured per phase")
    p.add_argument("--ramp", type=float, default=20.0, help="max seconds to reach the target")
    p.add_argument("--rate", type=float, default=400.0, help="max originates per second")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", default="bench/results", help="directory for the JSON results")
    p.add_argument("--skip-baseline", action="store_true", help="run only the full load")
    p.add_argument(
        "--offline-seconds",
        type=float,
        default=300.0,
        help="simulated seconds of the socket-less run (0 to skip)",
    )
    p.set_defaults(func=run)


# ---------------------------------------------------------------- simulator process
def _sim_process(conn: Connection, seed: int) -> None:
    asyncio.run(_sim_main(conn, seed))


async def _sim_main(conn: Connection, seed: int) -> None:
    from dialerd.sim import SimAsterisk
    from dialerd.sim.scheduler import LagStats

    sim = SimAsterisk(seed=seed)
    await sim.start()
    conn.send(sim.port)
    loop = asyncio.get_running_loop()
    lags: list[float] = []
    probe_on = False

    async def probe() -> None:
        while True:
            t0 = loop.time()
            await asyncio.sleep(0.05)
            if probe_on:
                lags.append(loop.time() - t0 - 0.05)

    probe_task = asyncio.create_task(probe())
    try:
        while True:
            cmd = await _recv(conn)
            if cmd == "stop":
                break
            if cmd == "begin":
                lags.clear()
                probe_on = True
                sim.scheduler.lag = LagStats()
                mark = (time.process_time(), time.monotonic(), sim.events_sent)
                conn.send("ok")
            elif cmd == "end":
                probe_on = False
                cpu0, wall0, ev0 = mark
                wall = time.monotonic() - wall0
                lags.sort()
                n = len(lags)
                lag = sim.scheduler.lag
                conn.send(
                    {
                        "cpu_share": (time.process_time() - cpu0) / wall,
                        "events_per_s": (sim.events_sent - ev0) / wall,
                        "timer_lag_mean_ms": lag.mean * 1000,
                        "timer_lag_max_ms": lag.max * 1000,
                        "loop_lag_p50_ms": lags[n // 2] * 1000 if n else 0.0,
                        "loop_lag_p99_ms": lags[min(n - 1, int(n * 0.99))] * 1000 if n else 0.0,
                        "loop_lag_max_ms": lags[-1] * 1000 if n else 0.0,
                    }
                )
    finally:
        probe_task.cancel()
        await asyncio.gather(probe_task, return_exceptions=True)
        await sim.stop()


# ---------------------------------------------------------------- load client
class LoadClient:
    """Originates and counts; parses every event like a real daemon would have to."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.decoder = AmiDecoder()
        self.inflight: set[str] = set()
        self.events = 0
        self.originated = 0
        self._seq = 0
        self.logged_in = asyncio.Event()

    async def read_loop(self) -> None:
        while True:
            data = await self.reader.read(1 << 16)
            if not data:
                return
            for m in self.decoder.feed(data):
                if not isinstance(m, Message):
                    continue
                if m.kind is MessageKind.EVENT:
                    self.events += 1
                    if m.name == "Hangup":
                        uid = m.get("Uniqueid") or ""
                        if uid.endswith("-a"):
                            self.inflight.discard(uid[:-2])
                elif m.kind is MessageKind.RESPONSE and m.get("ActionID") == "login":
                    self.logged_in.set()

    def send(self, action: str, fields: dict[str, str | list[str]]) -> None:
        self.writer.write(encode_action(action, fields))

    def originate(self, seed: int) -> None:
        self._seq += 1
        att = f"b-{self._seq}"
        number = f"+49{30 + seed % 60}{self._seq:09d}"
        self.send(
            "Originate",
            {
                "ActionID": att,
                "Channel": f"Local/{number}@sim-callees",
                "Context": "dialer-connect",
                "Exten": "s",
                "Priority": "1",
                "Timeout": "25000",
                "CallerID": '"Bench" <0212345678>',
                "Async": "true",
                "ChannelId": f"{att}-a",
                "OtherChannelId": f"{att}-b",
                "Variable": f"DIALER_ATTEMPT={self._seq}",
            },
        )
        self.inflight.add(att)
        self.originated += 1


async def _hold(
    client: LoadClient, target: int, seconds: float, rate: float, seed: int
) -> tuple[float, int]:
    """Keep ``target`` calls in flight for ``seconds``; returns (mean, max) in flight."""
    step = 0.02
    per_step = max(1, int(rate * step))
    end = time.monotonic() + seconds
    samples: list[int] = []
    while time.monotonic() < end:
        n = 0
        while len(client.inflight) < target and n < per_step:
            client.originate(seed)
            n += 1
        await client.writer.drain()
        samples.append(len(client.inflight))
        await asyncio.sleep(step)
    return (sum(samples) / len(samples) if samples else 0.0), max(samples, default=0)


async def _recv(conn: Connection) -> Any:
    """Receive from a multiprocessing pipe without blocking the event loop."""
    if not conn.poll():
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[None] = loop.create_future()

        def wake() -> None:
            if not ready.done():
                ready.set_result(None)

        loop.add_reader(conn.fileno(), wake)
        try:
            await ready
        finally:
            loop.remove_reader(conn.fileno())
    return conn.recv()


async def _ask(conn: Connection, cmd: str) -> Any:
    conn.send(cmd)
    return await _recv(conn)


async def _phase(
    name: str,
    client: LoadClient,
    conn: Connection,
    target: int,
    agents: int,
    args: argparse.Namespace,
) -> PhaseResult:
    # ramp up (not measured)
    ramp_end = time.monotonic() + args.ramp
    while time.monotonic() < ramp_end and len(client.inflight) < target * 0.98:
        await _hold(client, target, 0.5, args.rate, args.seed)
    await _ask(conn, "begin")
    ev0, or0, t0 = client.events, client.originated, time.monotonic()
    mean, peak = await _hold(client, target, args.duration, args.rate, args.seed)
    stats = await _ask(conn, "end")
    wall = time.monotonic() - t0
    return PhaseResult(
        phase=name,
        target_calls=target,
        agents=agents,
        seconds=round(wall, 1),
        mean_calls=round(mean, 1),
        max_calls=peak,
        originates_per_s=round((client.originated - or0) / wall, 1),
        events_per_s=round(stats["events_per_s"], 1),
        cpu_share=round(stats["cpu_share"], 3),
        timer_lag_mean_ms=round(stats["timer_lag_mean_ms"], 2),
        timer_lag_max_ms=round(stats["timer_lag_max_ms"], 1),
        loop_lag_p50_ms=round(stats["loop_lag_p50_ms"], 2),
        loop_lag_p99_ms=round(stats["loop_lag_p99_ms"], 2),
        loop_lag_max_ms=round(stats["loop_lag_max_ms"], 1),
        client_events_per_s=round((client.events - ev0) / wall, 1),
    )


async def _drive(port: int, conn: Connection, args: argparse.Namespace) -> list[PhaseResult]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    client = LoadClient(reader, writer)
    reader_task = asyncio.create_task(client.read_loop())
    try:
        client.send(
            "Login",
            {"ActionID": "login", "Username": "dialer", "Secret": "dialerpass", "Events": "on"},
        )
        await asyncio.wait_for(client.logged_in.wait(), 5)
        for n in range(1, args.agents + 1):
            client.send(
                "QueueAdd",
                {
                    "ActionID": f"qa-{n}",
                    "Queue": QUEUE,
                    "Interface": f"Local/agent-{n}@sim-agents",
                    "MemberName": f"Agent {n}",
                },
            )
        await writer.drain()
        results = []
        if not args.skip_baseline:
            base = max(1, args.calls // 10)
            results.append(await _phase("baseline", client, conn, base, args.agents, args))
        results.append(await _phase("load", client, conn, args.calls, args.agents, args))
        return results
    finally:
        reader_task.cancel()
        await asyncio.gather(reader_task, return_exceptions=True)
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


def _table(results: list[PhaseResult]) -> str:
    cols = [
        ("phase", "phase"),
        ("calls (mean/max)", None),
        ("agents", "agents"),
        ("originates/s", "originates_per_s"),
        ("events/s", "events_per_s"),
        ("CPU (1 core)", None),
        ("timer lag mean/max ms", None),
        ("loop lag p50/p99/max ms", None),
        ("keeps up", None),
    ]
    lines = ["| " + " | ".join(c for c, _ in cols) + " |", "|" + "---|" * len(cols)]
    for r in results:
        cells = [
            r.phase,
            f"{r.mean_calls:.0f}/{r.max_calls}",
            str(r.agents),
            f"{r.originates_per_s:.1f}",
            f"{r.events_per_s:,.0f}",
            f"{r.cpu_share * 100:.0f} %",
            f"{r.timer_lag_mean_ms:.1f}/{r.timer_lag_max_ms:.0f}",
            f"{r.loop_lag_p50_ms:.1f}/{r.loop_lag_p99_ms:.1f}/{r.loop_lag_max_ms:.0f}",
            "yes" if r.keeps_up else "NO",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


async def run(args: argparse.Namespace) -> int:
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_sim_process, args=(child, args.seed), daemon=True)
    proc.start()
    try:
        port = await _recv(parent)
        results = await _drive(int(port), parent, args)
        parent.send("stop")
    finally:
        proc.join(timeout=10)
        if proc.is_alive():
            proc.terminate()
            proc.join(timeout=5)
    load_avg = os.getloadavg()
    off = None
    if args.offline_seconds > 0:
        off = offline(args.calls, args.agents, args.offline_seconds, args.seed)
    sys.stdout.write(_table(results) + "\n")
    if off is not None:
        sys.stdout.write(
            "\n| socket-less run | calls | agents | simulated s | CPU s | x real time "
            "| events per CPU s |\n|---|---|---|---|---|---|---|\n"
            f"| offline | {off.target_calls} | {off.agents} | {off.simulated_s:.0f} "
            f"| {off.cpu_s:.1f} | {off.realtime_factor:.1f} | {off.events_per_cpu_s:,.0f} |\n"
        )
    sys.stdout.write(
        f"\nmachine load average during the TCP run: {load_avg[0]:.1f} "
        f"on {os.cpu_count()} CPUs (loop lag is wall time and suffers from other processes)\n"
    )
    path = _write(results, off, load_avg, args)
    sys.stdout.write(f"results written to {path}\n")
    return 0 if results and results[-1].keeps_up else 1


def _write(
    results: list[PhaseResult],
    off: OfflineResult | None,
    load_avg: tuple[float, float, float],
    args: argparse.Namespace,
) -> Path:
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = out_dir / f"sim-{stamp}.json"
    payload = {
        "benchmark": "sim",
        "when": stamp,
        "host": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_average": list(load_avg),
        },
        "args": {k: v for k, v in vars(args).items() if k != "func"},
        "results": [asdict(r) | {"keeps_up": r.keeps_up} for r in results],
        "offline": None
        if off is None
        else asdict(off)
        | {"realtime_factor": off.realtime_factor, "events_per_cpu_s": off.events_per_cpu_s},
    }
    path.write_text(json.dumps(payload, indent=2) + "\n")
    sys.stdout.write(json.dumps(payload["results"]) + "\n")
    return path
