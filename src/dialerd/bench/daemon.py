"""``dialerd bench daemon``: the real daemon under load from the simulated Asterisk.

``dialerd run`` is started as its own process (so its CPU time is its own) with a generated
configuration: a power-mode campaign, N simulated agents, several simulated Asterisk servers
whose trunk lines add up to the target of concurrent calls, and enough contacts in a time zone
where it is daytime now (the calling-hours guard stays on). The simulators run in this process
at real speed with a callee model that answers rarely, so most calls ring until the ring
timeout and the number of calls in flight is held at the line limit.

Two phases run in one invocation: a baseline (a tenth of the agents and calls) and the full
load. For each phase, after the ramp-up, a window is measured:

- tick duration p50/p99: measured tick by tick. The daemon sets
  ``dialerd_tick_last_duration_seconds`` at the end of every tick and counts ticks in its
  ``dialerd_tick_duration_seconds`` histogram; /metrics is scraped every half second, and each
  scrape where the count moved yields the latest tick's exact duration. Slow ticks (the ones
  the p99 is about) last longer than a scrape interval, so each is seen; of fast ones, one per
  scrape. ``ticks_sampled`` says how many of the window's ticks were measured. The histogram's
  quantiles (interpolated within buckets, as Prometheus' ``histogram_quantile``) are kept as
  ``tick_p99_hist_ms`` for comparison with a dashboard;
- CPU per call: the daemon's user+system CPU time over the window (``/proc/PID/stat``) divided
  by the calls it placed in the window (``dialerd_calls_placed_total``);
- calls in flight (mean, max) sampled every scrape from ``dialerd_calls_in_flight``;
- start-up (process start to ``READY=1``) and shutdown (SIGTERM to exit, drain included);
- the simulators' CPU share of one core (this process): near 100 % means the simulator, not
  the daemon, limits the load, and the figures say less about the daemon.

The output states issue #6's target (2,000 concurrent calls with 500 agents; ``TARGET_*``) and
whether the full phase reached it: calls in flight reached the target, averaged at least 90 %
of it over the window, and the tick p99 stayed under a second.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import signal
import socket
import sys
import time
import tomllib
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dialerd.domain.campaign_spec import validate_campaign_spec
from dialerd.domain.changes import NewContact
from dialerd.sim import SimAsterisk, SimModel
from dialerd.sim.model import CalleeModel
from dialerd.store import Store, upgrade

#: Issue #6's target: the daemon holds this many concurrent calls with this many agents.
TARGET_CALLS = 2000
TARGET_AGENTS = 500
#: "Holds": calls in flight reach the target and average this share of it over the window,
#: with pacing ticks under a second at the 99th percentile.
TARGET_MEAN_SHARE = 0.9
TARGET_TICK_P99_MS = 1000.0

CAMPAIGN = "bench"
RING_TIMEOUT = 20.0
SCRAPE_INTERVAL = 0.5
CALLEE = CalleeModel(
    answer=0.06, busy=0.03, congestion=0.0, invalid=0.0, talk_mean=15.0, talk_sd=8.0
)


@dataclass(frozen=True, slots=True)
class PhaseResult:
    phase: str
    agents: int
    lines: int
    servers: int
    seconds: float
    calls_mean: float
    calls_max: int
    placed: int
    placed_per_s: float
    ticks: int
    ticks_sampled: int
    tick_p50_ms: float
    tick_p99_ms: float
    tick_max_ms: float
    tick_p99_hist_ms: float
    cpu_seconds: float
    cpu_share: float
    cpu_ms_per_call: float
    sim_cpu_share: float
    ready_seconds: float
    stop_seconds: float
    exit_code: int


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "daemon", help="the daemon (dialerd run) against simulated Asterisk servers under load"
    )
    p.add_argument("--agents", type=int, default=500, help="simulated agents (500)")
    p.add_argument("--calls", type=int, default=2000, help="concurrent calls: trunk lines (2000)")
    p.add_argument("--servers", type=int, default=2, help="simulated Asterisk servers (2)")
    p.add_argument("--seconds", type=float, default=60.0, help="seconds measured per phase (60)")
    p.add_argument("--ramp", type=float, default=90.0, help="max seconds to reach the lines")
    p.add_argument("--skip-baseline", action="store_true", help="run only the full load")
    p.add_argument("--out", default="bench/results", help="directory for the JSON results")
    p.add_argument("--work", default=None, help="working directory (default: a temp dir)")
    p.set_defaults(func=run)


async def run(args: argparse.Namespace) -> int:
    import tempfile

    if args.agents < 1 or args.calls < 1 or args.servers < 1 or args.seconds <= 0:
        sys.stderr.write("dialerd: error: --agents, --calls, --servers, --seconds: positive\n")
        return 64
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="dialerd-bench-"))
    phases: list[tuple[str, int, int, int]] = []
    if not args.skip_baseline:
        phases.append(
            ("baseline", max(5, args.agents // 10), max(20, args.calls // 10), args.servers)
        )
    phases.append(("full", args.agents, args.calls, args.servers))
    results: list[PhaseResult] = []
    try:
        for name, agents, lines, servers in phases:
            sys.stdout.write(
                f"phase {name}: {agents} agents, {lines} lines on {servers} servers ...\n"
            )
            sys.stdout.flush()
            results.append(
                await run_phase(name, agents, lines, servers, args.seconds, args.ramp, work)
            )
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    sys.stdout.write(table(results) + "\n")
    sys.stdout.write(target_line(results[-1]) + "\n")
    if len(results) == 2:
        base, full = results
        sys.stdout.write(
            f"full vs baseline: {full.calls_mean / max(base.calls_mean, 1):.1f}x the calls, "
            f"tick p99 {full.tick_p99_ms / max(base.tick_p99_ms, 1e-9):.1f}x, "
            f"CPU per call {full.cpu_ms_per_call / max(base.cpu_ms_per_call, 1e-9):.2f}x\n"
        )
    path = write_json(Path(args.out), results, args)
    sys.stdout.write(f"results written to {path}\n")
    sys.stdout.write(json.dumps([asdict(r) for r in results]) + "\n")
    return 0 if all(r.exit_code == 0 for r in results) else 1


# ---------------------------------------------------------------------------------- one phase


def daytime_zone(now: datetime) -> str:
    """An ``Etc/GMT±N`` zone where it is about noon now, so the calling-hours guard allows."""
    offset = (12 - now.hour + 12) % 24 - 12
    return "Etc/GMT" if offset == 0 else f"Etc/GMT{-offset:+d}"


def campaign_toml(lines: int) -> str:
    return f"""
