"""What /metrics tells an operator of a running daemon, against what really happened.

The daemon runs in this process against the simulated Asterisk; the metrics are read from its
registry (after the status loop's refresh where a series is polled), as a scrape would see
them, and compared with the attempts in the store.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
import structlog
from daemon_component_support import campaign, config, daytime_zone, prepare, until
from tcp_proxy import TcpProxy

from dialerd.config import load_config
from dialerd.daemon.app import Daemon
from dialerd.daemon.sdnotify import Notifier
from dialerd.domain.campaign_spec import load_campaign_spec
from dialerd.domain.changes import NewContact
from dialerd.domain.clock import ScaledClock
from dialerd.sim import SimAsterisk
from dialerd.store import Store

AGENTS = [("agent-1", "alpha"), ("agent-2", "alpha"), ("agent-3", "alpha")]


async def test_call_counters_tell_what_the_store_holds_across_a_reload(tmp_path: Path) -> None:
    clock = ScaledClock(20.0, start=datetime.now(UTC))
    db_url = await prepare(tmp_path, "alpha", clock.now(), contacts=40)
    sim = SimAsterisk(port=0, clock=clock)
    await sim.start()
    cfg = tmp_path / "dialerd.toml"
    cfg.write_text(config(db_url, sim.port, AGENTS))
    daemon = Daemon(load_config(cfg), clock=clock, notifier=Notifier(None), watchdog=0)
    registry = daemon.metrics.registry

    def sample(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, {"campaign": "alpha", **labels})

    try:
        with structlog.testing.capture_logs() as logs:
            await _run_through_a_reload(daemon, sample)
    finally:
        await sim.stop()

    store = await Store.open(db_url)
    try:
        (camp,) = await store.list_campaigns()
        attempts = await store.recent_attempts(camp.id, limit=1000)
    finally:
        await store.close()
    results = Counter(a.result.value for a in attempts if a.result is not None)
    assert len(attempts) >= 10
    assert sample("dialerd_calls_placed_total") == len(attempts)
    for result, n in results.items():
        assert sample("dialerd_call_results_total", result=result) == n, result
    live = results["connected"] + results["abandoned"]
    assert sample("dialerd_calls_answered_total") == live
    assert sample("dialerd_calls_abandoned_total") == results["abandoned"]

    # one line per call, naming what an operator needs to find it: before, there was none
    lines = {e["attempt"]: e for e in logs if e["event"] == "call finished"}
    assert set(lines) == {a.id for a in attempts}
    for a in attempts:
        line = lines[a.id]
        assert (line["campaign"], line["contact"], line["result"]) == (
            "alpha",
            a.contact_id,
            a.result.value if a.result else None,
        )
    cut = [a for a in attempts if a.cause == "the daemon stopped before the call was over"]
    drained = [e for e in logs if e["event"] == "drain bound passed: calls in progress closed"]
    assert sum(e["calls"] for e in drained) == len(cut)
    assert all(e["log_level"] == "warning" for e in drained)


async def _run_through_a_reload(daemon: Daemon, sample: Callable[..., float | None]) -> None:
    async with asyncio.TaskGroup() as tg:
        task = tg.create_task(daemon.run())
        await until(daemon.ready.is_set)
        await until(lambda: sample("dialerd_pacing_decision_calls") is not None)
        # present from the runner's start: rate() and alerts have data before the first
        # abandon, and the dashboard's target line is drawn
        assert sample("dialerd_calls_abandoned_total") is not None
        assert sample("dialerd_calls_answered_total") is not None
        assert sample("dialerd_abandonment_target") == 0.03
        assert sample("dialerd_pacing_mode", mode="progressive") == 1
        await daemon._refresh_metrics()
        assert daemon.metrics.registry.get_sample_value("dialerd_store_up") == 1
        assert sample("dialerd_pacing_stalled") == 0

        await until(lambda: daemon.listener.totals.finished >= 4, within=60)
        placed = sample("dialerd_calls_placed_total") or 0.0
        daemon.request_reload()  # SIGHUP: the counters go on, neither reset nor doubled
        await until(lambda: daemon.listener.totals.finished >= 10, within=60)
        assert (sample("dialerd_calls_placed_total") or 0.0) >= placed
        daemon.request_stop()
        await task


@pytest.mark.postgres
async def test_a_database_outage_shows_as_store_down_and_stalled_pacing(
    tmp_path: Path, proxied_url: tuple[str, TcpProxy]
) -> None:
    """/healthz said so, the metrics did not: an alert had nothing to fire on. And the status
    loop's contact counts failed every 5 s, a warning each time, through the outage."""
    url, proxy = proxied_url
    clock = ScaledClock(10.0, start=datetime.now(UTC))
    (tmp_path / "campaigns").mkdir()
    path = tmp_path / "campaigns" / "alpha.toml"
    path.write_text(campaign("alpha"))
    store = await Store.open(url)
    try:
        camp = await store.create_campaign(load_campaign_spec(path), clock.now())
        zone = daytime_zone(clock.now())
        contacts = [NewContact(phone=f"+4930555{i:04d}", timezone=zone) for i in range(5)]
        await store.add_contacts(camp.id, contacts, clock.now())
    finally:
        await store.close()
    sim = SimAsterisk(port=0, clock=clock)
    await sim.start()
    cfg = tmp_path / "dialerd.toml"
    text = config(url, sim.port, AGENTS[:1])
    text = text.replace("[engine]\n", "[engine]\nstall_limit = 2\n", 1)
    text = text.replace(f'url = "{url}"\n', f'url = "{url}"\nconnect_timeout = 1\n', 1)
    cfg.write_text(text)
    daemon = Daemon(load_config(cfg), clock=clock, notifier=Notifier(None), watchdog=0)
    registry = daemon.metrics.registry

    def sample(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, labels)

    try:
        with structlog.testing.capture_logs() as logs:
            async with asyncio.TaskGroup() as tg:
                task = tg.create_task(daemon.run())
                await until(daemon.ready.is_set)
                await daemon._refresh_metrics()
                assert sample("dialerd_store_up") == 1

                await proxy.down()
                for _ in range(3):
                    await daemon._refresh_metrics()
                assert sample("dialerd_store_up") == 0
                await asyncio.sleep(3.0)  # past the stall limit (real seconds)
                await daemon._refresh_metrics()
                assert sample("dialerd_pacing_stalled", campaign="alpha") == 1

                await proxy.up()

                async def store_back() -> bool:
                    await daemon._refresh_metrics()
                    return sample("dialerd_store_up") == 1

                for _ in range(100):
                    if await store_back():
                        break
                    await asyncio.sleep(0.1)
                assert sample("dialerd_store_up") == 1
                engine = daemon.engine
                assert engine is not None
                await until(lambda: not engine.stalled(daemon._stall_limit()))
                await daemon._refresh_metrics()
                assert sample("dialerd_pacing_stalled", campaign="alpha") == 0
                daemon.request_stop()
                await task
    finally:
        await sim.stop()
    refresh_failed = [e for e in logs if e["event"] == "status refresh failed"]
    assert refresh_failed == []
