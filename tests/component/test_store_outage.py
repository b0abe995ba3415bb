"""A database that goes away: every failure to reach it is the store's ``StoreUnavailable``
(which the engine treats as transient) and shows in ``Store.writes`` (``/healthz``); a
statement the database refuses stays what it is.

PostgreSQL only: a refused connect (through a proxy taken down), connections terminated by an
administrator, a database that accepts no connections. Each test has its own database.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, IntegrityError, ProgrammingError
from tcp_proxy import TcpProxy, own_pg_database, pg_admin

from dialerd.domain.enums import AgentState
from dialerd.domain.model import Agent
from dialerd.store import Store, StoreUnavailable
from dialerd.store.engine import connection_lost, make_engine

NOW = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    async with own_pg_database() as url:
        yield url


async def _agent_store(url: str) -> Store:
    store = await Store.open(url)
    await store.upsert_agent(Agent(name="a0", interface="Local/a0@x"), NOW)
    return store


@pytest.mark.postgres
async def test_a_refused_connection_is_store_unavailable_and_fails_the_writes(
    pg_url: str,
) -> None:
    u = make_url(pg_url)
    proxy = TcpProxy(u.host or "127.0.0.1", u.port or 5432)
    await proxy.start()
    store = await _agent_store(proxy.url(pg_url))
    try:
        await store.set_agent_state("a0", AgentState.READY, NOW)
        assert store.writes.failing is None
        await proxy.down()  # open connections reset, new ones refused
        for _ in range(2):
            with pytest.raises(StoreUnavailable, match="unavailable"):
                await store.set_agent_state("a0", AgentState.TALKING, NOW)
        assert store.writes.failing is not None and store.writes.failures >= 1
        await proxy.up()
        await store.set_agent_state("a0", AgentState.WRAPUP, NOW)
        assert store.writes.failing is None
        assert [a.state for a in await store.agents()] == [AgentState.WRAPUP]
    finally:
        await store.close()
        await proxy.close()


@pytest.mark.postgres
async def test_terminated_connections_and_a_closed_database_are_store_unavailable(
    pg_url: str,
) -> None:
    name = make_url(pg_url).database
    store = await _agent_store(pg_url)
    try:
        await store.set_agent_state("a0", AgentState.READY, NOW)
        await pg_admin(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        await pg_admin(
            f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'",
        )
        for _ in range(3):  # the pooled connection dies first, then new ones are refused
            with pytest.raises(StoreUnavailable):
                await store.set_agent_state("a0", AgentState.TALKING, NOW)
        with pytest.raises(StoreUnavailable):
            await store.agents()
        assert store.writes.failing is not None
        await pg_admin(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        await store.set_agent_state("a0", AgentState.PAUSED, NOW)
        assert store.writes.failing is None
    finally:
        await pg_admin(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        await store.close()


class _Orig(Exception):
    def __init__(self, message: str, sqlstate: str) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


@pytest.mark.postgres
async def test_a_connection_gone_silent_in_a_transaction_does_not_hold_its_rows(
    pg_url: str,
) -> None:
    """A connection that goes silent mid-transaction (a dropped network path: the server is
    never told) left its server session idle in that transaction, holding its row locks, so
    every write of those rows on fresh connections waited and timed out until TCP gave up,
    hours later: a campaign runner whose connection froze during a call's write failed on
    that call again and again (the engine's gone-silent test, 1 run in 3). The server now
    ends such a session after ``command_timeout``, which frees its rows."""
    u = make_url(pg_url)
    proxy = TcpProxy(u.host or "127.0.0.1", u.port or 5432)
    await proxy.start()
    store = await _agent_store(pg_url)
    await store.close()
    store = await Store.open(pg_url, command_timeout=3.0)
    silent = make_engine(proxy.url(pg_url), command_timeout=1.0)
    conn = await silent.connect()
    try:
        await conn.begin()
        await conn.execute(text("UPDATE agents SET state = state WHERE name = 'a0'"))
        proxy.freeze()  # the row stays locked by a session whose client says nothing more
        async with asyncio.timeout(10):
            await store.set_agent_state("a0", AgentState.TALKING, NOW)
        assert [a.state for a in await store.agents()] == [AgentState.TALKING]
    finally:
        await proxy.up()
        await conn.invalidate()
        await silent.dispose()
        await store.close()
        await proxy.close()


def test_only_connection_failures_count_as_lost() -> None:
    def dbapi(cls: type[DBAPIError], text: str, state: str) -> DBAPIError:
        return cls("SELECT 1", {}, _Orig(text, state))

    assert connection_lost(ConnectionRefusedError(111, "Connect call failed"))
    assert connection_lost(TimeoutError())
    assert connection_lost(dbapi(DBAPIError, "terminating connection", "57P01"))
    assert connection_lost(dbapi(DBAPIError, "connection failure", "08006"))
    assert connection_lost(dbapi(DBAPIError, "too many clients", "53300"))
    assert connection_lost(
        dbapi(DBAPIError, 'database "x" is not currently accepting connections', "55000")
    )
    assert not connection_lost(dbapi(IntegrityError, "duplicate key", "23505"))
    assert not connection_lost(dbapi(IntegrityError, "connection was closed", "08006"))
    assert not connection_lost(dbapi(ProgrammingError, "syntax error", "42601"))
    assert not connection_lost(dbapi(DBAPIError, "division by zero", "22012"))
    assert not connection_lost(ValueError("bad value"))
