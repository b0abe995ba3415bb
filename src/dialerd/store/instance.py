"""One live daemon per lease holder and database.

The lease holder (``dialerd@<host>``, or ``dialerd@<host>/<instance>``) is how a daemon tells
its own leases and attempts from another daemon's: at start it releases the leases its holder
left and closes that holder's unfinished attempts as lost. Two daemons running under one holder
on one database each took the other's live calls for leftovers of a crash and closed them
(answered, talked calls recorded as lost, the contacts dialed again). So a daemon holds a lock
for its holder while it runs, and a second one is refused:

- PostgreSQL: a session advisory lock keyed on the holder, on a connection kept for the
  daemon's life; the server frees it when that session ends (also when the process dies).
- SQLite: an exclusive ``flock`` on ``<database>.lock`` beside the file (SQLite serves one
  daemon; the lock ends with the process). The file names the holder and process holding it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
from pathlib import Path
from typing import IO

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from dialerd.store.engine import display_url, sqlite_path
from dialerd.store.errors import InstanceTaken


def advisory_key(holder: str) -> int:
    """A signed 64-bit key for ``pg_try_advisory_lock``, the same in every process."""
    digest = hashlib.sha256(b"dialerd-holder:" + holder.encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class InstanceLock:
    """Held from :meth:`acquire` until :meth:`release`."""

    def __init__(
        self, holder: str, conn: AsyncConnection | None = None, file: IO[str] | None = None
    ) -> None:
        self.holder = holder
        self._conn = conn
        self._file = file

    @classmethod
    async def acquire(cls, engine: AsyncEngine, holder: str) -> InstanceLock:
        """Take the lock for ``holder``; ``InstanceTaken`` if another live daemon has it.
        Connection failures leave as the driver raised them (the store converts them)."""
        shown = display_url(engine.url)
        if engine.dialect.name == "postgresql":
            conn = await engine.connect()
            try:
                got = await conn.scalar(
                    text("SELECT pg_try_advisory_lock(:key)"), {"key": advisory_key(holder)}
                )
                await conn.commit()  # no transaction left open; the session lock stays
            except BaseException:
                await conn.close()
                raise
            if not got:
                await conn.close()
                raise InstanceTaken(_taken(holder, shown))
            return cls(holder, conn=conn)
        path = sqlite_path(engine.url)
        if path is None:  # in memory: nobody else can open it
            return cls(holder)
        file = _lock_file(Path(f"{path}.lock"), holder, shown)  # once, at start
        return cls(holder, file=file)

    async def release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                await conn.execute(
                    text("SELECT pg_advisory_unlock(:key)"), {"key": advisory_key(self.holder)}
                )
                await conn.commit()
            except Exception:
                # the session may be gone (the database was away): then so is its lock; a
                # live one is not handed back to the pool still holding the lock
                with contextlib.suppress(Exception):
                    await conn.invalidate()
            finally:
                with contextlib.suppress(Exception):
                    await conn.close()
        file, self._file = self._file, None
        if file is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(file.fileno(), fcntl.LOCK_UN)
            file.close()


def _lock_file(lock_path: Path, holder: str, shown: str) -> IO[str]:
    file = lock_path.open("a+")
    try:
        fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        file.seek(0)
        who = file.read().strip()
        file.close()
        raise InstanceTaken(
            _taken(holder, shown) + (f" (held by {who}, {lock_path})" if who else "")
        ) from None
    except BaseException:
        file.close()
        raise
    file.seek(0)
    file.truncate()
    file.write(f"{holder} pid {os.getpid()}\n")
    file.flush()
    return file


def _taken(holder: str, url: str) -> str:
    return (
        f"another dialerd runs as {holder!r} on database {url}: two daemons with one lease "
        "holder close each other's calls as lost; stop the other one, or give each daemon "
        "its own [engine] instance"
    )
