"""One live daemon per lease holder and database (the audit's P4: two daemons on one host and
one database shared ``dialerd@<host>``, and the second closed the first one's live calls as
lost). On SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import make_url
from tcp_proxy import TcpProxy, lock_pids, own_pg_database, pg_admin

from dialerd.store import InstanceTaken, Store


async def test_a_second_daemon_with_the_same_holder_is_refused(store_url: str) -> None:
    first = await Store.open(store_url)
    second = await Store.open(store_url)
    try:
        lock = await first.lock_instance("dialerd@host")
        with pytest.raises(InstanceTaken, match="another dialerd runs as 'dialerd@host'"):
            await second.lock_instance("dialerd@host")
        await lock.release()  # the first one stopped: the next one may start
        again = await second.lock_instance("dialerd@host")
        await again.release()
    finally:
        await first.close()
        await second.close()


@pytest.mark.postgres
async def test_daemons_with_their_own_instance_names_run_side_by_side(
    store_url: str, backend: str
) -> None:
    if backend != "postgres":
        pytest.skip("SQLite serves one daemon, whatever its holder")
    a, b = await Store.open(store_url), await Store.open(store_url)
    try:
        lock_a = await a.lock_instance("dialerd@host/a")
        lock_b = await b.lock_instance("dialerd@host/b")
        with pytest.raises(InstanceTaken):
            await b.lock_instance("dialerd@host/a")
        await lock_a.release()
        await lock_b.release()
    finally:
        await a.close()
        await b.close()


# --------------------------------------------------------------------------- a lost lock


@pytest.mark.postgres
async def test_a_lock_whose_session_ended_is_noticed_and_taken_again() -> None:
    """The lock lives in one database session: an administrator (or a restart, a cut
    connection) ends it, and the lock is free although the daemon runs on."""
    async with own_pg_database() as url:
        store = await Store.open(url)
        try:
            lock = await store.lock_instance("dialerd@host")
            assert await store.instance_held(lock)
            (pid,) = await lock_pids(url, "dialerd@host")
            await pg_admin(f"SELECT pg_terminate_backend({pid})")
            assert not await store.instance_held(lock)
            assert await lock_pids(url, "dialerd@host") == []

            await store.retake_instance(lock)
            assert await store.instance_held(lock)
            (again,) = await lock_pids(url, "dialerd@host")
            assert again != pid
            with pytest.raises(InstanceTaken):  # a second daemon is refused again
                await store.lock_instance("dialerd@host")
            await lock.release()
        finally:
            await store.close()


@pytest.mark.postgres
async def test_a_lock_another_daemon_took_meanwhile_is_refused() -> None:
    async with own_pg_database() as url:
        first, second = await Store.open(url), await Store.open(url)
        try:
            lock = await first.lock_instance("dialerd@host")
            (pid,) = await lock_pids(url, "dialerd@host")
            await pg_admin(f"SELECT pg_terminate_backend({pid})")
            assert not await first.instance_held(lock)
            other = await second.lock_instance("dialerd@host")  # in the gap
            with pytest.raises(InstanceTaken, match="another dialerd runs as 'dialerd@host'"):
                await first.retake_instance(lock)
            assert await second.instance_held(other)  # the other daemon's lock is left alone
            await other.release()
        finally:
            await first.close()
            await second.close()


@pytest.mark.postgres
async def test_a_lock_on_a_connection_gone_silent_is_taken_again() -> None:
    """A firewall dropped the lock connection's packets: the daemon cannot reach its session,
    the server still keeps it (and the lock). The daemon ends that session of its own and
    takes the lock again; it is not refused by itself."""
    async with own_pg_database() as url:
        u = make_url(url)
        proxy = TcpProxy(u.host or "127.0.0.1", u.port or 5432)
        await proxy.start()
        store = await Store.open(proxy.url(url), command_timeout=2.0)
        try:
            lock = await store.lock_instance("dialerd@host")
            (pid,) = await lock_pids(url, "dialerd@host")
            proxy.freeze()  # the open connections hear nothing more; new ones work
            assert not await store.instance_held(lock, within=1.0)
            await store.retake_instance(lock)
            assert await store.instance_held(lock, within=1.0)
            (again,) = await lock_pids(url, "dialerd@host")
            assert again != pid
            await lock.release()
        finally:
            await proxy.up()
            await store.close()
            await proxy.close()
