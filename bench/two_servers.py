"""A predictive campaign on one Asterisk against the same team split over two, through real TCP.

An answered call is connected on the Asterisk it was placed on, to that server's agents only,
so a campaign whose agents are on two servers has two teams, not one. This script measures
what that costs: the daemon's engine (the very code ``dialerd run`` runs) dials a predictive
campaign against simulated Asterisks (``dialerd.sim``, real AMI servers on loopback ports) in
accelerated time, once with every agent on one server and once with half of them on each of
two, and prints per run the abandoned calls of the live answers and the agents' talk per
agent-hour.

    PYTHONPATH=src .venv/bin/python bench/two_servers.py [--agents 10] [--seconds 1200]
        [--seeds 1,2,3] [--layouts one,two] [--speed 10] [--mode predictive]
        [--windows day,rolling_30d] [--start 10:00]

Callees are E.164 numbers, so the simulator's statistical callee model decides each call
(35 % answered after 8 +- 4 s, talks of 60 +- 36 s); both simulators get the run's seed, so a
number has the same fate whichever server dials it. The campaign has a finished history
(40 attempts of the day before, a quarter answered, 60 s talks) so predictive has its samples
from the start; wrap-ups end at the campaign's 10 s limit. ``--mode progressive`` also
reports the most calls in flight on each server against its agents.

``--windows hour --start 10:45`` runs in the last quarter of a clock hour that has had no
call yet: the hour can take about three abandons in all, so the run spends most of its time
where the pair guard applies (what is left of a window under two abandons per part), which a
day window at 10:00 never reaches in a run this short.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import statistics
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import structlog

from dialerd.ami import AsteriskServer, ServerConfig
from dialerd.domain.campaign_spec import CampaignSpec
from dialerd.domain.changes import NewContact
from dialerd.domain.clock import ScaledClock
from dialerd.domain.enums import CallResult
from dialerd.domain.model import Agent, Attempt
from dialerd.engine import AttemptFinished, CallProgressed, Engine, EngineEvent, EngineSettings
from dialerd.sim import SimAsterisk
from dialerd.store import Store, upgrade

MONDAY_10_UTC = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)


@dataclass
class Run:
    layout: str
    seed: int
    live: int
    abandoned: int
    connected: int
    talk_per_agent_hour_s: float
    placed: dict[str, int]
    most_in_flight: dict[str, int]

    @property
    def rate(self) -> float:
        return self.abandoned / self.live if self.live else 0.0


def _spec(mode: str, windows: list[str]) -> CampaignSpec:
    return CampaignSpec.model_validate(
        {
            "name": "camp",
            "timezone": "UTC",
            "dial": {"mode": mode, "abandonment_windows": windows},
            "schedule": {"status": "enabled"},
            "tasks": [{"name": "call", "type": "call"}],
            "queue": "q-camp",
            "caller_ids": ["+493012345678"],
            "ring_timeout": "25s",
            "wrapup": {"limit": "10s"},
            "calling_hours": {"enabled": False},
        }
    )


async def _history(store: Store, clock: ScaledClock, campaign_id: int) -> None:
    phones = [f"+4930555{i:05d}" for i in range(40)]
    contacts = await store.add_contacts(
        campaign_id, [NewContact(phone=p) for p in phones], clock.now()
    )
    task = (await store.tasks(campaign_id))[0]
    start = clock.now() - timedelta(days=1)
    for i, cid in enumerate(contacts):
        t0 = start + timedelta(minutes=i)
        answered = i % 4 == 0
        await store.record_attempt(
            Attempt(
                id=f"old-{i}",
                campaign_id=campaign_id,
                contact_id=cid,
                task_id=task.id,
                phone=phones[i],
                originated_at=t0,
                answered_at=t0 + timedelta(seconds=8) if answered else None,
                connected_at=t0 + timedelta(seconds=8) if answered else None,
                hungup_at=t0 + timedelta(seconds=68 if answered else 25),
                result=CallResult.CONNECTED if answered else CallResult.NO_ANSWER,
            )
        )


async def _until(pred: Any, limit: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + limit
    while not pred():
        if loop.time() > end:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(0.02)


async def one_run(
    layout: str,
    seed: int,
    agents: int,
    seconds: float,
    speed: float,
    mode: str,
    windows: list[str] | None = None,
    start_at: datetime = MONDAY_10_UTC,
) -> Run:
    names = ("east",) if layout == "one" else ("east", "west")
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.sqlite'}"
        await upgrade(url)
        clock = ScaledClock(speed, start=start_at)
        store = await Store.open(url)
        sims = {n: SimAsterisk(clock=clock, seed=seed) for n in names}
        async with contextlib.AsyncExitStack() as stack:
            stack.push_async_callback(store.close)
            for sim in sims.values():
                await sim.start()
                stack.push_async_callback(sim.stop)
            servers = {
                n: AsteriskServer(
                    ServerConfig(
                        name=n,
                        port=sims[n].port,
                        username="dialer",
                        secret="dialerpass",
                        dead_peer_timeout=600.0,
                        action_timeout=300.0,
                    ),
                    clock=clock,
                )
                for n in names
            }
            for s in servers.values():
                s.start()
                stack.push_async_callback(s.close)
            await _until(lambda: all(s.ready for s in servers.values()))
            camp = await store.create_campaign(
                _spec(mode, windows or ["day", "rolling_30d"]), clock.now()
            )
            await _history(store, clock, camp.id)
            await store.add_contacts(
                camp.id,
                [NewContact(phone=f"+4940{seed:02d}{i:06d}") for i in range(4000)],
                clock.now(),
            )
            where: dict[str, str] = {}
            agent_names = [f"a{i}" for i in range(agents)]
            for i, name in enumerate(agent_names):
                await store.upsert_agent(
                    Agent(
                        name=name,
                        interface=f"Local/agent-{i + 1}@sim-agents",
                        campaigns=("camp",),
                    ),
                    clock.now(),
                )
                where[name] = names[i * len(names) // agents]
            settings = EngineSettings(tick_seconds=1.0, holder="bench", agent_servers=where)
            engine = Engine(store, servers, clock, settings)
            events: list[EngineEvent] = []
            engine.add_listener(events.append)
            task = asyncio.create_task(engine.run())
            try:
                await _until(lambda: bool(engine.status().campaigns))
                for name in agent_names:
                    await engine.agent_login(name)
                await _until(
                    lambda: [a.state for a in engine.status().agents] == ["ready"] * agents
                )
                start = clock.monotonic()
                most: Counter[str] = Counter()
                while clock.monotonic() - start < seconds:
                    await clock.sleep(0.5)
                    if mode != "predictive":
                        up: Counter[str] = Counter()
                        for (
                            runner
                        ) in engine._runners.values():  # a measurement: the calls of each runner
                            for c in runner.calls.values():
                                if c.in_flight and c.connected_at is None:
                                    up[c.server] += 1
                        for n in names:
                            most[n] = max(most[n], up[n])
            finally:
                await asyncio.wait_for(engine.stop(0), 30)
                await asyncio.wait_for(task, 30)
    done = [e for e in events if isinstance(e, AttemptFinished)]
    results = Counter(e.result for e in done)
    talk = sum(e.talk_seconds or 0.0 for e in done if e.result is CallResult.CONNECTED)
    placed = Counter(
        e.server for e in events if isinstance(e, CallProgressed) and e.phase == "dialing"
    )
    return Run(
        layout,
        seed,
        live=results[CallResult.CONNECTED] + results[CallResult.ABANDONED],
        abandoned=results[CallResult.ABANDONED],
        connected=results[CallResult.CONNECTED],
        talk_per_agent_hour_s=talk / (agents * seconds / 3600.0),
        placed=dict(placed),
        most_in_flight=dict(most),
    )


async def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--agents", type=int, default=10)
    p.add_argument("--seconds", type=float, default=1200.0)
    p.add_argument("--seeds", default="1,2,3")
    p.add_argument("--layouts", default="one,two")
    p.add_argument("--speed", type=float, default=10.0)
    p.add_argument("--mode", default="predictive")
    p.add_argument("--windows", default="day,rolling_30d", help="the campaign's windows")
    p.add_argument("--start", default="10:00", help="the run's start, HH:MM UTC of a Monday")
    a = p.parse_args(argv)
    hours, minutes = (int(v) for v in a.start.split(":"))
    start_at = MONDAY_10_UTC.replace(hour=hours, minute=minutes)
    windows = a.windows.split(",")
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    runs: list[Run] = []
    for seed in (int(s) for s in a.seeds.split(",")):
        for layout in a.layouts.split(","):
            r = await one_run(layout, seed, a.agents, a.seconds, a.speed, a.mode, windows, start_at)
            runs.append(r)
            print(
                f"{layout} seed {seed}: abandoned {r.abandoned} of {r.live} live answers "
                f"({100 * r.rate:.1f} %), connected {r.connected}, talk "
                f"{r.talk_per_agent_hour_s / 60:.1f} min/agent-h, placed {r.placed}"
                + (f", most waiting for an agent {r.most_in_flight}" if r.most_in_flight else ""),
                flush=True,
            )
    for layout in a.layouts.split(","):
        mine = [r for r in runs if r.layout == layout]
        ab, lv = sum(r.abandoned for r in mine), sum(r.live for r in mine)
        talk = statistics.fmean(r.talk_per_agent_hour_s for r in mine) / 60
        print(
            f"{layout}: abandoned {ab} of {lv} live answers ({100 * ab / max(lv, 1):.1f} %), "
            f"talk {talk:.1f} min/agent-h (mean of {len(mine)} runs)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
