"""REST API: an upload is refused from its headers (no token 401, no right 403, too large
413) before its body is read, and a body that passes the limit while it arrives stops there.

The requests below send their headers and a first part of the body, then stall: the answer
must come anyway (before, the server waited for the whole body, spooled it to /tmp, and only
then checked the token).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from api_testkit import START, TOKENS, campaign_body, make_app

from dialerd.api import ApiServer
from dialerd.api.body_guard import FORM_ALLOWANCE
from dialerd.domain.clock import ManualClock
from dialerd.store import Store

IMPORTS = "/api/v1/campaigns/sales/imports"
BOUNDARY = "XB"
HEAD = (
    f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="x.csv"\r\n'
    "Content-Type: text/csv\r\n\r\nphone\n"
).encode()
LIMIT = 1000


@pytest.fixture
def backend() -> str:
    return "sqlite"


@pytest.fixture
async def app(store: Store) -> AsyncIterator[Any]:
    application = make_app(store, None, ManualClock(START), max_upload_bytes=LIMIT)
    transport = httpx.ASGITransport(app=application)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        headers = {"Authorization": f"Bearer {TOKENS['admin'].token}"}
        r = await client.post("/api/v1/campaigns", json=campaign_body(), headers=headers)
        assert r.status_code == 201
    yield application


@dataclass
class Exchange:
    status: int = 0
    body: bytes = b""
    chunks_read: int = 0
    done: asyncio.Event = field(default_factory=asyncio.Event)


async def stalled_request(
    app: Any,
    role: str | None,
    *,
    length: int | None,
    chunks: int | None = 1,
    path: str = IMPORTS,
) -> Exchange:
    """POST an upload whose body stops after ``chunks`` parts of 64 KiB (``None``: never
    stops); ``length`` is the announced Content-Length (``None``: chunked)."""
    headers = [(b"content-type", f"multipart/form-data; boundary={BOUNDARY}".encode())]
    if length is not None:
        headers.append((b"content-length", str(length).encode()))
    if role is not None:
        headers.append((b"authorization", f"Bearer {TOKENS[role].token}".encode()))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
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
    forever = asyncio.Event()

    async def receive() -> dict[str, Any]:
        if chunks is not None and ex.chunks_read >= chunks:
            await forever.wait()  # the client stalls
        ex.chunks_read += 1
        body = HEAD if ex.chunks_read == 1 else b"+4930123456\n" * 5461
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


async def test_upload_without_token_or_right_is_refused_before_the_body(app: Any) -> None:
    ex = await stalled_request(app, None, length=50_000_000)
    assert ex.status == 401
    assert b"missing bearer token" in ex.body
    assert ex.chunks_read == 0
    ex = await stalled_request(app, "readonly", length=50_000_000)
    assert ex.status == 403
    assert b"may not do this (imports)" in ex.body
    assert ex.chunks_read == 0


async def test_other_changes_without_token_are_refused_before_the_body(app: Any) -> None:
    contacts = "/api/v1/campaigns/sales/contacts/batch"
    ex = await stalled_request(app, None, length=50_000_000, path=contacts)
    assert ex.status == 401
    assert ex.chunks_read == 0


async def test_announced_length_over_the_limit_is_413_at_once(app: Any) -> None:
    ex = await stalled_request(app, "admin", length=LIMIT + FORM_ALLOWANCE + 1)
    assert ex.status == 413
    assert ex.chunks_read == 0
    assert b"larger than the limit of 1000 bytes" in ex.body


async def test_chunked_body_stops_being_read_past_the_limit(app: Any) -> None:
    ex = await stalled_request(app, "admin", length=None, chunks=None)
    assert ex.status == 413, ex.body
    # 64 KiB parts: the limit (1000 bytes + the 1 MiB form allowance) passes in part 18
    assert ex.chunks_read <= (LIMIT + FORM_ALLOWANCE) // 65532 + 2
    assert b"larger than the limit of 1000 bytes" in ex.body


async def test_real_server_answers_an_unauthenticated_upload_without_its_body(
    store: Store,
) -> None:
    app = make_app(store, None, ManualClock(START))
    server = ApiServer(app, "127.0.0.1", 0, shutdown_timeout=1.0)
    port = server.bind()
    async with asyncio.TaskGroup() as tg:
        tg.create_task(server.serve())
        async with asyncio.timeout(5):
            await server.started.wait()

        def stalled() -> bytes:
            request = (
                f"POST {IMPORTS} HTTP/1.1\r\nHost: t\r\n"
                f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
                "Content-Length: 50000000\r\n\r\n"
            ).encode()
            with socket.create_connection(("127.0.0.1", port)) as s:
                s.sendall(request + HEAD + b"+4930123456\n" * 5000)
                s.settimeout(3)
                return s.recv(300)

        answer = await asyncio.to_thread(stalled)
        await server.shutdown()
    assert answer.startswith(b"HTTP/1.1 401"), answer
