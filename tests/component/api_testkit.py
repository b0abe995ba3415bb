"""Shared pieces of the REST API tests: tokens per role, the fake engine, a client fixture.

The engine is the one thing faked (it needs Asterisk links); it records what the API asked of
it. The store is real (the ``store`` fixture: SQLite file, and PostgreSQL when configured).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from prometheus_client import CollectorRegistry, Counter

from dialerd.api import ApiServer, HealthChecks, Role, TokenGrant, build_app
from dialerd.domain.clock import ManualClock
from dialerd.store import Store
from dialerd.store import agentwork as work

START = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)

TOKENS = {
    "admin": TokenGrant("ops", Role.ADMIN, "admin-token-0123456789"),
    "supervisor": TokenGrant("floor", Role.SUPERVISOR, "supervisor-token-012345"),
    "readonly": TokenGrant("wallboard", Role.READONLY, "readonly-token-0123456"),
    "agent": TokenGrant("desk-1", Role.AGENT, "agent-1-token-01234567", agent="agent-1"),
}


def auth(role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[role].token}"}


@dataclass
class FakeEngine:
    """Records calls; ``fail`` maps a method name to the exception it raises."""

    calls: list[tuple[str, tuple[Any, ...]]] = field(default_factory=list)
    fail: dict[str, Exception] = field(default_factory=dict)
    agents: list[dict[str, Any]] = field(default_factory=list)
    store: Store | None = None
    disposition_result: Any = "attempt-1"

    def _record(self, name: str, *args: Any) -> None:
        self.calls.append((name, args))
        if name in self.fail:
            raise self.fail[name]

    async def agent_login(self, agent: str, campaign: str | None = None) -> list[str]:
        self._record("agent_login", agent, campaign)
        return ["sales"]

    async def agent_logout(self, agent: str, campaign: str | None = None) -> None:
        self._record("agent_logout", agent, campaign)

    async def agent_pause(self, agent: str, paused: bool, reason: str | None = None) -> None:
        self._record("agent_pause", agent, paused, reason)

    async def disposition(self, *args: Any) -> Any:
        self._record("disposition", *args)
        return self.disposition_result

    async def preview_accept(self, agent: str, contact_id: int, *, hold: bool = False) -> str:
        self._record("preview_accept", agent, contact_id)
        if hold and self.store is not None:  # as the engine does, with its own lease
            await work.reserve(self.store, contact_id, agent, START, own_lease="dialer")
        return "attempt-2"

    async def preview_skip(self, agent: str, contact_id: int) -> None:
        self._record("preview_skip", agent, contact_id)

    def status(self) -> dict[str, Any]:
        self._record("status")
        out: dict[str, Any] = {"running": True, "campaigns": []}
        if self.agents:
            out["agents"] = self.agents
        return out

    async def reload(self) -> None:
        self._record("reload")

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]


@dataclass
class Api:
    client: httpx.AsyncClient
    engine: FakeEngine
    store: Store
    clock: ManualClock
    registry: CollectorRegistry

    async def call(self, method: str, path: str, role: str = "admin", **kw: Any) -> httpx.Response:
        headers = {**auth(role), **kw.pop("headers", {})}
        return await self.client.request(method, path, headers=headers, **kw)


def make_app(store: Store, engine: FakeEngine | None, clock: ManualClock, **kw: Any) -> Any:
    registry = kw.pop("registry", None) or CollectorRegistry()
    return build_app(
        store,
        tokens=TOKENS.values(),
        engine=engine,
        clock=clock,
        registry=registry,
        health=kw.pop("health", HealthChecks()),
        **kw,
    )


async def open_api(store: Store, **kw: Any) -> AsyncIterator[Api]:
    """``kw`` goes to ``build_app`` (e.g. ``compliance``)."""
    engine = FakeEngine(store=store)
    clock = ManualClock(START)
    registry = CollectorRegistry()
    Counter("dialerd_test_requests", "A test counter.", registry=registry).inc(3)
    app = make_app(store, engine, clock, registry=registry, **kw)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
        yield Api(client, engine, store, clock, registry)


def campaign_body(name: str = "sales", **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": name,
        "timezone": "Europe/Berlin",
        "dial": {"mode": "progressive"},
        "tasks": [
            {"name": "call", "type": "call"},
            {"name": "won", "type": "export"},
            {"name": "lost", "type": "wait"},
        ],
        "rules": [
            {"from": "call", "status": "success", "to": "won"},
            {"from": "call", "status": "declined", "to": "lost", "delay": "1h"},
        ],
    }
    body.update(extra)
    return body


async def create_campaign(api: Api, name: str = "sales", **extra: Any) -> dict[str, Any]:
    r = await api.call("POST", "/api/v1/campaigns", json=campaign_body(name, **extra))
    assert r.status_code == 201, r.text
    data: dict[str, Any] = r.json()
    return data


@dataclass
class Exchange:
    """What :func:`endless_request` saw: the answer, and how many body parts the app read."""

    status: int = 0
    body: bytes = b""
    reads: int = 0
    done: asyncio.Event = field(default_factory=asyncio.Event)


async def endless_request(
    app: Any,
    method: str,
    path: str,
    headers: list[tuple[bytes, bytes]],
    part: Callable[[int], Awaitable[bytes]],
) -> Exchange:
    """Drive ``app`` (ASGI) with a request whose body never ends: ``part(n)`` gives the part
    after ``n`` read ones (it may wait forever, a stalled client). The answer must come within
    5 s, without the body's end: that is what the body-guard tests check."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "server": ("t", 80),
        "client": ("127.0.0.1", 1234),
    }
    ex = Exchange()

    async def receive() -> dict[str, Any]:
        body = await part(ex.reads)
        ex.reads += 1
        return {"type": "http.request", "body": body, "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            ex.status = message["status"]
        elif message["type"] == "http.response.body":
            ex.body += message.get("body", b"")
            if not message.get("more_body"):
                ex.done.set()

    task = asyncio.create_task(app(scope, receive, send))
    try:
        async with asyncio.timeout(5):
            await ex.done.wait()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    return ex


@asynccontextmanager
async def serving(app: Any) -> AsyncIterator[int]:
    """``app`` served by uvicorn on a free loopback port (yielded) until the block ends."""
    server = ApiServer(app, "127.0.0.1", 0, shutdown_timeout=1.0)
    port = server.bind()
    async with asyncio.TaskGroup() as tg:
        tg.create_task(server.serve())
        async with asyncio.timeout(5):
            await server.started.wait()
        try:
            yield port
        finally:
            await server.shutdown()
