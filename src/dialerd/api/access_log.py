"""One log line per API request: who (token name), what, outcome, how long.

Changes through the API are already in the contacts' history; this line also covers reads and
refused requests, which is what an operator needs when a desktop or a script misbehaves. Probe
and scrape paths (``/healthz``, ``/metrics``) log at debug level so they do not flood the log.
"""

from __future__ import annotations

import time

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = structlog.get_logger(__name__)

_QUIET = frozenset({"/healthz", "/metrics"})


class AccessLog:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.monotonic()
        status = 500

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            path = scope.get("path", "")
            principal = scope.get("state", {}).get("principal")
            emit = log.debug if path in _QUIET and status < 500 else log.info
            emit(
                "api.request",
                method=scope.get("method"),
                path=path,
                status=status,
                seconds=round(time.monotonic() - started, 4),
                # the token's configured name, never its value ("token" would be masked)
                token_name=getattr(principal, "name", None),
            )
