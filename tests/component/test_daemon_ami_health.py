"""What an operator sees of an AMI link in trouble: metrics that count it, /healthz saying why.

The daemon runs in this process against the simulated Asterisk; the metrics are read from its
registry after the status loop's refresh, as a scrape would see them.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from daemon_component_support import config, prepare, until

from dialerd.api.health import HealthChecks, run_checks
from dialerd.config import load_config
from dialerd.daemon.app import Daemon
from dialerd.daemon.health import link_errors, link_states
from dialerd.daemon.sdnotify import Notifier
from dialerd.domain.clock import ScaledClock
from dialerd.sim import SimAsterisk


async def test_protocol_errors_and_a_lost_link_are_counted_and_explained(tmp_path: Path) -> None:
    clock = ScaledClock(10.0, start=datetime.now(UTC))
    db_url = await prepare(tmp_path, "alpha", clock.now(), contacts=5)
    sim = SimAsterisk(port=0, clock=clock)
    await sim.start()
    port = sim.port
    cfg = tmp_path / "dialerd.toml"
    cfg.write_text(config(db_url, port, [("agent-1", "alpha")]))
    daemon = Daemon(load_config(cfg), clock=clock, notifier=Notifier(None), watchdog=0)
    registry = daemon.metrics.registry

    def sample(name: str, **labels: str) -> float:
        return registry.get_sample_value(name, {"server": "sim", **labels}) or 0.0

    try:
        async with asyncio.TaskGroup() as tg:
            task = tg.create_task(daemon.run())
            await until(daemon.ready.is_set)
            await daemon._refresh_metrics()
            # Before anything went wrong the series exist at 0 (a dashboard shows 0, not no data).
            assert registry.get_sample_value("dialerd_ami_reconnects_total", {"server": "sim"}) == 0
            protocol_errors = {"server": "sim"}
            assert (
                registry.get_sample_value("dialerd_ami_protocol_errors_total", protocol_errors) == 0
            )

            # (at 10x on a loaded machine the link may just have been dropped as a dead peer
            # and be reconnecting: the garbage is then sent again on the new connection)
            for _ in range(10):
                await until(lambda: link_states(daemon.servers)["sim"] == "ready")
                await sim.inject_garbage(b"this is not an AMI header\r\n\r\n")
                await asyncio.sleep(0.3)
                await daemon._refresh_metrics()
                if sample("dialerd_ami_protocol_errors_total") >= 1:
                    break
            assert sample("dialerd_ami_protocol_errors_total") >= 1

            await sim.stop()  # Asterisk gone: the port refuses connections
            await until(lambda: link_states(daemon.servers)["sim"] != "ready")
            await until(lambda: "failed" in link_errors(daemon.servers).get("sim", ""), within=30)
            await daemon._refresh_metrics()
            assert sample("dialerd_ami_link_failures_total", reason="connect_failed") >= 1
            engine = daemon.engine
            assert engine is not None

            def reason() -> str:
                decision = engine.status().campaigns[0].last_decision
                return decision.reason if decision is not None else ""

            # the pacing decision names the cause, not "no server with agents"
            await until(lambda: reason() == "AMI link not ready: sim")
            ok, report = await run_checks(
                HealthChecks(
                    links=lambda: link_states(daemon.servers),
                    link_errors=lambda: link_errors(daemon.servers),
                )
            )
            assert not ok
            assert f"connect to 127.0.0.1:{port} failed" in report["links"]["errors"]["sim"]
            daemon.request_stop()
            await task
    finally:
        await sim.stop()


async def test_a_task_that_keeps_failing_shows_as_a_gauge(tmp_path: Path) -> None:
    """An export whose folder cannot be written keeps its contacts open and tries again each
    tick; an operator sees it as dialerd_task_failing{campaign,task} = 1, not only in the log."""
    from dialerd.domain.campaign_spec import load_campaign_spec
    from dialerd.domain.selection import ContactSelection
    from dialerd.store import Store

    clock = ScaledClock(10.0, start=datetime.now(UTC))
    db_url = await prepare(tmp_path, "alpha", clock.now(), contacts=3)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    path = tmp_path / "campaigns" / "alpha.toml"
    path.write_text(
        path.read_text() + f'[[tasks]]\nname = "out"\ntype = "export"\n'
        f'settings = {{ folder = "{blocker / "sub"}", format = "csv" }}\n'
    )
    store = await Store.open(db_url)
    try:
        camp = await store.update_campaign(load_campaign_spec(path), clock.now())
        await store.move(camp.id, ContactSelection(), "out", "test", clock.now())
    finally:
        await store.close()
    sim = SimAsterisk(port=0, clock=clock)
    await sim.start()
    cfg = tmp_path / "dialerd.toml"
    cfg.write_text(config(db_url, sim.port, [("agent-1", "alpha")]))
    daemon = Daemon(load_config(cfg), clock=clock, notifier=Notifier(None), watchdog=0)
    registry = daemon.metrics.registry

    def failing() -> float:
        labels = {"campaign": "alpha", "task": "out"}
        return registry.get_sample_value("dialerd_task_failing", labels) or 0.0

    try:
        async with asyncio.TaskGroup() as tg:
            task = tg.create_task(daemon.run())
            await until(daemon.ready.is_set)
            for _ in range(100):
                await daemon._refresh_metrics()
                if failing() == 1:
                    break
                await asyncio.sleep(0.1)
            assert failing() == 1
            daemon.request_stop()
            await task
    finally:
        await sim.stop()