name = "{CAMPAIGN}"
timezone = "UTC"
ring_timeout = "{RING_TIMEOUT:g}s"
[dial]
mode = "power"
calls_per_ready_agent = 8.0
calls_per_wrapup_agent = 2.0
max_concurrent_calls = {lines}
[schedule]
status = "enabled"
[wrapup]
limit = "3s"
default_status = "success"
default_detail = "talked"
[retry]
max_attempts = 1
[[tasks]]
name = "call"
type = "call"
[[tasks]]
name = "done"
type = "wait"
[[rules]]
from = "call"
status = "success"
to = "done"
"""


def config_toml(db_url: str, ports: list[int], lines: int, agents: int, api_port: int) -> str:
    per_server = max(1, lines // len(ports))
    out = ["[store]", f'url = "{db_url}"']
    for i, port in enumerate(ports):
        out += [
            "[[asterisk]]",
            f'name = "sim{i + 1}"',
            f"port = {port}",
            'username = "dialer"',
            'secret = "dialerpass"',
            f"max_concurrent_calls = {per_server}",
            "action_timeout = 10",
            "dead_peer_timeout = 30",
            "ping_interval = 5",
        ]
    out += [
        "[api]",
        f"port = {api_port}",
        "[engine]",
        "tick = 1",
        "drain_timeout = 5",
        "wrapup = 3",
        "[[campaigns]]",
        'glob = "campaigns/*.toml"',
        "[logging]",
        'level = "warning"',
        'format = "json"',
    ]
    for i in range(1, agents + 1):
        out += [
            "[[agents]]",
            f'name = "agent-{i}"',
            f'interface = "Local/agent-{i}@sim-agents"',
            f'campaigns = ["{CAMPAIGN}"]',
            # Agents spread over the servers: calls go to servers where agents are logged in.
            f'server = "sim{(i - 1) % len(ports) + 1}"',
        ]
    return "\n".join(out) + "\n"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of ``pid`` (Linux ``/proc``)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def prepare_store(db_url: str, spec_text: str, contacts: int) -> None:
    await upgrade(db_url)
    store = await Store.open(db_url)
    try:
        spec = validate_campaign_spec(tomllib.loads(spec_text), "bench")
        now = datetime.now(UTC)
        campaign = await store.create_campaign(spec, now)
        zone = daytime_zone(now)
        batch = 5000
        for start in range(0, contacts, batch):
            await store.add_contacts(
                campaign.id,
                [
                    NewContact(phone=f"+4930{n:08d}", timezone=zone)
                    for n in range(start, min(contacts, start + batch))
                ],
                now,
                return_ids=False,
            )
    finally:
        await store.close()


async def wait_ready(sock: socket.socket) -> None:
    """Until the daemon sends ``READY=1`` to our notify socket (the caller bounds the wait)."""
    loop = asyncio.get_running_loop()
    while True:
        data = await loop.sock_recv(sock, 65536)
        if b"READY=1" in data.split(b"\n"):
            return


async def discard(sock: socket.socket) -> None:
    loop = asyncio.get_running_loop()
    while True:
        await loop.sock_recv(sock, 65536)


async def run_phase(
    name: str, agents: int, lines: int, servers: int, seconds: float, ramp: float, work: Path
) -> PhaseResult:
    import httpx

    d = work / name
    shutil.rmtree(d, ignore_errors=True)
    (d / "campaigns").mkdir(parents=True)
    db_url = f"sqlite+aiosqlite:///{d / 'dialerd.db'}"
    spec_text = campaign_toml(lines)
    (d / "campaigns" / f"{CAMPAIGN}.toml").write_text(spec_text)
    # Enough fresh contacts for the whole run at the line limit (each call rings ~RING_TIMEOUT).
    contacts = int(lines / RING_TIMEOUT * (seconds + ramp + 30) * 1.3) + 100
    await prepare_store(db_url, spec_text, contacts)
    model = SimModel(callee=CALLEE)
    sims = [SimAsterisk(port=0, seed=i + 1, model=model) for i in range(servers)]
    for sim in sims:
        await sim.start()
    api_port = free_port()
    cfg = d / "dialerd.toml"
    cfg.write_text(config_toml(db_url, [s.port for s in sims], lines, agents, api_port))
    notify_path = d / "notify.sock"
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(notify_path))
    notify.setblocking(False)
    env = {**os.environ, "NOTIFY_SOCKET": str(notify_path)}
    env.pop("WATCHDOG_USEC", None)
    dialerd = Path(sys.executable).parent / "dialerd"
    stdout = (d / "stdout.log").open("wb")
    stderr = (d / "stderr.log").open("wb")
    started = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        str(dialerd), "run", "--config", str(cfg), stdout=stdout, stderr=stderr, env=env
    )
    url = f"http://127.0.0.1:{api_port}/metrics"
    try:
        try:
            async with asyncio.timeout(180):
                await wait_ready(notify)
        except TimeoutError:
            raise RuntimeError(f"the daemon did not become ready; see {d / 'stderr.log'}") from None
        ready_seconds = time.monotonic() - started
        async with httpx.AsyncClient(timeout=30) as http, asyncio.TaskGroup() as tg:
            # Keep reading STATUS= lines, as systemd does, so the daemon's sends never block.
            reader = tg.create_task(discard(notify))
            ramp_end = time.monotonic() + ramp
            while time.monotonic() < ramp_end:
                m = await scrape(http, url)
                if in_flight(m) >= 0.9 * lines:
                    break
                await asyncio.sleep(1.0)
            m0 = await scrape(http, url)
            cpu0 = process_cpu(proc.pid)
            sim_cpu0 = time.process_time()
            t0 = time.monotonic()
            samples: list[float] = []
            ticks = TickSampler(m0)
            while (left := t0 + seconds - time.monotonic()) > 0:
                await asyncio.sleep(min(SCRAPE_INTERVAL, left))
                m = await scrape(http, url)
                samples.append(in_flight(m))
                ticks.add(m)
            m1 = await scrape(http, url)
            cpu1 = process_cpu(proc.pid)
            sim_cpu = time.process_time() - sim_cpu0
            window = time.monotonic() - t0
            reader.cancel()
        stop_started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        exit_code = await asyncio.wait_for(proc.wait(), 120)
        stop_seconds = time.monotonic() - stop_started
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        stdout.close()
        stderr.close()
        notify.close()
        for sim in sims:
            await sim.stop()
    placed = int(
        counter(m1, "dialerd_calls_placed_total") - counter(m0, "dialerd_calls_placed_total")
    )
    buckets = {
        le: m1.get(("dialerd_tick_duration_seconds_bucket", le), 0.0)
        - m0.get(("dialerd_tick_duration_seconds_bucket", le), 0.0)
        for (metric, le) in m1
        if metric == "dialerd_tick_duration_seconds_bucket"
    }
    cpu = cpu1 - cpu0
    return PhaseResult(
        phase=name,
        agents=agents,
        lines=lines,
        servers=servers,
        seconds=round(window, 1),
        calls_mean=round(sum(samples) / len(samples), 1) if samples else 0.0,
        calls_max=int(max(samples, default=0)),
        placed=placed,
        placed_per_s=round(placed / window, 1),
        ticks=int(buckets.get("+Inf", 0)),
        ticks_sampled=len(ticks.seconds),
        tick_p50_ms=round(percentile(ticks.seconds, 0.5) * 1000, 2),
        tick_p99_ms=round(percentile(ticks.seconds, 0.99) * 1000, 2),
        tick_max_ms=round(max(ticks.seconds, default=float("nan")) * 1000, 2),
        tick_p99_hist_ms=round(quantile(buckets, 0.99) * 1000, 2),
        cpu_seconds=round(cpu, 2),
        cpu_share=round(cpu / window, 3),
        cpu_ms_per_call=round(cpu / placed * 1000, 3) if placed else float("nan"),
        sim_cpu_share=round(sim_cpu / window, 3),
        ready_seconds=round(ready_seconds, 1),
        stop_seconds=round(stop_seconds, 1),
        exit_code=exit_code,
    )


# --------------------------------------------------------------------------- /metrics reading


async def scrape(http: Any, url: str) -> dict[tuple[str, str], float]:
    """Samples summed over every label but ``le``: {(name, le or ""): value}."""
    from prometheus_client.parser import text_string_to_metric_families

    text = (await http.get(url)).text
    out: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            key = (s.name, s.labels.get("le", ""))
            out[key] = out.get(key, 0.0) + s.value
    return out


def counter(m: dict[tuple[str, str], float], name: str) -> float:
    return m.get((name, ""), 0.0)


def in_flight(m: dict[tuple[str, str], float]) -> float:
    return m.get(("dialerd_calls_in_flight", ""), 0.0)


class TickSampler:
    """Exact tick durations from successive scrapes (see the module docstring)."""

    def __init__(self, first: dict[tuple[str, str], float]) -> None:
        self.count = counter(first, "dialerd_tick_duration_seconds_count")
        self.seconds: list[float] = []

    def add(self, m: dict[tuple[str, str], float]) -> None:
        count = counter(m, "dialerd_tick_duration_seconds_count")
        if count > self.count:
            self.seconds.append(m.get(("dialerd_tick_last_duration_seconds", ""), float("nan")))
        self.count = count


def percentile(values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    v = sorted(x for x in values if x == x)
    if not v:
        return float("nan")
    pos = q * (len(v) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (pos - lo)


def quantile(buckets: dict[str, float], q: float) -> float:
    """``histogram_quantile`` of cumulative bucket counts ``{le: count}``."""
    finite = sorted((float(le), n) for le, n in buckets.items() if le != "+Inf")
    total = buckets.get("+Inf", finite[-1][1] if finite else 0.0)
    if total <= 0:
        return float("nan")
    rank = q * total
    lower, below = 0.0, 0.0
    for upper, count in finite:
        if count >= rank:
            if count == below:
                return upper
            return lower + (upper - lower) * (rank - below) / (count - below)
        lower, below = upper, count
    return finite[-1][0] if finite else float("nan")


# ------------------------------------------------------------------------------------ output


def table(results: list[PhaseResult]) -> str:
    head = (
        "| phase | agents | lines | calls in flight mean/max | placed/s | ticks "
        "| ticks measured | tick p50 ms | tick p99 ms | tick max ms | CPU share | CPU ms/call "
        "| sim CPU | ready s | stop s "
        f"| target {TARGET_CALLS:,} calls / {TARGET_AGENTS} agents |"
    )
    rows = [head, "|" + "---|" * 16]
    for r in results:
        rows.append(
            f"| {r.phase} | {r.agents} | {r.lines} | {r.calls_mean:g}/{r.calls_max} "
            f"| {r.placed_per_s:g} | {r.ticks} | {r.ticks_sampled} | {r.tick_p50_ms:g} "
            f"| {r.tick_p99_ms:g} | {r.tick_max_ms:g} "
            f"| {r.cpu_share:.0%} | {r.cpu_ms_per_call:g} | {r.sim_cpu_share:.0%} "
            f"| {r.ready_seconds:g} "
            f"| {r.stop_seconds:g} "
            f"| {'reached' if target_reached(r) else 'not reached'} |"
        )
    return "\n".join(rows)


def target_reached(r: PhaseResult) -> bool:
    """Whether a phase shows issue #6's target (see ``TARGET_*``)."""
    return (
        r.agents >= TARGET_AGENTS
        and r.lines >= TARGET_CALLS
        and r.calls_max >= TARGET_CALLS
        and r.calls_mean >= TARGET_MEAN_SHARE * TARGET_CALLS
        and r.tick_p99_ms < TARGET_TICK_P99_MS
        and r.exit_code == 0
    )


