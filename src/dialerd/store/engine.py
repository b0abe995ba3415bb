"""Opening a database: URL normalisation, SQLite pragmas and transaction begin modes.

SQLite: WAL (readers never block the writer), foreign keys on, a busy timeout so concurrent
writers wait instead of failing, and ``BEGIN IMMEDIATE`` for every write transaction. A deferred
``BEGIN`` that reads and then writes can fail with SQLITE_BUSY when another writer got in between
(the busy timeout does not help there); taking the write lock up front makes claims (leases) and
transitions serialise cleanly. Read-only work passes ``execution_options(dialerd_read=True)`` and
gets a plain deferred ``BEGIN``, so the overview never waits behind an import.

pysqlite/aiosqlite emit their own BEGIN lazily; we switch that off (``isolation_level = None``) and
emit our own in the ``begin`` event, the recipe from the SQLAlchemy SQLite dialect documentation.

The driver is aiosqlite through :mod:`dialerd.store.sqlite_driver`: one hand-off to the
connection's thread per statement instead of three or four.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.dialects.sqlite.aiosqlite import AsyncAdapt_aiosqlite_dbapi
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import (
    ArgumentError,
    DBAPIError,
    IntegrityError,
    InterfaceError,
    OperationalError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from dialerd.store import sqlite_driver
from dialerd.store.errors import StoreUnavailable

DEFAULT_URL = "sqlite+aiosqlite:///./var/dialerd.sqlite"
BUSY_TIMEOUT_MS = 30_000
#: PostgreSQL: how long a connect may take, and a statement (a round trip) by default, before
#: the store says the database is unavailable. Without them a connection whose packets are
#: silently dropped (a firewall or NAT forgetting its state) held the campaign for the
#: kernel's TCP timeout, about 15 minutes, with nothing logged.
CONNECT_TIMEOUT = 10.0
COMMAND_TIMEOUT = 30.0
#: Maintenance (``VACUUM ANALYZE`` of big tables) may take longer than any statement should.
MAINTENANCE_TIMEOUT = 3600.0
READ = {"dialerd_read": True}


def default_url() -> str:
    return os.environ.get("DIALERD_DB") or DEFAULT_URL


def normalise_url(url: str | URL) -> URL:
    """Accept the URLs people type (``sqlite:///x``, ``postgresql://...``); pick async drivers."""
    try:
        u = make_url(url) if isinstance(url, str) else url
    except ArgumentError:
        raise ValueError(
            f"{url!r} is not a database URL (sqlite:///FILE or postgresql://USER@HOST/DB)"
        ) from None
    backend = u.get_backend_name()
    driver = u.get_driver_name()
    if backend == "sqlite" and driver != "aiosqlite":
        u = u.set(drivername="sqlite+aiosqlite")
    elif backend in ("postgresql", "postgres") and driver != "asyncpg":
        u = u.set(drivername="postgresql+asyncpg")
    elif backend not in ("sqlite", "postgresql"):
        raise ValueError(
            f"unsupported database {backend!r}: use sqlite:///FILE or postgresql://..."
        )
    return u


def display_url(url: str | URL) -> str:
    """The URL for messages: password hidden."""
    u = make_url(url) if isinstance(url, str) else url
    return u.render_as_string(hide_password=True)


def sqlite_path(u: URL) -> Path | None:
    if u.get_backend_name() != "sqlite":
        return None
    db = u.database
    if not db or db == ":memory:" or db.startswith("file:"):
        return None
    return Path(db)


def make_engine(
    url: str | URL,
    *,
    foreign_keys: bool = True,
    connect_timeout: float | None = CONNECT_TIMEOUT,
    command_timeout: float | None = None,
    **kwargs: Any,
) -> AsyncEngine:
    """An async engine; ``foreign_keys=False`` is for migrations only (see ``migrate``).

    PostgreSQL: ``connect_timeout`` bounds a connect, ``command_timeout`` every statement
    (None: unbounded, for migrations, whose index builds may take long); a pooled connection
    is pinged before use, so one the server dropped is replaced, not handed out.
    """
    u = normalise_url(url)
    if u.get_backend_name() == "sqlite":
        path = sqlite_path(u)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        kwargs.setdefault("connect_args", {}).setdefault("timeout", BUSY_TIMEOUT_MS / 1000)
        kwargs.setdefault("module", AsyncAdapt_aiosqlite_dbapi(sqlite_driver.module(), sqlite3))
        engine = create_async_engine(u, **kwargs)
        _install_sqlite_hooks(engine, foreign_keys)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    connect_args = kwargs.setdefault("connect_args", {})
    if connect_timeout is not None:
        connect_args.setdefault("timeout", connect_timeout)
    if command_timeout is not None:
        connect_args.setdefault("command_timeout", command_timeout)
        # A connection that went silent mid-transaction (a dropped network path, a frozen
        # proxy) leaves its server session idle in that transaction, holding its row locks:
        # every later write of those rows, on fresh connections too, waits on them and times
        # out, until TCP gives up hours later. The server ends such a session after the
        # same bound a statement has, which frees its locks.
        settings = connect_args.setdefault("server_settings", {})
        settings.setdefault(
            "idle_in_transaction_session_timeout", str(max(1, round(command_timeout * 1000)))
        )
    return create_async_engine(u, **kwargs)


def _install_sqlite_hooks(engine: AsyncEngine, foreign_keys: bool) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            # Set here, before any BEGIN: inside a transaction SQLite ignores this pragma.
            cursor.execute(f"PRAGMA foreign_keys={'ON' if foreign_keys else 'OFF'}")
            cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA synchronous=NORMAL")
        finally:
            cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        if conn.get_execution_options().get("dialerd_read"):
            conn.exec_driver_sql("BEGIN")
        else:
            conn.exec_driver_sql("BEGIN IMMEDIATE")


def unavailable(exc: BaseException, url: str | URL) -> StoreUnavailable:
    """A one-line :class:`StoreUnavailable` for a driver or OS error reaching the database."""
    reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return StoreUnavailable(
        f"database {display_url(url)} unavailable: {reason[0] if reason else type(exc).__name__}"
    )


#: SQLSTATE classes and codes that say the connection or the server is gone, not the statement
#: wrong: 08 connection exception, 53 insufficient resources (too many connections, disk full),
#: 57P01-57P05 terminated by an administrator, crash or idle timeout, the server starting up
#: or shutting down, the database dropped.
_LOST_SQLSTATE_CLASSES = ("08", "53", "57P")


def connection_lost(exc: BaseException) -> bool:
    """Whether ``exc`` says the database could not be reached or the connection was lost.

    Such errors are about the database, not about the statement: retried later, the same write
    goes through. SQLAlchemy wraps them inconsistently, so all of these count: its
    ``OperationalError``/``InterfaceError``; a plain ``DBAPIError`` whose SQLSTATE names a
    connection failure or an administrator's termination, or whose connection SQLAlchemy
    invalidated; asyncpg's client-side state errors left by a connection dropped mid-operation
    ("another operation is in progress", an ``InternalError``); a pool checkout timeout; and
    the raw ``OSError``/``TimeoutError`` of a refused or timed-out connect, which SQLAlchemy
    does not wrap at all. A constraint violation (``IntegrityError``) never counts, whatever
    its connection.
    """
    if isinstance(exc, IntegrityError):
        return False
    if isinstance(exc, OperationalError | InterfaceError | PoolTimeout | OSError):
        return True
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        orig = exc.orig
        state = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
        if isinstance(state, str) and state.startswith(_LOST_SQLSTATE_CLASSES):
            return True
        text = str(orig)
        if "not currently accepting connections" in text or "connection was closed" in text:
            return True
        cause: BaseException | None = orig
        while cause is not None:
            if type(cause).__name__ in ("InternalClientError", "ConnectionDoesNotExistError"):
                return True
            if isinstance(cause, OSError):
                return True
            cause = cause.__cause__ or cause.__context__
    return False
