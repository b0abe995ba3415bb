"""Store fixtures for component tests, on both back ends.

``store_url`` yields the URL of a fresh, migrated database: a SQLite file in ``tmp_path``, or a
uniquely named PostgreSQL database (created here, dropped afterwards, because other test runs
share the server). ``store`` yields an open :class:`dialerd.store.Store` on it. Both are
parametrised over ``sqlite`` and ``postgres``; PostgreSQL skips with the reason when
``DIALERD_TEST_POSTGRES_URL`` is unset. Use ``new_database_url(backend, tmp_path)`` for a
database that is NOT migrated yet.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from dialerd.store import Store, upgrade

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
async def store_url(empty_db_url: str) -> str:
    """A fresh database migrated to head."""
    await upgrade(empty_db_url)
    return empty_db_url


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    """An open Store on a fresh migrated database (sqlite and postgres)."""
    s = await Store.open(store_url)
    try:
        yield s
    finally:
        await s.close()
