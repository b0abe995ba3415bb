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
from typing import Any

import httpx
import pytest
from api_testkit import (
    START,
    TOKENS,
    Exchange,
    campaign_body,
    endless_request,
    make_app,
    serving,
)

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
    forever = asyncio.Event()

    async def part(read: int) -> bytes:
        if chunks is not None and read >= chunks:
            await forever.wait()  # the client stalls
        return HEAD if read == 0 else b"+4930123456\n" * 5461

    return await endless_request(app, "POST", path, headers, part)


async def test_upload_without_token_or_right_is_refused_before_the_body(app: Any) -> None:
    ex = await stalled_request(app, None, length=50_000_000)
    assert ex.status == 401
    assert b"missing bearer token" in ex.body
    assert ex.reads == 0
    ex = await stalled_request(app, "readonly", length=50_000_000)
    assert ex.status == 403
    assert b"may not do this (imports)" in ex.body
    assert ex.reads == 0


async def test_other_changes_without_token_are_refused_before_the_body(app: Any) -> None:
    contacts = "/api/v1/campaigns/sales/contacts/batch"
    ex = await stalled_request(app, None, length=50_000_000, path=contacts)
    assert ex.status == 401
    assert ex.reads == 0


async def test_announced_length_over_the_limit_is_413_at_once(app: Any) -> None:
    ex = await stalled_request(app, "admin", length=LIMIT + FORM_ALLOWANCE + 1)
    assert ex.status == 413
    assert ex.reads == 0
    assert b"larger than the limit of 1000 bytes" in ex.body


async def test_chunked_body_stops_being_read_past_the_limit(app: Any) -> None:
    ex = await stalled_request(app, "admin", length=None, chunks=None)
    assert ex.status == 413, ex.body
    # 64 KiB parts: the limit (1000 bytes + the 1 MiB form allowance) passes in part 18
    assert ex.reads <= (LIMIT + FORM_ALLOWANCE) // 65532 + 2
    assert b"larger than the limit of 1000 bytes" in ex.body


async def test_real_server_answers_an_unauthenticated_upload_without_its_body(
    store: Store,
) -> None:
    app = make_app(store, None, ManualClock(START))
    async with serving(app) as port:

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
    assert answer.startswith(b"HTTP/1.1 401"), answer
