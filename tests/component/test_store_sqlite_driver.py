"""The one-hand-off SQLite driver behaves as aiosqlite does for everything the store relies on."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from dialerd.store.engine import make_engine
from dialerd.store.sqlite_driver import PREFETCH

ROWS = PREFETCH * 3 + 7


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    e = make_engine(f"sqlite:///{tmp_path / 'driver.db'}")
    async with e.begin() as conn:
        await conn.exec_driver_sql("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
        await conn.execute(
            text("INSERT INTO t (v) VALUES (:v)"), [{"v": f"v{i}"} for i in range(ROWS)]
        )
    yield e
    await e.dispose()


async def test_results_larger_than_the_prefetch_arrive_whole(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        rows = (await conn.execute(text("SELECT id FROM t ORDER BY id"))).all()
    assert [r[0] for r in rows] == list(range(1, ROWS + 1))


async def test_rowcount_and_returning_after_the_statement(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        updated = await conn.execute(text("UPDATE t SET v = 'x' WHERE id <= 10"))
        assert updated.rowcount == 10
        new_id = (await conn.execute(text("INSERT INTO t (v) VALUES ('y') RETURNING id"))).scalar()
        assert new_id == ROWS + 1
        none = (await conn.execute(text("SELECT id FROM t WHERE v = 'nobody'"))).first()
        assert none is None


async def test_a_stream_reads_on_across_the_prefetch_and_closes_early(
    engine: AsyncEngine,
) -> None:
    async with engine.connect() as reader:
        result = await reader.stream(text("SELECT id FROM t ORDER BY id"))
        first = await result.fetchmany(PREFETCH + 3)
        second = await result.fetchmany(PREFETCH + 3)
        assert [r[0] for r in first + second] == list(range(1, 2 * PREFETCH + 7))
        await result.close()  # rows left: the statement is closed on the worker thread
        assert (await reader.execute(text("SELECT count(*) FROM t"))).scalar() == ROWS
    async with engine.begin() as writer:
        await writer.execute(text("DELETE FROM t"))
    async with engine.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar() == 0


async def test_errors_are_the_dbapi_errors(engine: AsyncEngine) -> None:
    from sqlalchemy.exc import IntegrityError

    with pytest.raises(IntegrityError):
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO t (id, v) VALUES (1, 'dup')"))
