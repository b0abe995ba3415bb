"""aiosqlite with one thread round trip per statement instead of three or four.

aiosqlite runs every call on the connection's worker thread, and SQLAlchemy's adapter makes
several calls per statement: create a cursor, execute, fetch the rows, close the cursor. Each is
a hand-off to the worker thread and back to the event loop (a queue put, a thread wake-up, a
``call_soon_threadsafe``). On a loaded machine each wake-up waits for a time slice, so a dial
(a do-not-call check and the attempt's insert) and a finished call (the transition) spent most
of their time, and much of the daemon's CPU, in hand-offs.

Here the cursor is created, the statement executed and the first rows fetched in one call on the
worker thread; the rows already fetched are served without a hand-off, and closing a cursor whose
statement ran to completion needs none either (sqlite3 has already reset the statement, so it
holds no lock). Everything still runs on the worker thread, in the same order: busy waits and
disk I/O never block the event loop, and transactions are unchanged.

The module is handed to SQLAlchemy's aiosqlite dialect as its DBAPI (``module=``), so URL
handling, pooling and error translation stay SQLAlchemy's.
"""

from __future__ import annotations

import sqlite3
import types
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from typing import Any, TypeVar

import aiosqlite

#: Rows fetched together with the execute; a larger result costs one more hand-off.
PREFETCH = 256

T = TypeVar("T")


def _run(
    conn: sqlite3.Connection, sql: str, parameters: Any, prefetch: int
) -> tuple[sqlite3.Cursor, list[Any], bool]:
    """On the worker thread: cursor, execute, first rows. ``done``: no rows are left."""
    cursor = conn.cursor()
    cursor.execute(sql, parameters)
    if cursor.description is None:
        return cursor, [], True
    rows = cursor.fetchmany(prefetch)
    return cursor, rows, len(rows) < prefetch


def _run_many(conn: sqlite3.Connection, sql: str, seq: Iterable[Any]) -> sqlite3.Cursor:
    cursor = conn.cursor()
    cursor.executemany(sql, seq)
    return cursor


class Cursor:
    """The subset of ``aiosqlite.Cursor`` that SQLAlchemy's adapter uses."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._cursor: sqlite3.Cursor | None = None
        self._rows: deque[Any] = deque()
        self._done = True
        self.arraysize = 1

    async def __aenter__(self) -> Cursor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def execute(self, sql: str, parameters: Any = None) -> Cursor:
        self._cursor, rows, self._done = await self._conn.call(
            _run, self._conn._conn, sql, () if parameters is None else parameters, PREFETCH
        )
        self._rows = deque(rows)
        return self

    async def executemany(self, sql: str, parameters: Iterable[Any]) -> Cursor:
        self._cursor = await self._conn.call(_run_many, self._conn._conn, sql, parameters)
        self._rows = deque()
        self._done = True
        return self

    async def _more(self, size: int | None) -> list[Any]:
        if self._done or self._cursor is None:
            return []
        c = self._cursor
        if size is None:
            rows: list[Any] = await self._conn.call(c.fetchall)
            self._done = True
            return rows
        rows = await self._conn.call(c.fetchmany, size)
        self._done = len(rows) < size
        return rows

    async def fetchone(self) -> Any:
        if not self._rows:
            self._rows.extend(await self._more(PREFETCH))
        return self._rows.popleft() if self._rows else None

    async def fetchmany(self, size: int | None = None) -> Sequence[Any]:
        want = self.arraysize if size is None else size
        if len(self._rows) < want:
            self._rows.extend(await self._more(max(want - len(self._rows), PREFETCH)))
        return [self._rows.popleft() for _ in range(min(want, len(self._rows)))]

    async def fetchall(self) -> Sequence[Any]:
        rows = list(self._rows)
        self._rows.clear()
        rows.extend(await self._more(None))
        return rows

    async def close(self) -> None:
        # The sqlite3 cursor is kept: SQLAlchemy reads rowcount and lastrowid after the close.
        c = self._cursor
        self._rows.clear()
        if c is not None and not self._done:
            # Rows left: the statement is still open (and holds its read snapshot).
            await self._conn.call(c.close)
        self._done = True

    @property
    def description(self) -> Any:
        return self._cursor.description if self._cursor is not None else None

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount if self._cursor is not None else -1

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid if self._cursor is not None else None


class Connection(aiosqlite.Connection):
    def cursor(self) -> Cursor:  # type: ignore[override]
        return Cursor(self)

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` on the connection's worker thread."""
        result: T = await self._execute(fn, *args)  # type: ignore[no-untyped-call]
        return result


def connect(database: Any, *, iter_chunk_size: int = 64, **kwargs: Any) -> Connection:
    """``aiosqlite.connect`` returning :class:`Connection`."""
    loc = database.decode() if isinstance(database, bytes) else str(database)
    return Connection(partial(sqlite3.connect, loc, **kwargs), iter_chunk_size)


def module() -> types.ModuleType:
    """A stand-in for the ``aiosqlite`` module: its names, with :func:`connect` replaced."""
    m = types.ModuleType("dialerd_aiosqlite")
    m.__dict__.update(
        {k: v for k, v in vars(aiosqlite).items() if not k.startswith("__")},
    )
    m.connect = connect  # type: ignore[attr-defined]
    m.Connection = Connection  # type: ignore[attr-defined]
    m.Cursor = Cursor  # type: ignore[attr-defined]
    return m
