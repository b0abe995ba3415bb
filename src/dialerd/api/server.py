"""uvicorn inside the daemon's event loop, owned by the daemon's TaskGroup.

The daemon owns signals (SIGTERM drains calls, SIGHUP reloads), so uvicorn must not install its
own handlers: :class:`_Server` disables them. The listening socket is bound by us before serving,
so port 0 works and :attr:`ApiServer.port` is known as soon as :meth:`ApiServer.bind` returns.
Shutdown is bounded: open connections get ``shutdown_timeout`` seconds to finish, then they are
closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Generator

import structlog
import uvicorn
from fastapi import FastAPI

log = structlog.get_logger(__name__)


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, started: asyncio.Event) -> None:
        super().__init__(config)
        self._started_event = started

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            self._started_event.set()

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        """Signals belong to the daemon; uvicorn stops only through :meth:`ApiServer.shutdown`."""
        yield


def _bind(host: str, port: int) -> socket.socket:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family, _, _, _, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


class ApiServer:
    """One HTTP listener serving ``app``.

    Use: ``server.bind()`` (optional, to learn the port early), then ``tg.create_task(
    server.serve())`` in the daemon's TaskGroup, and ``await server.shutdown()`` to stop.
    Cancelling ``serve()`` also stops it (bounded).
    """

    def __init__(
        self,
        app: FastAPI,
        host: str = "127.0.0.1",
        port: int = 8080,
        *,
        name: str = "api",
        shutdown_timeout: float = 5.0,
    ) -> None:
        self.app = app
        self.host = host
        self.name = name
        self.shutdown_timeout = shutdown_timeout
        self._requested_port = port
        self._sock: socket.socket | None = None
        self._port = port
        self._done = asyncio.Event()
        self._serving = False
        self.started = asyncio.Event()
        config = uvicorn.Config(
            app,
            lifespan="off",
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=max(int(shutdown_timeout), 1),
            server_header=False,
        )
        self._server = _Server(config, self.started)

    def bind(self) -> int:
        """Bind the listening socket now (raises ``OSError`` if the port is taken)."""
        if self._sock is None:
            self._sock = _bind(self.host, self._requested_port)
            self._port = int(self._sock.getsockname()[1])
        return self._port

    @property
    def port(self) -> int:
        """The bound port (the requested one until :meth:`bind`/:meth:`serve`)."""
        return self._port

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def serve(self) -> None:
        """Serve until :meth:`shutdown` (or cancellation)."""
        self.bind()
        sock = self._sock
        assert sock is not None
        self._serving = True
        log.info("api.listening", listener=self.name, url=self.url)
        try:
            await self._server.serve(sockets=[sock])
        except asyncio.CancelledError:
            self._server.should_exit = True
            self._server.force_exit = True
            with contextlib.suppress(Exception):
                async with asyncio.timeout(self.shutdown_timeout):
                    await self._server.shutdown(sockets=[sock])
            raise
        finally:
            sock.close()
            self._done.set()
            log.info("api.stopped", listener=self.name)

    async def shutdown(self, grace: float | None = None) -> None:
        """Stop accepting, let requests in progress finish (``grace`` s at most), then return."""
        limit = self.shutdown_timeout if grace is None else grace
        self._server.should_exit = True
        if not self._serving:
            if self._sock is not None:  # bound but never served
                self._sock.close()
            return
        if self._done.is_set():
            return
        try:
            async with asyncio.timeout(limit + 0.5):
                await self._done.wait()
        except TimeoutError:
            log.warning("api.shutdown_forced", listener=self.name, after_seconds=limit)
            self._server.force_exit = True
            await self._done.wait()
