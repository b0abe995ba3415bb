"""SIGHUP reloads campaigns and agents from the configuration without dropping calls.

The daemon runs in this process (on an accelerated clock) against the simulated Asterisk; the
signal is a real SIGHUP sent to this process.
"""

from __future__ import annotations

import asyncio
import os
import signal
from datetime import UTC, datetime
from pathlib import Path

import structlog
from daemon_component_support import campaign, config, prepare, until

from dialerd.config import load_config
from dialerd.daemon.app import Daemon
from dialerd.daemon.sdnotify import Notifier
from dialerd.domain.campaign_spec import CampaignSpec, load_campaign_spec
from dialerd.domain.clock import ScaledClock
from dialerd.domain.enums import CampaignStatus
from dialerd.engine import AttemptFinished, CallProgressed, EngineEvent
from dialerd.sim import SimAsterisk


async def test_sighup_adds_a_campaign_and_an_agent_without_dropping_calls(tmp_path: Path) -> None:
    clock = ScaledClock(10.0, start=datetime.now(UTC))
    db_url = await prepare(tmp_path, "alpha", clock.now(), contacts=60)
    sim = SimAsterisk(port=0, clock=clock)
    await sim.start()
    cfg = tmp_path / "dialerd.toml"
    cfg.write_text(config(db_url, sim.port, [("agent-1", "alpha"), ("agent-2", "alpha")]))
    daemon = Daemon(load_config(cfg), clock=clock, notifier=Notifier(None), watchdog=0)
    started: set[str] = set()
    finished: set[str] = set()

    def on_event(e: EngineEvent) -> None:
        if isinstance(e, CallProgressed) and e.phase == "dialing":
            started.add(e.attempt_id)
        elif isinstance(e, AttemptFinished):
            finished.add(e.attempt.id)

    daemon.add_listener(on_event)
    try:
        async with asyncio.TaskGroup() as tg:
            task = tg.create_task(daemon.run())
            await until(daemon.ready.is_set)
            engine = daemon.engine
            assert engine is not None
            await until(lambda: engine.status().calls_in_flight > 0)
            in_flight = started - finished
            assert in_flight

            (tmp_path / "campaigns" / "beta.toml").write_text(campaign("beta"))
            cfg.write_text(
                config(
                    db_url,
                    sim.port,
                    [("agent-1", "alpha"), ("agent-2", "alpha"), ("agent-3", "beta")],
                )
            )
            os.kill(os.getpid(), signal.SIGHUP)
            await until(lambda: {c.name for c in engine.status().campaigns} == {"alpha", "beta"})
            await until(
                lambda: any(m.interface == "Local/agent-3@sim-agents" for m in sim.queue_members())
            )
            # The calls in progress at the reload end by themselves (before any stop), and the
            # runner that owns them was neither restarted nor stopped by the reload.
            await until(lambda: in_flight <= finished, within=30)
            alpha = next(c for c in engine.status().campaigns if c.name == "alpha")
            assert alpha.restarts == 0
            assert alpha.runner == "running"
            daemon.request_stop()
            await task
    finally:
        await sim.stop()


async def test_a_failed_reload_changes_nothing_and_a_login_missed_while_ami_is_down_is_made_later(
    tmp_path: Path,
) -> None:
    clock = ScaledClock(10.0, start=datetime.now(UTC))
    db_url = await prepare(tmp_path, "alpha", clock.now(), contacts=20)
    sim = SimAsterisk(port=0, clock=clock)
    await sim.start()
    cfg = tmp_path / "dialerd.toml"
    two = [("agent-1", "alpha"), ("agent-2", "alpha")]
    cfg.write_text(config(db_url, sim.port, two))
    daemon = Daemon(load_config(cfg), clock=clock, notifier=Notifier(None), watchdog=0)

    def members() -> set[str]:
        return {m.interface.split("@")[0].removeprefix("Local/") for m in sim.queue_members()}

    try:
        async with asyncio.TaskGroup() as tg:
            task = tg.create_task(daemon.run())
            await until(daemon.ready.is_set)
            await until(lambda: members() == {"agent-1", "agent-2"})

            # agent-2 removed, but a campaign file broken: the reload fails as a whole, and
            # agent-2 stays logged in (it was logged out before the files were read).
            good = (tmp_path / "campaigns" / "alpha.toml").read_text()
            (tmp_path / "campaigns" / "alpha.toml").write_text(good + "\nbroken = = 1\n")
            cfg.write_text(config(db_url, sim.port, two[:1]))
            daemon.request_reload()
            await asyncio.sleep(1.0)
            assert members() == {"agent-1", "agent-2"}
            assert [a.name for a in daemon.config.agents] == ["agent-1", "agent-2"]

            # Asterisk away while agent-3 is added: its log-in fails, and is made once the
            # link is back (the engine re-adds only the logins it made itself).
            (tmp_path / "campaigns" / "alpha.toml").write_text(good)
            cfg.write_text(config(db_url, sim.port, [*two, ("agent-3", "alpha")]))
            sim.set_dead(True)
            await sim.drop_connections()
            daemon.request_reload()
            await asyncio.sleep(1.0)
            assert "agent-3" not in members()
            sim.set_dead(False)
            await until(lambda: "agent-3" in members(), within=60)
            daemon.request_stop()
            await task
    finally:
        await sim.stop()


