"""REST API: a JSON body larger than ``[api] max_json_body`` is refused with 413, from its
``Content-Length`` before any of it is read, and while it arrives when it is sent chunked.

Before, only uploads had a limit: a caller with a token could send ``POST .../contacts`` a
body of any size, which FastAPI read whole into memory and parsed (here, without the limit,
the endless bodies below were read on with no answer until the test gave up after 5 s).
"""

from __future__ import annotations

import asyncio
import json
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

from dialerd.api.strict import MAX_INT
from dialerd.config.models import ApiConfig
from dialerd.domain.clock import ManualClock
from dialerd.store import Store

CONTACTS = "/api/v1/campaigns/sales/contacts"
LIMIT = 100_000
BATCH_LIMIT = 300_000
PART = 65_536


@pytest.fixture
def backend() -> str:
    return "sqlite"


@pytest.fixture
async def app(store: Store) -> AsyncIterator[Any]:
    application = make_app(
        store,
        None,
        ManualClock(START),
        max_json_bytes=LIMIT,
        max_json_batch_bytes=BATCH_LIMIT,
    )
    transport = httpx.ASGITransport(app=application)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        headers = {"Authorization": f"Bearer {TOKENS['admin'].token}"}
        r = await client.post("/api/v1/campaigns", json=campaign_body(), headers=headers)
        assert r.status_code == 201
    yield application


async def endless_json(
    app: Any, *, length: int | None, path: str = CONTACTS, method: str = "POST"
) -> Exchange:
    """Send a JSON body that never ends (parts of 64 KiB of one long string); ``length`` is
    the announced Content-Length (``None``: chunked)."""
    headers = [
        (b"content-type", b"application/json"),
        (b"authorization", f"Bearer {TOKENS['admin'].token}".encode()),
    ]
    if length is not None:
        headers.append((b"content-length", str(length).encode()))

    async def part(read: int) -> bytes:
        await asyncio.sleep(0)
        return b'{"first_name": "' if read == 0 else b"x" * PART

    return await endless_request(app, method, path, headers, part)


async def test_announced_length_over_the_limit_is_413_before_the_body(app: Any) -> None:
    ex = await endless_json(app, length=50_000_000)
    assert ex.status == 413, ex.body
    assert ex.reads == 0
    answer = json.loads(ex.body)
    assert answer["field"] == "body"
    assert "larger than the limit of 100000 bytes ([api] max_json_body)" in answer["error"]
    # every operation with a body, not only adding contacts
    for method, path in [
        ("PUT", "/api/v1/campaigns/sales"),
        ("POST", f"{CONTACTS}/bulk-edit"),
        ("PATCH", f"{CONTACTS}/1"),
        ("POST", "/api/v1/dnc"),
    ]:
        ex = await endless_json(app, length=LIMIT + 1, path=path, method=method)
        assert (ex.status, ex.reads) == (413, 0), (path, ex.body)


async def test_chunked_body_is_refused_once_it_passes_the_limit(app: Any) -> None:
    ex = await endless_json(app, length=None)
    assert ex.status == 413, ex.body
    assert ex.reads <= LIMIT // PART + 2  # reading stopped at the limit
    assert "([api] max_json_body)" in json.loads(ex.body)["error"]


async def test_a_batch_of_contacts_has_its_own_larger_limit(app: Any) -> None:
    transport = httpx.ASGITransport(app=app)
    contacts = [
        {"phone": f"+4930123{i:05d}", "first_name": "x" * 100, "fields": {"note": "y" * 200}}
        for i in range(400)
    ]
    body = json.dumps({"contacts": contacts}).encode()
    assert LIMIT < len(body) < BATCH_LIMIT
    headers = {
        "Authorization": f"Bearer {TOKENS['admin'].token}",
        "Content-Type": "application/json",
    }
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        r = await client.post(f"{CONTACTS}/batch", content=body, headers=headers)
        assert r.status_code == 200, r.text
        assert r.json()["created"] == 400
        # the same size elsewhere is over the limit
        r = await client.post("/api/v1/dnc", content=body, headers=headers)
        assert r.status_code == 413
    ex = await endless_json(app, length=BATCH_LIMIT + 1, path=f"{CONTACTS}/batch")
    assert ex.status == 413 and ex.reads == 0
    assert "([api] max_json_batch_body)" in json.loads(ex.body)["error"]


def test_the_default_limit_takes_the_largest_lists_the_api_accepts() -> None:
    """100,000 ids (a bulk edit or move) or 100,000 numbers (the do-not-call list) in any
    usual notation fit in the default ``max_json_body``."""
    default = int(ApiConfig().max_json_body)
    ids = json.dumps({"filter": {"ids": [MAX_INT] * 100_000}, "fields": {"a": 1}})
    phones = json.dumps({"phones": ["+49 (0) 30 1234 5678 90"] * 100_000, "note": "x" * 2000})
    assert len(ids) < default and len(phones) < default
    assert default == 4 << 20
    assert int(ApiConfig().max_json_batch_body) == 32 << 20


async def test_real_server_refuses_a_chunked_json_body_past_the_limit(store: Store) -> None:
    app = make_app(store, None, ManualClock(START), max_json_bytes=LIMIT)
    async with serving(app) as port:

        def chunked() -> bytes:
            head = (
                f"POST {CONTACTS} HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                f"Authorization: Bearer {TOKENS['admin'].token}\r\n"
                "Transfer-Encoding: chunked\r\n\r\n"
            ).encode()
            part = b"x" * PART
            chunk = f"{len(part):x}\r\n".encode() + part + b"\r\n"
            with socket.create_connection(("127.0.0.1", port)) as s:
                s.sendall(head + b'10\r\n{"first_name": "\r\n')
                for _ in range(LIMIT // PART + 2):  # past the limit, and the body goes on
                    s.sendall(chunk)
                s.settimeout(3)
                answer = b""
                while b"}" not in answer:  # the headers, then the JSON body
                    data = s.recv(1000)
                    if not data:
                        break
                    answer += data
                return answer

        answer = await asyncio.to_thread(chunked)
    assert answer.startswith(b"HTTP/1.1 413"), answer
    assert b"max_json_body" in answer