def target_line(r: PhaseResult) -> str:
    verdict = "REACHED" if target_reached(r) else "NOT reached"
    return (
        f"target (issue #6): {TARGET_CALLS:,} concurrent calls with {TARGET_AGENTS} agents, "
        f"i.e. calls in flight reach {TARGET_CALLS:,} and average >= "
        f"{TARGET_MEAN_SHARE:.0%} of it, tick p99 < {TARGET_TICK_P99_MS:g} ms: {verdict} "
        f"(phase {r.phase}: {r.agents} agents, {r.lines} lines, calls in flight "
        f"{r.calls_mean:g} mean / {r.calls_max} max, tick p99 {r.tick_p99_ms:g} ms, "
        f"{r.cpu_ms_per_call:g} ms CPU per call)"
    )


def write_json(out_dir: Path, results: list[PhaseResult], args: argparse.Namespace) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = out_dir / f"daemon-{stamp}.json"
    payload = {
        "benchmark": "daemon",
        "at": stamp,
        "host": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "load_average": os.getloadavg(),
        },
        "settings": {
            "agents": args.agents,
            "calls": args.calls,
            "servers": args.servers,
            "seconds": args.seconds,
            "ring_timeout": RING_TIMEOUT,
            "callee": asdict(CALLEE),
        },
        "results": [asdict(r) for r in results],
        "target": {
            "calls": TARGET_CALLS,
            "agents": TARGET_AGENTS,
            "mean_share": TARGET_MEAN_SHARE,
            "tick_p99_ms": TARGET_TICK_P99_MS,
            "reached": target_reached(results[-1]),
        },
    }
    path.write_text(json.dumps(payload, indent=2) + "\n")
    return path
