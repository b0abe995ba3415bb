"""Local servers for the task tests: a real SMTP server (aiosmtpd) and a tiny HTTP server.

Both run in the test's own event loop on 127.0.0.1 port 0 and record what they received, so a
test reads the message or the request exactly as a mail relay or a CRM would have got it.
"""

from __future__ import annotations

import asyncio
import json
import re
import ssl
import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session


@dataclass
class MailBox:
    """What the SMTP server accepted; ``reject`` maps a recipient to an SMTP reply."""

    messages: list[Message] = field(default_factory=list)
    envelopes: list[Envelope] = field(default_factory=list)
    reject: dict[str, str] = field(default_factory=dict)
    logins: list[str] = field(default_factory=list)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        reply = self.reject.get(address)
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.content if isinstance(envelope.content, bytes) else b""
        self.messages.append(message_from_bytes(raw))
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"

    def by_recipient(self) -> dict[str, Message]:
        return {str(m["To"]): m for m in self.messages}


@asynccontextmanager
async def smtp_server(
    box: MailBox,
    *,
    user: str | None = None,
    password: str | None = None,
    tls: ssl.SSLContext | None = None,
) -> AsyncIterator[int]:
    """Yields the port of an SMTP server delivering into ``box``."""

    def authenticator(
        server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = (
            isinstance(data, LoginPassword)
            and data.login.decode() == user
            and data.password.decode() == password
        )
        if ok:
            box.logins.append(user or "")
        return AuthResult(success=ok)

    def factory() -> SMTP:
        if user is None:
            return SMTP(box, hostname="mx.test", tls_context=tls)
        return SMTP(
            box,
            hostname="mx.test",
            authenticator=authenticator,
            auth_required=True,
            auth_require_tls=tls is not None,
            tls_context=tls,
            require_starttls=tls is not None,
        )

    loop = asyncio.get_running_loop()
    server = await loop.create_server(factory, "127.0.0.1", 0)
    try:
        yield int(server.sockets[0].getsockname()[1])
    finally:
        server.close()
        await server.wait_closed()
        await asyncio.sleep(0.05)  # let aiosmtpd's session handlers see the connection end


@dataclass
class HttpRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class HttpRecorder:
    """Requests received; ``replies`` are (status, body) used in order (the last one repeats)."""

    requests: list[HttpRequest] = field(default_factory=list)
    replies: list[tuple[int, Any]] = field(default_factory=lambda: [(200, {"ok": True})])
    delay: float = 0.0

    def reply_for(self, request: HttpRequest) -> tuple[int, Any]:
        index = min(len(self.requests) - 1, len(self.replies) - 1)
        return self.replies[index]


_REASONS = {200: "OK", 201: "Created", 204: "No Content", 400: "Bad Request", 500: "Error"}


@asynccontextmanager
async def http_server(rec: HttpRecorder) -> AsyncIterator[str]:
    """Yields the base URL of an HTTP/1.1 server recording into ``rec``."""

    handlers: set[asyncio.Task[Any]] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        me = asyncio.current_task()
        if me is not None:
            handlers.add(me)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            headers = {}
            for line in lines[1:]:
                if ":" in line:
                    k, v = line.split(":", 1)
                    headers[k.strip().lower()] = v.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            req = HttpRequest(method, path, headers, body)
            rec.requests.append(req)
            if rec.delay:
                await asyncio.sleep(rec.delay)
            status, payload = rec.reply_for(req)
            data = b"" if payload is None else json.dumps(payload).encode()
            writer.write(
                f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n"
                "Connection: close\r\n\r\n".encode()
                + data
            )
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
            if me is not None:
                handlers.discard(me)

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        port = int(server.sockets[0].getsockname()[1])
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()
        for task in list(handlers):  # a reply still delayed when the test is done
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)
        await server.wait_closed()


def pdf_pages(data: bytes) -> int:
    """Page objects in a PDF (``/Type /Page``, not ``/Pages``)."""
    return len(re.findall(rb"/Type\s*/Page(?!s)", data))


def pdf_text(data: bytes) -> str:
    """The text drawn on the pages (reportlab's content streams, inflated)."""
    out = []
    for m in re.finditer(rb"stream\r?\n(.*?)\r?\n?endstream", data, re.S):
        raw = m.group(1)
        for decode in (zlib.decompress, _ascii85_flate):
            try:
                out.append(decode(raw).decode("latin-1"))
                break
            except (zlib.error, ValueError):
                continue
        else:
            out.append(raw.decode("latin-1"))
    return "".join(re.findall(r"\((.*?)\)\s*Tj", "\n".join(out)))


def _ascii85_flate(raw: bytes) -> bytes:
    import base64

    text = raw.strip()
    if text.endswith(b"~>"):
        text = text[:-2]
    return zlib.decompress(base64.a85decode(text))
