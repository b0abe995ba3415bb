"""Store fixtures for component tests, on both back ends.

``store_url`` yields the URL of a fresh, migrated database: a SQLite file in ``tmp_path``, or
on PostgreSQL a uniquely named database of this test session (created and migrated once, emptied
with TRUNCATE before each test, dropped at the end, because other test runs share the server;
creating and dropping a database per test costs seconds). ``store`` yields an open
:class:`dialerd.store.Store` on it. Both are parametrised over ``sqlite`` and ``postgres``;
PostgreSQL skips with the reason when ``DIALERD_TEST_POSTGRES_URL`` is unset. ``empty_db_url``
is a database with no schema at all (a new one per test, for migration tests).
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from tcp_proxy import TcpProxy, own_pg_database

from dialerd.store import Store, upgrade
from dialerd.store.models import Base

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def _pg_base_url() -> str:
    url = os.environ.get("DIALERD_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("DIALERD_TEST_POSTGRES_URL is not set (no PostgreSQL to test against)")
    return url


async def _pg_admin(base: str, sql: str) -> None:
    engine = create_async_engine(
        make_url(base).set(drivername="postgresql+asyncpg"), isolation_level="AUTOCOMMIT"
    )
    try:
        async with engine.connect() as conn:
            await conn.exec_driver_sql(sql)
    finally:
        await engine.dispose()


async def new_database(backend: str, tmp_path: Path) -> AsyncIterator[str]:
    """A fresh, empty database URL; dropped again at the end (PostgreSQL)."""
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'dialerd.sqlite'}"
        return
    base = _pg_base_url()
    name = f"dialerd_t_{uuid.uuid4().hex[:16]}"
    await _pg_admin(base, f'CREATE DATABASE "{name}"')
    try:
        yield (
            make_url(base)
            .set(database=name, drivername="postgresql+asyncpg")
            .render_as_string(hide_password=False)
        )
    finally:
        await _pg_admin(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def empty_db_url(backend: str, tmp_path: Path) -> AsyncIterator[str]:
    """A fresh database with no schema (for migration tests)."""
    async for url in new_database(backend, tmp_path):
        yield url


@pytest.fixture
async def proxied_url() -> AsyncIterator[tuple[str, TcpProxy]]:
    """An own PostgreSQL database (migrated) reached through a TCP proxy the test can cut or
    freeze: (the URL through the proxy, the proxy)."""
    async with own_pg_database() as url:
        u = make_url(url)
        proxy = TcpProxy(u.host or "127.0.0.1", u.port or 5432)
        await proxy.start()
        try:
            yield proxy.url(url), proxy
        finally:
            await proxy.close()


@pytest.fixture
async def fresh_pg_store(empty_db_url: str) -> AsyncIterator[Store]:
    """A new database, migrated: no planner statistics or rows left over from other tests
    (the query-plan tests of the lease, imports and reports)."""
    await upgrade(empty_db_url)
    store = await Store.open(empty_db_url)
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture(scope="session")
def _pg_session_db() -> Iterator[str]:
    """One migrated PostgreSQL database for this test session (sync: no loop is running)."""
    base = _pg_base_url()
    name = f"dialerd_s_{uuid.uuid4().hex[:16]}"
    url = make_url(base).set(database=name, drivername="postgresql+asyncpg")
    text = url.render_as_string(hide_password=False)
    asyncio.run(_pg_admin(base, f'CREATE DATABASE "{name}"'))
    try:
        asyncio.run(upgrade(text))
        yield text
    finally:
        asyncio.run(_pg_admin(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _truncate(url: str) -> None:
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.exec_driver_sql(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
    finally:
        await engine.dispose()


@pytest.fixture
def _session_pg_url(backend: str, request: pytest.FixtureRequest) -> str | None:
    # Sync on purpose: the session database is set up with asyncio.run, outside any loop.
    if backend != "postgres":
        return None
    return str(request.getfixturevalue("_pg_session_db"))


@pytest.fixture
async def store_url(_session_pg_url: str | None, tmp_path: Path) -> str:
    """A fresh (empty) database migrated to head."""
    if _session_pg_url is None:
        url = f"sqlite+aiosqlite:///{tmp_path / 'dialerd.sqlite'}"
        await upgrade(url)
        return url
    await _truncate(_session_pg_url)
    return _session_pg_url


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    """An open Store on a fresh migrated database (sqlite and postgres)."""
    s = await Store.open(store_url)
    try:
        yield s
    finally:
        await s.close()
