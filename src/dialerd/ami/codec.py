"""Sans-IO AMI codec: bytes in, frozen messages out; messages in, bytes out.

No sockets here (the pattern of wazo-amid's parser and hypercorn's protocols): the link feeds
whatever TCP gave it and gets back complete messages. Framing follows AMI-NOTES.md:

* the banner ``Asterisk Call Manager/x.y.z`` is one CRLF-terminated line with no empty line after
  it, so it is taken off before splitting the rest;
* a message is ``Key: Value`` lines closed by an empty line: the buffer is split on ``\\r\\n\\r\\n``
  first and each complete message is decoded second, so a UTF-8 character split across reads
  survives;
* keys may repeat (``Variable``, ``ChanVariable``, ``Output``): all are kept, in order.

Garbage never raises out of :meth:`AmiDecoder.feed`; it comes back as a :class:`ProtocolError`
in the message stream, which the link logs and counts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

BANNER_PREFIX = "Asterisk Call Manager/"
_SEP = b"\r\n\r\n"
#: A peer that sends this much without an empty line is not speaking AMI.
MAX_MESSAGE_BYTES = 1 << 20


class MessageKind(StrEnum):
    EVENT = "event"
    RESPONSE = "response"
    ACTION = "action"
    BANNER = "banner"


@dataclass(frozen=True, slots=True)
class Message:
    """One AMI message. ``name`` is the Event, Response or Action value (or the banner text)."""

    kind: MessageKind
    name: str
    headers: tuple[tuple[str, str], ...]

    def get(self, key: str, default: str | None = None) -> str | None:
        """First value of ``key`` (case-insensitive), or ``default``."""
        for k, v in self.headers:
            if k == key:
                return v
        lk = key.lower()
        for k, v in self.headers:
            if k.lower() == lk:
                return v
        return default

    def __getitem__(self, key: str) -> str:
        value = self.get(key)
        if value is None:
            raise KeyError(key)
        return value

    def getall(self, key: str) -> list[str]:
        """Every value of a repeated key, in order."""
        lk = key.lower()
        return [v for k, v in self.headers if k.lower() == lk]

    @property
    def action_id(self) -> str | None:
        return self.get("ActionID")

    def as_dict(self) -> dict[str, str]:
        """First value per key; for logging and tests."""
        out: dict[str, str] = {}
        for k, v in self.headers:
            out.setdefault(k, v)
        return out


@dataclass(frozen=True, slots=True)
class ProtocolError:
    """Bytes that are not an AMI message. ``raw`` is kept (truncated) for the log."""

    reason: str
    raw: bytes


_KIND_BY_KEY = {
    "Event": MessageKind.EVENT,
    "Response": MessageKind.RESPONSE,
    "Action": MessageKind.ACTION,
}


def decode_message(block: bytes) -> Message | ProtocolError:
    """Decode one message without its terminating empty line."""
    try:
        text = block.decode("utf-8")
    except UnicodeDecodeError:
        text = block.decode("utf-8", errors="replace")
    headers: list[tuple[str, str]] = []
    for line in text.split("\r\n"):
        key, sep, value = line.partition(":")
        if not sep or not key:
            if not line.strip():
                continue
            return ProtocolError(f"line without 'Key: Value': {line[:80]!r}", block[:200])
        headers.append((key.strip(), value[1:] if value[:1] == " " else value))
    if not headers:
        return ProtocolError("empty message", block[:200])
    first_key, first_value = headers[0]
    kind = _KIND_BY_KEY.get(first_key)
    if kind is None:
        for k, v in headers:
            kind = _KIND_BY_KEY.get(k)
            if kind is not None:
                first_value = v
                break
        else:
            return ProtocolError("message has no Event, Response or Action", block[:200])
    return Message(kind, first_value, tuple(headers))


class AmiDecoder:
    """Incremental decoder. Feed it bytes as they arrive; it returns complete messages."""

    def __init__(self, expect_banner: bool = True) -> None:
        self._buf = b""
        self._expect_banner = expect_banner
        self.protocol_errors = 0

    def feed(self, data: bytes) -> list[Message | ProtocolError]:
        buf = self._buf + data if self._buf else data
        out: list[Message | ProtocolError] = []
        if self._expect_banner:
            nl = buf.find(b"\r\n")
            if nl < 0:
                self._buf = buf
                return out
            line = buf[:nl].decode("utf-8", errors="replace")
            buf = buf[nl + 2 :]
            self._expect_banner = False
            if line.startswith(BANNER_PREFIX):
                out.append(Message(MessageKind.BANNER, line, ()))
            else:
                out.append(ProtocolError("no AMI banner", line.encode()[:200]))
                self.protocol_errors += 1
        parts = buf.split(_SEP)
        rest = parts.pop()
        for block in parts:
            # Tolerate stray leading CRLFs between messages.
            block = block.lstrip(b"\r\n")
            if not block:
                continue
            msg = decode_message(block)
            if isinstance(msg, ProtocolError):
                self.protocol_errors += 1
            out.append(msg)
        if len(rest) > MAX_MESSAGE_BYTES:
            out.append(ProtocolError("message larger than MAX_MESSAGE_BYTES", rest[:200]))
            self.protocol_errors += 1
            rest = b""
        self._buf = rest
        return out


Fields = Mapping[str, str | Iterable[str]] | Iterable[tuple[str, str]]


def _pairs(fields: Fields) -> Iterable[tuple[str, str]]:
    if isinstance(fields, Mapping):
        for key, value in fields.items():
            if isinstance(value, str):
                yield key, value
            else:
                for item in value:
                    yield key, item
    else:
        yield from fields


def encode(first_key: str, name: str, fields: Fields = ()) -> bytes:
    """Encode one message: ``first_key`` is Action, Event or Response.

    A list value (or repeated pair) becomes a repeated key. CR/LF inside a value would break the
    framing, so they are refused.
    """
    lines = [f"{first_key}: {name}"]
    for key, value in _pairs(fields):
        if "\r" in value or "\n" in value or "\r" in key or "\n" in key or ":" in key:
            raise ValueError(f"AMI header {key!r} has a line break or colon")
        lines.append(f"{key}: {value}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")


def encode_action(action: str, fields: Fields = ()) -> bytes:
    return encode("Action", action, fields)


def banner(version: str = "11.0.0") -> bytes:
    return f"{BANNER_PREFIX}{version}\r\n".encode()
