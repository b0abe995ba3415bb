"""The optional OpenAI-compatible classifier against a local fake endpoint, and its fallback."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from dialerd.domain.agentwork import ResultClass
from dialerd.taskflow.classify import ChatClassifier


@dataclass
class FakeChat:
    """A minimal HTTP/1.1 chat-completions server: answers ``reply`` (or ``status``)."""

    reply: str = "positive"
    status: int = 200
    delay: float = 0.0
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    handlers: set[asyncio.Task[Any]] = field(default_factory=set)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.handlers.add(task)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode().split("\r\n")
            hdrs = {k.lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:] if x)}
            body = await reader.readexactly(int(hdrs.get("content-length", "0")))
            self.headers.append({"path": lines[0].split()[1], **hdrs})
            self.requests.append(json.loads(body))
            await asyncio.sleep(self.delay)
            payload = json.dumps(
                {"choices": [{"message": {"role": "assistant", "content": self.reply}}]}
            ).encode()
            writer.write(
                f"HTTP/1.1 {self.status} X\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n".encode()
                + payload
            )
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
            self.handlers.discard(task)

    async def stop(self) -> None:
        """Cancel handlers still sleeping (the client timed out and left)."""
        for t in list(self.handlers):
            t.cancel()
        await asyncio.gather(*self.handlers, return_exceptions=True)


@pytest.fixture
async def fake() -> AsyncIterator[tuple[FakeChat, str]]:
    chat = FakeChat()
    server = await asyncio.start_server(chat.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield chat, f"http://127.0.0.1:{port}/v1"
        await chat.stop()
        server.close()
        await server.wait_closed()


async def test_endpoint_answer_is_used(fake: tuple[FakeChat, str]) -> None:
    chat, url = fake
    chat.reply = "Partial."
    c = ChatClassifier(url, "tiny-model", api_key="sk-test", timeout=2.0)
    # The rules would say negative; the endpoint's answer wins.
    assert await c.classify("kein Interesse heute, vielleicht nächstes Jahr") is ResultClass.PARTIAL
    assert chat.headers[0]["path"] == "/v1/chat/completions"
    assert chat.headers[0]["authorization"] == "Bearer sk-test"
    sent = chat.requests[0]
    assert sent["model"] == "tiny-model"
    assert sent["messages"][-1]["content"].startswith("kein Interesse")


@pytest.mark.parametrize(
    ("setup", "why"),
    [
        ({"status": 500}, "server error"),
        ({"reply": "I am not sure what you mean"}, "answer is not a class"),
        ({"delay": 1.0}, "timeout"),
    ],
)
async def test_failures_fall_back_to_the_rules(
    fake: tuple[FakeChat, str], setup: dict[str, Any], why: str
) -> None:
    chat, url = fake
    for k, v in setup.items():
        setattr(chat, k, v)
    c = ChatClassifier(url, "m", timeout=0.3)
    assert await c.classify("Kunde hat bestellt") is ResultClass.POSITIVE, why


async def test_unreachable_endpoint_falls_back() -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    c = ChatClassifier(f"http://127.0.0.1:{port}", "m", timeout=0.5)
    assert await c.classify("not interested") is ResultClass.NEGATIVE
