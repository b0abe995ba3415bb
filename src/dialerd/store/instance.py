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

A session lock lasts only as long as its session: a database restart, a cut connection or an
administrator's ``pg_terminate_backend`` end it, and with it the lock, while the daemon runs
on. So the daemon checks it (:meth:`InstanceLock.held`) and takes it again
(:meth:`InstanceLock.retake`); a session of its own the server still keeps (a connection that
went silent, not closed) is ended first, so that a daemon is not refused by its own past.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import os
from datetime import datetime
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
        self,
        holder: str,
        conn: AsyncConnection | None = None,
        file: IO[str] | None = None,
        *,
        session: tuple[int, datetime] | None = None,
    ) -> None:
        self.holder = holder
        self._conn = conn
        self._file = file
        self._session = session
        """PostgreSQL: (pid, start) of the server session holding the lock."""

    @classmethod
    async def acquire(cls, engine: AsyncEngine, holder: str) -> InstanceLock:
        """Take the lock for ``holder``; ``InstanceTaken`` if another live daemon has it.
        Connection failures leave as the driver raised them (the store converts them)."""
        if engine.dialect.name == "postgresql":
            lock = cls(holder)
            await lock._take(engine)
            return lock
        path = sqlite_path(engine.url)
        if path is None:  # in memory: nobody else can open it
            return cls(holder)
        file = _lock_file(Path(f"{path}.lock"), holder, display_url(engine.url))  # once
        return cls(holder, file=file)

    async def _take(self, engine: AsyncEngine) -> None:
        conn = await engine.connect()
        try:
            got = await conn.scalar(
                text("SELECT pg_try_advisory_lock(:key)"), {"key": advisory_key(self.holder)}
            )
            row = (await conn.execute(text(_SESSION))).one()
            await conn.commit()  # no transaction left open; the session lock stays
        except BaseException:
            await conn.close()
            raise
        if not got:
            await conn.close()
            raise InstanceTaken(_taken(self.holder, display_url(engine.url)))
        self._conn = conn
        self._session = (int(row[0]), row[1])

    async def held(self, within: float) -> bool:
        """Whether the lock is still held. PostgreSQL: its session answers within
        ``within`` seconds and holds the lock; if not, the session is given up (a dead
        one took the lock with it) and :meth:`retake` is due. SQLite: always (the file
        lock lasts as long as the process)."""
        conn = self._conn
        if self._session is None:
            return True
        if conn is None:
            return False
        try:
            async with asyncio.timeout(within):
                hi, lo = advisory_lock_ids(self.holder)
                got = await conn.scalar(text(_HELD), {"hi": hi, "lo": lo})
                await conn.commit()
        except Exception:  # lost, cut or silent: in every case the lock cannot be trusted
            got = False
        if not got:
            await self._drop()
        return bool(got)

    async def retake(self, engine: AsyncEngine) -> None:
        """Take the lock again after :meth:`held` found it lost. ``InstanceTaken`` if
        another daemon took it meanwhile. If the session that held it is still there on
        the server (its connection went silent rather than closed, so the server has not
        noticed), it is this daemon's own: it is ended, and the lock taken."""
        if self._session is None or self._conn is not None:
            return
        try:
            await self._take(engine)
            return
        except InstanceTaken:
            if not await self._end_own_session(engine):
                raise
        # the server frees the lock as the ended session's process exits: soon, not at once
        for _ in range(50):
            try:
                await self._take(engine)
                return
            except InstanceTaken:
                await asyncio.sleep(0.1)
        await self._take(engine)

    async def _end_own_session(self, engine: AsyncEngine) -> bool:
        """End the session this daemon held the lock in, if it still holds it (matched by
        process id and start time, so a new session that got the old one's pid is never
        ended). True if it was ended."""
        assert self._session is not None
        pid, started = self._session
        hi, lo = advisory_lock_ids(self.holder)
        async with engine.connect() as conn:
            ended = await conn.scalar(
                text(_END_OWN), {"pid": pid, "started": started, "hi": hi, "lo": lo}
            )
            await conn.commit()
        return bool(ended)

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        with contextlib.suppress(Exception):
            async with asyncio.timeout(5):
                await conn.invalidate()  # never back into the pool: its session is not trusted
        with contextlib.suppress(Exception):
            async with asyncio.timeout(5):
                await conn.close()

    async def release(self) -> None:
        conn, self._conn = self._conn, None
        self._session = None
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


#: This session: its server process id and start (the pair names one session for good).
_SESSION = "SELECT pid, backend_start FROM pg_stat_activity WHERE pid = pg_backend_pid()"
#: An advisory lock on a bigint key shows in pg_locks as classid (high 32 bits), objid (low
#: 32 bits) and objsubid 1.
_HELD = (
    "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted"
    " AND pid = pg_backend_pid() AND classid = :hi AND objid = :lo AND objsubid = 1)"
)
_END_OWN = (
    "SELECT pg_terminate_backend(a.pid) FROM pg_stat_activity a JOIN pg_locks l"
    " ON l.pid = a.pid AND l.locktype = 'advisory' AND l.granted AND l.classid = :hi"
    " AND l.objid = :lo AND l.objsubid = 1"
    " WHERE a.pid = :pid AND a.backend_start = :started"
)


def advisory_lock_ids(holder: str) -> tuple[int, int]:
    """How pg_locks shows the lock of ``holder``: (classid, objid), objsubid being 1."""
    key = advisory_key(holder)
    return (key >> 32) & 0xFFFFFFFF, key & 0xFFFFFFFF


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