async def test_an_agent_of_every_campaign_joins_one_created_through_the_api(
    tmp_path: Path,
) -> None:
    """``POST /api/v1/campaigns`` stores the campaign and reloads the engine (no SIGHUP): an
    agent whose [[agents]] entry names neither campaigns nor skills takes it at once."""
    clock = ScaledClock(10.0, start=datetime.now(UTC))
    db_url = await prepare(tmp_path, "alpha", clock.now(), contacts=0)
    sim = SimAsterisk(port=0, clock=clock)
    await sim.start()
    cfg = tmp_path / "dialerd.toml"
    every = '[[agents]]\nname = "agent-9"\ninterface = "Local/agent-9@sim-agents"\n'
    cfg.write_text(config(db_url, sim.port, [], extra=every))
    daemon = Daemon(load_config(cfg), clock=clock, notifier=Notifier(None), watchdog=0)
    try:
        async with asyncio.TaskGroup() as tg:
            task = tg.create_task(daemon.run())
            await until(daemon.ready.is_set)
            engine = daemon.engine
            assert engine is not None
            store = daemon.store
            assert store is not None
            await store.create_campaign(load_campaign_spec_text(tmp_path, "beta"), clock.now())
            await engine.reload()  # as the API's create-campaign route does
            await until(lambda: {c.name for c in engine.status().campaigns} == {"alpha", "beta"})
            await until(
                lambda: (
                    next(c for c in engine.status().campaigns if c.name == "beta").agents_by_state[
                        "ready"
                    ]
                    == 1
                )
            )
            (agent,) = engine.status().agents
            assert set(agent.campaigns) == {"alpha", "beta"}
            daemon.request_stop()
            await task
    finally:
        await sim.stop()


def load_campaign_spec_text(tmp: Path, name: str) -> CampaignSpec:
    path = tmp / f"{name}.toml"  # not in campaigns/: a campaign the API created
    path.write_text(campaign(name))
    return load_campaign_spec(path)


async def test_a_campaign_stopped_through_the_api_stays_stopped_across_a_reload_and_a_restart(
    tmp_path: Path,
) -> None:
    """The audit's case: stop a campaign that a file defines (``PUT .../status``), then
    ``systemctl reload`` and a restart. And a file the store refuses at that reload (its queue
    belongs to a campaign created through the API) is skipped: the agent added at the same time
    is still logged in, and the restart still starts."""
    clock = ScaledClock(10.0, start=datetime.now(UTC))
    db_url = await prepare(tmp_path, "alpha", clock.now(), contacts=0)
    sim = SimAsterisk(port=0, clock=clock)
    await sim.start()
    cfg = tmp_path / "dialerd.toml"
    cfg.write_text(config(db_url, sim.port, [("agent-1", "alpha")]))

    def members() -> set[str]:
        return {m.interface.split("@")[0].removeprefix("Local/") for m in sim.queue_members()}

    async def alpha_status(daemon: Daemon) -> str:
        assert daemon.store is not None
        return (await daemon.store.get_campaign("alpha")).status.value

    try:
        daemon = Daemon(load_config(cfg), clock=clock, notifier=Notifier(None), watchdog=0)
        async with asyncio.TaskGroup() as tg:
            task = tg.create_task(daemon.run())
            await until(daemon.ready.is_set)
            engine = daemon.engine
            store = daemon.store
            assert engine is not None and store is not None
            alpha = await store.get_campaign("alpha")
            await store.set_campaign_status(alpha.id, CampaignStatus.DISABLED, clock.now())
            await engine.reload()  # as the API's status route does
            api_made = load_campaign_spec_text(tmp_path, "gamma").model_copy(
                update={"queue": "dialerd-beta"}
            )
            await store.create_campaign(api_made, clock.now())

            (tmp_path / "campaigns" / "beta.toml").write_text(campaign("beta"))
            cfg.write_text(config(db_url, sim.port, [("agent-1", "alpha"), ("agent-3", "alpha")]))
            os.kill(os.getpid(), signal.SIGHUP)
            await until(lambda: "agent-3" in members())
            assert await alpha_status(daemon) == "disabled"
            assert "beta" not in {c.name for c in await store.list_campaigns()}
            state = next(c for c in engine.status().campaigns if c.name == "alpha")
            assert not state.active
            daemon.request_stop()
            await task

        daemon = Daemon(load_config(cfg), clock=clock, notifier=Notifier(None), watchdog=0)
        async with asyncio.TaskGroup() as tg:
            task = tg.create_task(daemon.run())
            await until(daemon.ready.is_set)
            assert await alpha_status(daemon) == "disabled"
            daemon.request_stop()
            await task
    finally:
        await sim.stop()


async def test_an_agent_removed_by_a_reload_is_logged_out_with_a_line_saying_so(
    tmp_path: Path,
) -> None:
    """The agent left the queues and showed as offline, and the log said nothing about it."""
    clock = ScaledClock(10.0, start=datetime.now(UTC))
    db_url = await prepare(tmp_path, "alpha", clock.now(), contacts=5)
    sim = SimAsterisk(port=0, clock=clock)
    await sim.start()
    cfg = tmp_path / "dialerd.toml"
    cfg.write_text(config(db_url, sim.port, [("agent-1", "alpha"), ("agent-2", "alpha")]))
    daemon = Daemon(load_config(cfg), clock=clock, notifier=Notifier(None), watchdog=0)
    try:
        with structlog.testing.capture_logs() as logs:
            async with asyncio.TaskGroup() as tg:
                task = tg.create_task(daemon.run())
                await until(daemon.ready.is_set)
                cfg.write_text(config(db_url, sim.port, [("agent-1", "alpha")]))
                daemon.request_reload()
                await until(lambda: any(e["event"] == "reloaded" for e in logs))
                await until(
                    lambda: all(
                        m.interface != "Local/agent-2@sim-agents" for m in sim.queue_members()
                    )
                )
                daemon.request_stop()
                await task
    finally:
        await sim.stop()
    out = [e for e in logs if e["event"] == "agent logged out: removed from the configuration"]
    assert [e["agent"] for e in out] == ["agent-2"]
