"""Sans-IO AMI codec: bytes in, immutable messages out; messages in, bytes out.

No sockets here (the pattern of wazo-amid's parser and hypercorn's protocols): the link feeds
whatever TCP gave it and gets back complete messages. Framing follows AMI-NOTES.md:

* the banner ``Asterisk Call Manager/x.y.z`` is one CRLF-terminated line with no empty line after
  it, so it is taken off before splitting the rest;
* a message is ``Key: Value`` lines closed by an empty line: the buffer is split on ``\\r\\n\\r\\n``
  first and each complete message is decoded second, so a UTF-8 character split across reads
  survives;
* keys may repeat (``Variable``, ``ChanVariable``, ``Output``): all are kept, in order.

A line's key is the text before its first ``": "`` (what Asterisk writes); a line with only a bare
``:`` (``Key:``) splits on that colon. Garbage never raises out of :meth:`AmiDecoder.feed`; it comes
back as a :class:`ProtocolError` in the message stream, which the link logs and counts. When garbage
was glued in front of a real message (no empty line between them), the message is salvaged.

Speed: a loaded dialer receives thousands of events a second, and most of them are never read
beyond their name (VarSet, Newexten, DeviceStateChange: about half of a busy server's traffic,
dropped by the link or ignored by :func:`dialerd.ami.events.normalise`). So headers are parsed on
demand: :meth:`AmiDecoder.feed` decodes each read's complete region once, splits it into blocks,
and in the common case builds every message in C as ``(kind, name, text)``; keys and values are
split from ``text`` the first time a header is read, and cached. Framing a message costs about
as much as finding its name; the full split is paid only by messages someone reads.

Why on-demand parsing gives exactly the eager results: whether a block is a message or a
:class:`ProtocolError` must be known at framing time, so before any block is kept unsplit one
regular expression over the region proves that every line is ``key: value`` (a key of ASCII word
characters or dashes, then ``": "``) and every block starts with its ``Event``/``Response``/
``Action`` line (whose name it captures). For such lines the later split (``": "`` replaced by
CRLF and one split, or a partition per line when a value holds ``": "``) is the same as the eager
decode's ``partition(": ")`` per line. Anything else -- a bad line anywhere in the read, a lone CR
or LF in a first line, a one-line message, invalid UTF-8 -- sends that read's blocks through the
eager, line-by-line decode. The Hypothesis tests in ``tests/unit/test_ami_codec.py`` feed valid
streams, arbitrary byte soup and streams with odd lines through both paths (``_lazy`` off and on)
under random read splits and compare every accessor; the recorded sessions are compared too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from itertools import compress, repeat
from operator import not_
from typing import Any

BANNER_PREFIX = "Asterisk Call Manager/"
_SEP = b"\r\n\r\n"
#: A peer that sends this much without an empty line is not speaking AMI.
MAX_MESSAGE_BYTES = 1 << 20
#: How much of a bad message a ProtocolError keeps (for the log).
_RAW_KEEP = 200


class MessageKind(StrEnum):
    EVENT = "event"
    RESPONSE = "response"
    ACTION = "action"
    BANNER = "banner"


_KIND_BY_KEY = {
    "Event": MessageKind.EVENT,
    "Response": MessageKind.RESPONSE,
    "Action": MessageKind.ACTION,
}
_KIND_BY_LOWER_KEY = {k.lower(): v for k, v in _KIND_BY_KEY.items()}


class Message(tuple[MessageKind, str, str | None]):
    """One AMI message. ``name`` is the Event, Response or Action value (or the banner text).

    Immutable and hashable. Build one with ``Message(kind, name, headers)`` where ``headers`` is a
    sequence of ``(key, value)`` pairs. A message that :class:`AmiDecoder` framed keeps its text and
    splits it into keys and values only when a header is first read (see the module docstring);
    from the outside the two are indistinguishable, and equal when their kind, name and headers
    are. Underneath it is the tuple ``(kind, name, text)`` (built in C, one per message, which is
    what makes framing cheap); the split headers are cached in the instance dict, once.
    """

    def __new__(
        cls, kind: MessageKind, name: str, headers: Iterable[tuple[str, str]] = ()
    ) -> Message:
        pairs = tuple(headers)
        self = tuple.__new__(cls, (kind, name, None))
        self.__dict__["_kv_cache"] = (tuple(k for k, _ in pairs), tuple(v for _, v in pairs))
        return self

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Message is immutable (cannot set {name!r})")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"Message is immutable (cannot delete {name!r})")

    def __reduce__(self) -> tuple[Any, ...]:
        kind, name, _ = self
        return (Message, (kind, name, self.headers))

    @property
    def kind(self) -> MessageKind:
        kind, _, _ = self
        return kind

    @property
    def name(self) -> str:
        _, name, _ = self
        return name

    def _kv(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """Keys and values; the kept text is split on the first call.

        The decoder proved at framing time that every line is ``key: value`` with a key of word
        characters, so the split cannot fail. When no value holds ``": "``, one replace and one
        split in C give keys and values alternately; otherwise each line is partitioned.
        """
        cache = self.__dict__
        kv: tuple[tuple[str, ...], tuple[str, ...]] | None = cache.get("_kv_cache")
        if kv is not None:
            return kv
        _, _, text = self
        assert text is not None
        parts = text.replace(": ", "\r\n").split("\r\n")
        if len(parts) == 2 * text.count(": "):
            kv = (tuple(parts[0::2]), tuple(parts[1::2]))
        else:
            keys, _, values = zip(*map(_partition, text.split("\r\n"), repeat(": ")), strict=True)
            kv = (keys, values)
        cache["_kv_cache"] = kv
        return kv

    @property
    def keys(self) -> tuple[str, ...]:
        return self._kv()[0]

    @property
    def values(self) -> tuple[str, ...]:
        return self._kv()[1]

    @property
    def headers(self) -> tuple[tuple[str, str], ...]:
        keys, values = self._kv()
        return tuple(zip(keys, values, strict=True))

    def get(self, key: str, default: str | None = None) -> str | None:
        """First value of ``key`` (exact spelling first, then case-insensitive), or ``default``."""
        keys, values = self._kv()
        try:
            return values[keys.index(key)]
        except ValueError:
            pass
        lk = key.lower()
        n = len(key)
        for i, k in enumerate(keys):
            if len(k) == n and k.lower() == lk:
                return values[i]
        return default

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            value = self.get(key)
            if value is None:
                raise KeyError(key)
            return value
        return tuple.__getitem__(self, key)

    def getall(self, key: str) -> list[str]:
        """Every value of a repeated key, in order (case-insensitive)."""
        lk = key.lower()
        keys, values = self._kv()
        return [v for k, v in zip(keys, values, strict=True) if k.lower() == lk]

    @property
    def action_id(self) -> str | None:
        return self.get("ActionID")

    def as_dict(self) -> dict[str, str]:
        """First value per key; for logging and tests."""
        out: dict[str, str] = {}
        keys, values = self._kv()
        for k, v in zip(keys, values, strict=True):
            out.setdefault(k, v)
        return out

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Message):
            return NotImplemented
        kind, name, text = self
        other_kind, other_name, other_text = other
        if kind is not other_kind or name != other_name:
            return False
        if text is not None and text == other_text:
            return True  # the same text splits the same way
        return self._kv() == other._kv()

    def __ne__(self, other: object) -> bool:
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    def __hash__(self) -> int:
        # By content, not by text: messages from different texts can be equal ("K:" and "K: ").
        kind, name, _ = self
        return hash((kind, name, self._kv()))

    def __repr__(self) -> str:
        kind, name, _ = self
        return f"Message({kind.value}, {name!r}, {self.headers!r})"


_tuple_new = tuple.__new__


def _framed(kind: MessageKind, name: str, text: str) -> Message:
    return _tuple_new(Message, (kind, name, text))


def _eager(kind: MessageKind, name: str, keys: tuple[str, ...], values: tuple[str, ...]) -> Message:
    m: Message = _tuple_new(Message, (kind, name, None))
    m.__dict__["_kv_cache"] = (keys, values)
    return m


@dataclass(frozen=True, slots=True)
class ProtocolError:
    """Bytes that are not an AMI message. ``raw`` is kept (truncated) for the log."""

    reason: str
    raw: bytes


# Where a real message may start inside a block that began with garbage.
_MESSAGE_START = re.compile(r"(?:Event|Response|Action): ")
_partition = str.partition
# One pass over a region: each ``(key, name)`` of a message's first line after an empty line, and
# ``("", "")`` for a line break followed neither by ``key: `` (ASCII word characters and dashes) nor
# by the empty line between messages. With no ``("", "")``, every line is ``key: value``.
_HEADS_AND_BAD_LINES = re.compile(
    r"\r\n\r\n(Event|Response|Action): ([^\r\n]*+)(?=\r\n)|\r\n(?![A-Za-z0-9_-]++: |\r\n)"
)
_BAD = ("", "")
_KIND_PREFIXES = ("Event: ", "Response: ", "Action: ")


def _split_line(line: str) -> tuple[str, str] | None:
    key, sep, value = line.partition(": ")
    if not sep:
        key, sep, value = line.partition(":")
        if not sep:
            return None
    if not key:
        return None
    return key, value


def _decode_text(text: str, raw: bytes) -> Message | ProtocolError:
    """Decode one message (without its terminating empty line)."""
    # Fast path: partition every line in C and transpose; exact whenever every line has ": ".
    keys, seps, values = zip(*map(_partition, text.split("\r\n"), repeat(": ")), strict=True)
    kind = _KIND_BY_KEY.get(keys[0])
    if kind is not None and "" not in seps and "" not in keys:
        return _eager(kind, values[0], keys, values)
    return _decode_slow(text, raw)


def _decode_slow(text: str, raw: bytes) -> Message | ProtocolError:
    keys: list[str] = []
    values: list[str] = []
    for line in text.split("\r\n"):
        if not line.strip():
            continue
        pair = _split_line(line)
        if pair is None:
            return ProtocolError(f"line without 'Key: Value': {line[:80]!r}", raw[:_RAW_KEEP])
        keys.append(pair[0])
        values.append(pair[1])
    if not keys:
        return ProtocolError("empty message", raw[:_RAW_KEEP])
    for i, key in enumerate(keys):
        kind = _KIND_BY_KEY.get(key) or _KIND_BY_LOWER_KEY.get(key.lower())
        if kind is not None:
            return _eager(kind, values[i], tuple(keys), tuple(values))
    return ProtocolError("message has no Event, Response or Action", raw[:_RAW_KEEP])


def decode_message(block: bytes) -> Message | ProtocolError:
    """Decode one message without its terminating empty line.

    Invalid UTF-8 is replaced (a stray Latin-1 byte in a caller name must not cost the event).
    """
    try:
        text = block.decode("utf-8")
    except UnicodeDecodeError:
        text = block.decode("utf-8", errors="replace")
    return _decode_text(text, block)


def _salvage(text: str, error: ProtocolError, out: list[Message | ProtocolError]) -> None:
    """Garbage glued in front of a message: keep the message, report the garbage."""
    for m in _MESSAGE_START.finditer(text):
        start = m.start()
        if start == 0:
            continue
        salvaged = _decode_text(text[start:], text[start:].encode())
        if not isinstance(salvaged, ProtocolError):
            garbage = text[:start].encode("utf-8", errors="replace")
            out.append(ProtocolError(error.reason, garbage[:_RAW_KEEP]))
            out.append(salvaged)
            return
    out.append(error)


class AmiDecoder:
    """Incremental decoder. Feed it bytes as they arrive; it returns complete messages.

    ``drop_events`` names events to discard after reading only their first line (the link drops
    noise such as VarSet and Newexten this way, about half of a busy server's traffic);
    ``dropped`` counts them.
    """

    __slots__ = (
        "_buf",
        "_expect_banner",
        "protocol_errors",
        "_drop",
        "_drop_prefixes",
        "dropped",
        "_lazy",
    )

    def __init__(self, expect_banner: bool = True, drop_events: Iterable[str] = ()) -> None:
        self._buf = b""
        #: Off only in tests, to compare on-demand splitting with the eager decode.
        self._lazy = True
        self._expect_banner = expect_banner
        self._drop = frozenset(drop_events)
        self._drop_prefixes = tuple(f"Event: {name}\r\n" for name in self._drop)
        self.protocol_errors = 0
        self.dropped = 0

    @property
    def buffered(self) -> int:
        """Bytes received but not yet part of a complete message."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[Message | ProtocolError]:
        buf = self._buf + data if self._buf else data
        out: list[Message | ProtocolError] = []
        if self._expect_banner:
            nl = buf.find(b"\r\n")
            if nl < 0:
                if len(buf) > MAX_MESSAGE_BYTES:
                    out.append(ProtocolError("no AMI banner", buf[:_RAW_KEEP]))
                    self.protocol_errors += 1
                    buf = b""
                self._buf = buf
                return out
            line = buf[:nl].decode("utf-8", errors="replace")
            buf = buf[nl + 2 :]
            self._expect_banner = False
            if line.startswith(BANNER_PREFIX):
                out.append(_eager(MessageKind.BANNER, line, (), ()))
            else:
                out.append(ProtocolError("no AMI banner", line.encode()[:_RAW_KEEP]))
                self.protocol_errors += 1
        end = buf.rfind(_SEP)
        if end < 0:
            rest = buf
        else:
            rest = buf[end + 4 :]
            region = buf[:end]
            try:
                text = region.decode("utf-8")
            except UnicodeDecodeError:
                # Only the blocks holding bad bytes get replacement characters.
                blocks = [b.decode("utf-8", errors="replace") for b in region.split(_SEP)]
                self._decode_blocks(blocks, out, lazy=False)
            else:
                blocks = text.split("\r\n\r\n")
                heads = _HEADS_AND_BAD_LINES.findall(text) if self._lazy else [_BAD]
                lines_ok = _BAD not in heads
                if not (lines_ok and self._frame(blocks, heads, out)):
                    self._decode_blocks(blocks, out, lines_ok)
        if len(rest) > MAX_MESSAGE_BYTES:
            out.append(ProtocolError("message larger than MAX_MESSAGE_BYTES", rest[:_RAW_KEEP]))
            self.protocol_errors += 1
            rest = b""
        self._buf = rest
        return out

    def _frame(
        self, blocks: list[str], heads: list[tuple[str, str]], out: list[Message | ProtocolError]
    ) -> bool:
        """The common case at C speed; ``False`` (nothing done) when a block does not fit.

        Every line of the region is ``key: value`` (the caller checked), every block starts with
        its kind and has more than one line, and ``heads`` holds the kind and name of every block
        but the first. Each block becomes a message holding its text.
        """
        if len(heads) != len(blocks) - 1:
            return False  # a first line with a lone CR or LF in its name
        if not all(map(str.startswith, blocks, repeat(_KIND_PREFIXES))):
            return False
        if not all(map(str.__contains__, blocks, repeat("\r\n"))):
            return False  # a one-line block: its whole text is its first line
        first = blocks[0]
        i = first.find(": ")
        heads.insert(0, (first[:i], first[i + 2 : first.find("\r\n")]))
        if self._drop:
            keep = list(map(not_, map(str.startswith, blocks, repeat(self._drop_prefixes))))
            kept = list(compress(blocks, keep))
            self.dropped += len(blocks) - len(kept)
            if not kept:
                return True
            blocks = kept
            heads = list(compress(heads, keep))
        kind_keys, names = zip(*heads, strict=True)
        kinds = map(_KIND_BY_KEY.__getitem__, kind_keys)
        out += map(_tuple_new, repeat(Message), zip(kinds, names, blocks, strict=True))
        return True

    def _decode_blocks(
        self, blocks: list[str], out: list[Message | ProtocolError], lazy: bool
    ) -> None:
        """Decode complete blocks into ``out``.

        ``lazy`` says that every line of every block is ``key: value`` (the caller checked the
        whole region with one regular expression): a block whose first line names its kind then
        becomes a message holding its text, split later if at all. Anything else is decoded now.
        """
        drop = self._drop
        kinds = _KIND_BY_KEY
        event = MessageKind.EVENT
        find = str.find
        sep = ": "
        append = out.append
        for block in blocks:
            i = find(block, sep)
            kind = kinds.get(block[:i]) if i > 0 else None
            if kind is not None:
                nl = find(block, "\r\n", i)
                name = block[i + 2 : nl] if nl >= 0 else block[i + 2 :]
                if kind is event and drop and name in drop:
                    self.dropped += 1
                    continue
                if lazy:
                    append(_framed(kind, name, block))
                    continue
                keys, seps, values = zip(
                    *map(_partition, block.split("\r\n"), repeat(sep)), strict=True
                )
                if "" not in seps and "" not in keys:
                    append(_eager(kind, name, keys, values))
                    continue
            if not block.strip("\r\n"):
                continue
            msg = _decode_slow(block, block.encode("utf-8", errors="replace"))
            if isinstance(msg, ProtocolError):
                self.protocol_errors += 1
                _salvage(block, msg, out)
            else:
                out.append(msg)


Fields = Mapping[str, str | Iterable[str]] | Iterable[tuple[str, str]]


def _pairs(fields: Fields) -> Iterator[tuple[str, str]]:
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
    if "\r" in name or "\n" in name:
        raise ValueError(f"AMI {first_key} {name!r} has a line break")
    for key, value in _pairs(fields):
        if "\r" in value or "\n" in value or "\r" in key or "\n" in key or ":" in key or not key:
            raise ValueError(f"AMI header {key!r} is empty or has a line break or colon")
        lines.append(f"{key}: {value}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")


def encode_message(msg: Message) -> bytes:
    """Encode a decoded message back to bytes (the simulator and tests use this)."""
    first = {
        MessageKind.EVENT: "Event",
        MessageKind.RESPONSE: "Response",
        MessageKind.ACTION: "Action",
    }
    if msg.kind is MessageKind.BANNER:
        return f"{msg.name}\r\n".encode()
    lines = [f"{k}: {v}" for k, v in zip(msg.keys, msg.values, strict=True)]
    if not msg.keys or msg.keys[0] != first[msg.kind]:
        lines.insert(0, f"{first[msg.kind]}: {msg.name}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")


def encode_action(action: str, fields: Fields = ()) -> bytes:
    return encode("Action", action, fields)


def banner(version: str = "11.0.0") -> bytes:
    return f"{BANNER_PREFIX}{version}\r\n".encode()
