"""The daemon keeps its instance lock through a database outage (real PostgreSQL).

What the audit saw: the lock (a session advisory lock on one kept connection) was taken once at
start. A database outage, a restarted server or an administrator ending that session freed it
while the daemon ran on, and a second daemon under the same lease holder could then start and
close this one's live calls as lost. Expected: the daemon notices, places no new call while the
lock is lost, takes it again when the database is back, and if another daemon took it
meanwhile it drains and exits 69, as a clash at start does.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from daemon_component_support import campaign, config, daytime_zone, until
from sqlalchemy.engine import make_url
from tcp_proxy import TcpProxy, lock_pids, own_pg_database, pg_admin

from dialerd.config import load_config
from dialerd.daemon.app import EX_UNAVAILABLE, LOCK_HOLD_REASON, Daemon, DaemonError
from dialerd.daemon.sdnotify import Notifier
from dialerd.domain.campaign_spec import load_campaign_spec
from dialerd.domain.changes import NewContact
from dialerd.domain.clock import ScaledClock
from dialerd.sim import SimAsterisk
from dialerd.store import InstanceTaken, Store

pytestmark = pytest.mark.postgres


class Running:
    def __init__(self, daemon: Daemon, task: asyncio.Task[None], url: str) -> None:
        self.daemon = daemon
        self.task = task
        self.url = url

    @property
    def holder(self) -> str:
        assert self.daemon.engine is not None
        return self.daemon.engine.settings.holder

    async def end(self) -> None:
        """Bounded: a daemon a failed test left running must not hang the suite."""
        if not self.task.done():
            self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await asyncio.wait_for(self.task, 30)


@pytest.fixture
async def proxy_and_url() -> AsyncIterator[tuple[TcpProxy, str]]:
    async with own_pg_database() as url:
        u = make_url(url)
        proxy = TcpProxy(u.host or "127.0.0.1", u.port or 5432)
        await proxy.start()
        try:
            yield proxy, url
        finally:
            await proxy.close()


async def start(tmp: Path, url: str, daemon_url: str) -> tuple[Running, SimAsterisk]:
    clock = ScaledClock(10.0, start=datetime.now(UTC))
    (tmp / "campaigns").mkdir(exist_ok=True)
    path = tmp / "campaigns" / "alpha.toml"
    path.write_text(campaign("alpha"))
    store = await Store.open(url)
    try:
        c = await store.create_campaign(load_campaign_spec(path), clock.now())
        zone = daytime_zone(clock.now())
        phones = [f"+4930555{i:04d}" for i in range(200)]
        await store.add_contacts(
            c.id, [NewContact(phone=p, timezone=zone) for p in phones], clock.now()
        )
    finally:
        await store.close()
    sim = SimAsterisk(port=0, clock=clock)
    await sim.start()
    cfg = tmp / "dialerd.toml"
    text_ = config(daemon_url, sim.port, [("agent-1", "alpha")])
    cfg.write_text(
        text_.replace(f'url = "{daemon_url}"', f'url = "{daemon_url}"\ncommand_timeout = 3')
    )
    daemon = Daemon(load_config(cfg), clock=clock, notifier=Notifier(None), watchdog=0)
    task = asyncio.create_task(daemon.run())
    await until(lambda: daemon.ready.is_set() or task.done())
    assert not task.done(), "the daemon did not start"
    return Running(daemon, task, url), sim


async def taken_again(url: str, holder: str, before: set[int], within: float) -> int:
    """The server process holding the lock once it is held again by a new session."""
    async with asyncio.timeout(within):
        while True:
            pids = await lock_pids(url, holder)
            if pids and pids[0] not in before:
                return pids[0]
            await asyncio.sleep(0.2)


async def test_a_lock_lost_in_an_outage_is_taken_again_and_holds_dialing_meanwhile(
    tmp_path: Path, proxy_and_url: tuple[TcpProxy, str]
) -> None:
    proxy, url = proxy_and_url
    running, sim = await start(tmp_path, url, proxy.url(url))
    daemon = running.daemon
    engine = daemon.engine
    assert engine is not None

    def held() -> float | None:
        return daemon.metrics.registry.get_sample_value("dialerd_instance_lock_held")

    try:
        assert held() == 1
        (first,) = await lock_pids(url, running.holder)
        # an administrator (or a server restart) ends the lock's session: the lock is free
        await pg_admin(f"SELECT pg_terminate_backend({first})")
        again = await taken_again(url, running.holder, {first}, within=15)
        other = await Store.open(url)  # a second daemon with the same holder: refused again
        try:
            with pytest.raises(InstanceTaken):
                await other.lock_instance(running.holder)
        finally:
            await other.close()

        await proxy.down()  # the database goes away: the lock's session with it
        await until(lambda: engine.dialing_hold == LOCK_HOLD_REASON, within=15)
        assert held() == 0  # what the DialerdInstanceLockLost alert reads
        assert await lock_pids(url, running.holder) == []
        await asyncio.sleep(1.0)
        await proxy.up()
        await until(lambda: engine.dialing_hold is None, within=15)
        assert held() == 1
        await taken_again(url, running.holder, {first, again}, within=5)
        assert not running.task.done()
        daemon.request_stop()
        await asyncio.wait_for(running.task, 30)
    finally:
        await running.end()
        await proxy.up()
        await sim.stop()


async def test_a_lock_another_daemon_took_meanwhile_stops_this_one_with_69(
    tmp_path: Path, proxy_and_url: tuple[TcpProxy, str]
) -> None:
    proxy, url = proxy_and_url
    running, sim = await start(tmp_path, url, url)
    daemon = running.daemon
    engine = daemon.engine
    assert engine is not None
    other = await Store.open(url)
    try:
        (pid,) = await lock_pids(url, running.holder)
        await pg_admin(f"SELECT pg_terminate_backend({pid})")
        # a second daemon with the same holder starts in the gap and takes the lock
        taken = await other.lock_instance(running.holder)
        with pytest.raises(DaemonError) as failed:
            await asyncio.wait_for(running.task, 40)
        assert failed.value.exit_code == EX_UNAVAILABLE
        assert "another dialerd runs as" in str(failed.value)
        assert "drained" in str(failed.value)
        assert engine.dialing_hold == LOCK_HOLD_REASON  # no new call since it was noticed
        assert not engine.running  # drained and stopped, not cancelled mid-call
        assert await other.instance_held(taken)  # the other daemon keeps its lock
        await taken.release()
    finally:
        await running.end()
        await other.close()
        await sim.stop()
