"""A TCP proxy a test can take down or freeze, to play a database that goes away.

``down()`` refuses new connections and cuts the open ones (a server restart, a lost route);
``freeze()`` keeps every connection open but forwards nothing on the existing ones (a half-open
connection after a NAT or firewall dropped its state: no reset, no data, until TCP gives up);
``up()`` puts either right. The listening port stays the same, so a URL through the proxy keeps
working after an outage.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from dialerd.store import Store, upgrade
from dialerd.store.instance import advisory_lock_ids


class TcpProxy:
    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._frozen: set[asyncio.StreamWriter] = set()
        self._thawed = asyncio.Event()
        self._thawed.set()
        self.connections = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    def url(self, database_url: str) -> str:
        """``database_url`` (PostgreSQL) with its host and port replaced by the proxy's."""
        u = make_url(database_url).set(host="127.0.0.1", port=self.port)
        return u.render_as_string(hide_password=False)

    async def down(self) -> None:
        """Refuse new connections and reset the open ones."""
        if self._server is not None:
            self._server.close()
        self._cut()  # first: closing the server may wait for its connections to end
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def up(self) -> None:
        self._frozen.clear()
        self._thawed.set()
        if self._server is None:
            await self.start()

    def freeze(self) -> None:
        """Forward nothing more on the connections open now (new ones work)."""
        self._frozen = set(self._writers)
        self._thawed.clear()

    async def close(self) -> None:
        await self.down()
        for t in list(self._tasks):
            t.cancel()
        for t in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t

    def _cut(self) -> None:
        for w in list(self._writers):
            w.transport.abort()
        self._writers.clear()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self.connections += 1
        self._writers |= {writer, up_writer}
        for src, dst, key in ((reader, up_writer, writer), (up_reader, writer, writer)):
            task = asyncio.create_task(self._pipe(src, dst, key), name="tcp-proxy-pipe")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pipe(
        self, src: asyncio.StreamReader, dst: asyncio.StreamWriter, key: asyncio.StreamWriter
    ) -> None:
        try:
            while data := await src.read(65536):
                if key in self._frozen:  # hold the bytes: the peer hears nothing
                    await self._thawed.wait()
                dst.write(data)
                await dst.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            dst.transport.abort()
            self._writers.discard(dst)


def pg_base_url() -> str:
    url = os.environ.get("DIALERD_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("DIALERD_TEST_POSTGRES_URL is not set (no PostgreSQL to test against)")
    return url


async def pg_admin(sql: str) -> None:
    """One statement on the server's maintenance connection (not the test's database)."""
    engine = create_async_engine(
        make_url(pg_base_url()).set(drivername="postgresql+asyncpg"),
        isolation_level="AUTOCOMMIT",
    )
    try:
        async with engine.connect() as conn:
            await conn.exec_driver_sql(sql)
    finally:
        await engine.dispose()


@contextlib.asynccontextmanager
async def own_pg_database() -> AsyncIterator[str]:
    """A migrated PostgreSQL database of this test alone (its outages touch nobody else's),
    dropped at the end."""
    name = f"store_outage_{uuid.uuid4().hex[:16]}"
    await pg_admin(f'CREATE DATABASE "{name}"')
    try:
        url = make_url(pg_base_url()).set(database=name, drivername="postgresql+asyncpg")
        text = url.render_as_string(hide_password=False)
        await upgrade(text)
        yield text
    finally:
        await pg_admin(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        await pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def lock_pids(url: str, holder: str) -> list[int]:
    """Server processes holding ``holder``'s instance lock (advisory) on ``url``'s database.
    Advisory locks are server-wide in ``pg_locks``: only this database's count (a daemon of
    another test run on the same server holds the same holder's lock in its own database)."""
    hi, lo = advisory_lock_ids(holder)
    store = await Store.open(url)
    try:
        async with store.engine.connect() as conn:
            rows = await conn.execute(
                text(
                    "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted"
                    " AND classid = :hi AND objid = :lo AND objsubid = 1"
                    " AND database = (SELECT oid FROM pg_database"
                    " WHERE datname = current_database())"
                ),
                {"hi": hi, "lo": lo},
            )
            return [int(r[0]) for r in rows]
    finally:
        await store.close()
