"""Sans-IO AMI codec: bytes in, immutable messages out; messages in, bytes out.

No sockets here (the pattern of wazo-amid's parser and hypercorn's protocols): the link feeds
whatever TCP gave it and gets back complete messages. Framing follows AMI-NOTES.md:

* the banner ``Asterisk Call Manager/x.y.z`` is one CRLF-terminated line with no empty line after
  it, so it is taken off before splitting the rest;
* a message is ``Key: Value`` lines closed by an empty line: the buffer is split on ``\\r\\n\\r\\n``
  first and each complete message is decoded second, so a UTF-8 character split across reads
  survives; a message ends at the first empty line after its start (split from the left);
* keys may repeat (``Variable``, ``ChanVariable``, ``Output``): all are kept, in order. Asterisk 22
  sends command output as one ``Output:`` header per line (no bare output lines, no
  ``--END COMMAND--``), so every line of a message is a header.

A line's key is the text before its first ``": "`` (what Asterisk writes); a line with only a bare
``:`` (``Key:``) splits on that colon. Garbage never raises out of :meth:`AmiDecoder.feed`; it comes
back as a :class:`ProtocolError` in the message stream, which the link logs and counts (and drops
the connection after too many). What comes out never depends on how the stream was cut into
reads. The rules, in the order the decoder meets them:

* **Size**: a message (its bytes up to its empty line) over :data:`MAX_MESSAGE_BYTES` is one
  ProtocolError, whether it came in one read or many. Once an incomplete message is over the
  limit (plus the 3 bytes that could begin its empty line) it is dropped and everything up to
  its empty line is discarded unread: nothing inside an oversized message can come out as a
  message or a header (resyncing mid-message let data such as ``Note: Event: Hangup`` become an
  event). Memory stays bounded: at most the limit and one read are buffered.
* **Line endings**: lines end with CRLF only; a bare CR or LF never ends a line, since treating
  one as a line break would let text inside a value start a line. LF-only framing is refused,
  not accepted: Asterisk always writes CRLF, panoramisk splits on CRLF CRLF too, and accepting
  LF would make a bare LF in a value (a caller ID name) able to forge headers. A peer that
  frames with bare LF never sends CRLF CRLF, so it is named at once: a message (or banner) whose
  first line ends in a bare LF gives a ProtocolError with :data:`LF_REASON` as soon as that line
  arrives, once per message, not an "oversized message" after 1 MiB.
* **First line**: a message starts at the first line, at a line start, that is ``Event:``,
  ``Response:`` or ``Action:`` (the key in any case) and holds no bare CR or LF
  (``Event: Hangup\\rChannel: x`` names no event). Lines before it are garbage glued in front
  (no empty line between): one ProtocolError, and they are left out, so a header never comes
  from garbage, even one that looks like ``Key: Value``. Never from the middle of a line:
  garbage glued to a message without a line break costs that message, because ``Event:``
  mid-line is what a header value holding it looks like. A block without such a line is one
  ProtocolError.
* **Other lines**: a line that is not ``Key: Value`` (or has a bare CR or LF in its key) is left
  out and reported by one ProtocolError per message, naming it; the message keeps its other
  headers, since a dialer must not lose a Hangup to one odd line. A bare CR or LF inside a
  value stays in the value without an error: it cannot start a line, and values carry what
  callers send, which must not be able to raise protocol errors and so tear the link down.

Speed: a loaded dialer receives thousands of events a second, and most of them are never read
beyond their name (VarSet, Newexten, DeviceStateChange: about half of a busy server's traffic,
dropped by the link or ignored by :func:`dialerd.ami.events.normalise`). So nothing is done per
message in Python while framing: :meth:`AmiDecoder.feed` decodes each read's complete region
once, splits it into blocks, drops noise events by their first line, and builds every other
message in C as ``(kind, name, text)``. A header is read by a substring search of ``text``
(:meth:`Message.get`); keys and values are split from ``text`` only when all of them are asked
for (``keys``, ``values``, ``headers``, equality), and kept.

Why on-demand parsing gives exactly the eager results: whether a block is a message or a
:class:`ProtocolError` must be known at framing time, so before a block is kept unsplit one
regular expression (``_BAD_LINE``), run once over all kept blocks of the read, proves that every
line is ``key: value`` (a key of ASCII letters, digits, ``_`` or ``-``, then ``": "``), and each
block's first line is taken apart into its ``Event``/``Response``/``Action`` kind and name. For
such lines the later split (``": "`` replaced by CRLF and one split, or a partition per line
when a value holds ``": "``) is the same as the eager decode's ``partition(": ")`` per line, and
the line a search for ``"\\r\\n" + key + ": "`` finds is the one the split would give that key
(see :func:`_needles`). A bare CR or LF in a value is neither a line break for the split nor
for the search, as for the eager decode. Dropped blocks are not checked beyond their first line,
as in the eager decode. A block that does not fit -- a bad line, a one-line message, a first line
that is not ``Kind: name`` without a bare CR or LF -- goes through the eager, line-by-line decode
on its own; invalid UTF-8 sends the read's blocks there, and a read holding a message over the
limit is framed a run of blocks at a time around it. The Hypothesis tests in
``tests/unit/test_ami_codec.py`` feed valid streams, arbitrary byte soup, streams with odd lines
and keys that clash when case is ignored through both paths (``_lazy`` off and on) under random
read splits and compare every accessor; the recorded sessions are compared too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from itertools import compress, repeat
from operator import add, is_not, itemgetter, not_
from typing import Any, cast, overload

BANNER_PREFIX = "Asterisk Call Manager/"
_SEP = b"\r\n\r\n"
#: A peer that sends this much without an empty line is not speaking AMI.
MAX_MESSAGE_BYTES = 1 << 20
#: An incomplete message longer than this is over the limit even if its last 3 bytes begin its
#: empty line; only the first line's LF within it counts (see _lf_head).
_PENDING_MAX = MAX_MESSAGE_BYTES + 3
TOO_LARGE_REASON = "message larger than MAX_MESSAGE_BYTES"
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


class _SplitHeaders:
    """``Message.keys`` and ``Message.values``: split on the first read, then plain attributes.

    A non-data descriptor: once :meth:`Message._kv` has put ``keys`` and ``values`` in the
    instance dict, attribute lookup finds them there in C and this is not called again.
    """

    __slots__ = ("_index",)

    def __init__(self, index: int) -> None:
        self._index = index

    @overload
    def __get__(self, obj: None, owner: type[Any] | None = None) -> _SplitHeaders: ...

    @overload
    def __get__(self, obj: Message, owner: type[Any] | None = None) -> tuple[str, ...]: ...

    def __get__(
        self, obj: Message | None, owner: type[Any] | None = None
    ) -> tuple[str, ...] | _SplitHeaders:
        if obj is None:
            return self
        return obj._kv()[self._index]


class Message(tuple[MessageKind, str, str | None]):
    """One AMI message. ``name`` is the Event, Response or Action value (or the banner text).

    Immutable and hashable. Build one with ``Message(kind, name, headers)`` where ``headers`` is a
    sequence of ``(key, value)`` pairs. A message that :class:`AmiDecoder` framed keeps its text,
    reads single headers out of it, and splits it into keys and values only when they are asked
    for (see the module docstring); from the outside the two are indistinguishable, and equal when
    their kind, name and headers are. Underneath it is the tuple ``(kind, name, text)`` (built in
    C, one per message, which is what makes framing cheap); the split headers are kept in the
    instance dict, once.
    """

    def __new__(
        cls, kind: MessageKind, name: str, headers: Iterable[tuple[str, str]] = ()
    ) -> Message:
        pairs = tuple(headers)
        self = tuple.__new__(cls, (kind, name, None))
        cache = self.__dict__
        cache["keys"] = tuple(k for k, _ in pairs)
        cache["values"] = tuple(v for _, v in pairs)
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
        split in C give keys and values alternately; otherwise each line is partitioned. With
        ``L`` lines, each holding at least one ``": "``, the replace-split gives ``L + count(": ")``
        parts, and ``count(":") >= count(": ") >= L``: so ``2 * count(":")`` parts (a count of one
        character, the cheaper one) or ``2 * count(": ")`` prove one ``": "`` per line.
        """
        cache = self.__dict__
        keys: tuple[str, ...] | None = cache.get("keys")
        if keys is not None:
            return keys, cache["values"]
        _, _, text = self
        assert text is not None
        parts = text.replace(": ", "\r\n").split("\r\n")
        n = len(parts)
        if n == 2 * text.count(":") or n == 2 * text.count(": "):
            keys = tuple(parts[0::2])
            values = tuple(parts[1::2])
        else:
            keys, _, values = zip(*map(_partition, text.split("\r\n"), repeat(": ")), strict=True)
        cache["keys"] = keys
        cache["values"] = values
        return keys, values

    keys = _SplitHeaders(0)
    values = _SplitHeaders(1)

    @property
    def headers(self) -> tuple[tuple[str, str], ...]:
        keys, values = self._kv()
        return tuple(zip(keys, values, strict=True))

    def get(self, key: str, default: str | None = None) -> str | None:
        """First value of ``key`` (exact spelling first, then case-insensitive), or ``default``.

        On framed text this is a substring search for the key's line, without splitting the
        message (see :func:`_needles` for why that finds exactly the line the split would).
        """
        _, _, text = self
        if text is not None:
            needles = _NEEDLES.get(key)
            if needles is None:
                needles = _needles(key)
            if needles is not _NO_NEEDLES:
                line, skip, head, _, _ = needles
                if head and text.startswith(head):
                    i = len(head)
                else:
                    i = text.find(line)
                    if i < 0:
                        return self._get_folded(text, key, needles, default)
                    i += skip
                j = text.find("\r\n", i)
                return text[i:j] if j >= 0 else text[i:]
        return self._get_split(key, default)

    def _get_folded(
        self, text: str, key: str, needles: _Needles, default: str | None
    ) -> str | None:
        """``get`` when no line has exactly ``key``: the first line whose key matches ignoring case.

        On ASCII text lowering keeps every position, so the value is cut from ``text`` where the
        lowered needle was found in the lowered text.
        """
        if not text.isascii():
            return self._get_split(key, default)
        _, _, _, line, head = needles
        low = text.lower()
        if head and low.startswith(head):
            i = len(head)
        else:
            i = low.find(line)
            if i < 0:
                return default
            i += len(line)
        j = text.find("\r\n", i)
        return text[i:j] if j >= 0 else text[i:]

    def _get_split(self, key: str, default: str | None) -> str | None:
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


def _eager(kind: MessageKind, name: str, keys: tuple[str, ...], values: tuple[str, ...]) -> Message:
    m: Message = _tuple_new(Message, (kind, name, None))
    cache = m.__dict__
    cache["keys"] = keys
    cache["values"] = values
    return m


@dataclass(frozen=True, slots=True)
class ProtocolError:
    """Bytes that are not an AMI message. ``raw`` is kept (truncated) for the log."""

    reason: str
    raw: bytes


_partition = str.partition
_first = itemgetter(0)
_Head = tuple[MessageKind, str]
#: A first line: an event the decoder drops, or not ``Event|Response|Action: name`` at all.
#: (A first line has no CRLF, so these never equal a real one.)
_DROP: _Head = (MessageKind.EVENT, "\r\n drop")
_ODD: _Head = (MessageKind.BANNER, "\r\n odd")
_HEADS_MAX = 4096
# A line break that is followed neither by ``key: `` (a key of ASCII letters, digits, ``_`` or
# ``-``) nor by the empty line between messages. Where this never matches, every line but the
# region's first is ``key: value``.
# (Two lookaheads run faster in ``re`` than one with an alternation.)
_BAD_LINE = re.compile(r"\r\n(?![A-Za-z0-9_-]++: )(?!\r\n)")
_KEY = re.compile(r"[A-Za-z0-9_-]+")
#: :meth:`Message.get`'s needles per key (see :func:`_needles`). Keys come from code, so this stays
#: small; bounded anyway.
_Needles = tuple[str, int, str, str, str]
_NEEDLES: dict[str, _Needles] = {}
_NEEDLES_MAX = 4096
_NO_NEEDLES: _Needles = ("", 0, "", "", "")
_LOWER_KIND_KEYS = frozenset(k.lower() for k in _KIND_BY_KEY)


def _needles(key: str) -> _Needles:
    """What :meth:`Message.get` searches framed text for: ``\\r\\nKey: ``, its length, ``Key: ``
    when the key can be the first line's (a kind key, else ``""``), and the lowered two.

    Framed text has passed ``_BAD_LINE``: every line is ``key: value`` with a key of
    ``[A-Za-z0-9_-]``, and the first line is ``Event: ``, ``Response: `` or ``Action: ``. For a
    ``key`` of that alphabet, a line starts with ``key + ": "`` exactly when the split gives it
    that key (the key has no colon, so its first ``": "`` is right after it), and every line but
    the first starts after ``\\r\\n``. Other keys (``_NO_NEEDLES``) go through the split.
    """
    needles = _NO_NEEDLES
    if _KEY.fullmatch(key):
        lower = key.lower()
        needles = (
            f"\r\n{key}: ",
            len(key) + 4,
            f"{key}: " if key in _KIND_BY_KEY else "",
            f"\r\n{lower}: ",
            f"{lower}: " if lower in _LOWER_KIND_KEYS else "",
        )
    if len(_NEEDLES) < _NEEDLES_MAX:
        _NEEDLES[key] = needles
    return needles


def _split_line(line: str) -> tuple[str, str] | None:
    key, sep, value = line.partition(": ")
    if not sep:
        key, sep, value = line.partition(":")
        if not sep:
            return None
    if not key:
        return None
    return key, value


#: The reason given for a message whose first line ends with a bare LF (see the module docstring).
LF_REASON = "bare LF line ending: AMI lines end with CRLF (LF-only framing is not accepted)"


def _raw(text: str) -> bytes:
    """What a ProtocolError keeps of ``text`` for the log."""
    return text[:_RAW_KEEP].encode("utf-8", errors="replace")[:_RAW_KEEP]


def _no_break(text: str) -> bool:
    return "\r" not in text and "\n" not in text


def _lf_head(data: bytes) -> bool:
    """Whether the first line of ``data`` (a message, or the start of one) has a bare LF: its
    first ``\n`` is not preceded by ``\r``. The same test as ``"\n" in first_line`` once the
    message is complete and split on CRLF, so it can be made before the message is complete.

    Only the first ``MAX_MESSAGE_BYTES + 3`` bytes count: an incomplete message is dropped once
    it is longer (see :meth:`AmiDecoder.feed`), so a LF further on is never seen in split reads
    and must not be reported when the message came in one read either.
    """
    nl = data.find(b"\n", 0, _PENDING_MAX)
    return nl == 0 or (nl > 0 and data[nl - 1] != 13)


def _garbage_problem(line: str) -> str:
    """Why a line before a message's first line (or of a block without one) is not AMI."""
    if "\n" in line:
        return f"bare LF in line {line[:80]!r}"
    if "\r" in line:
        return f"bare CR in line {line[:80]!r}"
    if _split_line(line) is None:
        return f"line without 'Key: Value': {line[:80]!r}"
    return f"header before the Event, Response or Action line: {line[:80]!r}"


def _body_pair(line: str) -> tuple[str, str] | None:
    """A header line after the first: ``(key, value)``, or ``None`` when it is not one.

    A bare CR or LF in a key is corruption (keys come from Asterisk's code); in a value it is
    kept: lines end only at CRLF, so it cannot start a line, and values carry what callers send
    (a caller ID name), which must not raise protocol errors that could tear the link down.
    """
    pair = _split_line(line)
    if pair is None or "\r" in pair[0] or "\n" in pair[0]:
        return None
    return pair


def _decode_slow(
    text: str, drop: frozenset[str] = frozenset(), skip_head: bool = False
) -> tuple[list[Message | ProtocolError], bool]:
    """Decode one block (a message without its empty line) line by line; any block will do.

    Returns what came out, in stream order, and whether the message was an event to drop:

    * The message starts at the first line, at a line start, that is ``Event|Response|Action:
      name`` (the key in any case) without a bare CR or LF. Lines before it are garbage glued in
      front: reported by one ProtocolError and left out (a header never comes from them). Never
      from the middle of a line: ``Note: Event: Hangup`` is a header, not a message.
    * No such line: the block is one ProtocolError.
    * When the block's first line has a bare LF, that error gives :data:`LF_REASON`; with
      ``skip_head`` (the decoder already reported it while the message was incomplete) it is
      not given again.
    * After the first line, a line that is not ``Key: Value`` is left out and reported (one
      ProtocolError per message, before it); the message keeps its other headers. A dialer
      must not lose a Hangup to one odd line.
    """
    lines = text.split("\r\n")
    start = -1
    kind: MessageKind | None = None
    name = ""
    for i, line in enumerate(lines):
        if line and "\r" not in line and "\n" not in line:
            pair = _split_line(line)
            if pair is not None:
                kind = _KIND_BY_KEY.get(pair[0]) or _KIND_BY_LOWER_KEY.get(pair[0].lower())
                if kind is not None:
                    start = i
                    name = pair[1]
                    break
    out: list[Message | ProtocolError] = []
    garbage = [line for line in (lines if kind is None else lines[:start]) if line]
    if garbage:
        if "\n" in lines[0]:
            if not skip_head:
                out.append(ProtocolError(LF_REASON, _raw(text)))
        elif kind is None:
            problems = [_garbage_problem(line) for line in garbage]
            reason = next(
                (p for p in problems if not p.startswith("header before")),
                "message has no Event, Response or Action",
            )
            out.append(ProtocolError(reason, _raw(text)))
        else:
            reason = f"garbage in front of {kind.value} {name!r}: {_garbage_problem(garbage[0])}"
            out.append(ProtocolError(reason, _raw("\r\n".join(garbage))))
    if kind is None:
        return out, False
    if kind is MessageKind.EVENT and name in drop:
        return out, True  # dropped events are not read beyond their first line
    keys: list[str] = []
    values: list[str] = []
    bad: list[str] = []
    for line in lines[start:]:
        if not line:
            continue
        pair = _body_pair(line)
        if pair is None:
            bad.append(line)
            continue
        keys.append(pair[0])
        values.append(pair[1])
    if bad:
        what = (
            "bare CR or LF in a header name"
            if _split_line(bad[0]) is not None
            else "line without 'Key: Value'"
        )
        reason = f"{len(bad)} line(s) left out of {kind.value} {name!r}: {what}: {bad[0][:80]!r}"
        out.append(ProtocolError(reason, _raw(bad[0])))
    out.append(_eager(kind, name, tuple(keys), tuple(values)))
    return out, False


def decode_message(block: bytes) -> Message | ProtocolError:
    """Decode one message without its terminating empty line.

    Invalid UTF-8 is replaced (a stray Latin-1 byte in a caller name must not cost the event).
    Strict: when anything in the block is wrong (garbage in front, a bad line) the first
    ProtocolError is returned. :meth:`AmiDecoder.feed` keeps such a message and reports the
    error beside it.
    """
    try:
        text = block.decode("utf-8")
    except UnicodeDecodeError:
        text = block.decode("utf-8", errors="replace")
    got, _ = _decode_slow(text)
    for item in got:
        if isinstance(item, ProtocolError):
            return item
    return got[0] if got else ProtocolError("empty message", block[:_RAW_KEEP])


def _first_of_run(buf: bytes, end: int) -> int:
    """Where the message before ``buf[end:]`` ends, ``buf[end:end + 4]`` being the last empty
    line of a run of CRLFs (``rfind`` finds the last): messages are split from the left, so with
    an odd number of CRLFs in the run the last one begins the next block."""
    start = end - 2
    while start >= 2 and buf[start - 2 : start] == b"\r\n":
        start -= 2
    return end - 2 if (end - start) % 4 else end


class AmiDecoder:
    """Incremental decoder. Feed it bytes as they arrive; it returns complete messages.

    ``drop_events`` names events to discard after reading only their first line (the link drops
    noise such as VarSet and Newexten this way, about half of a busy server's traffic);
    ``dropped`` counts them.

    What comes out does not depend on how the stream was cut into reads (the Hypothesis tests
    check this): the same messages, and the same number of ProtocolErrors in the same places.
    """

    __slots__ = (
        "_buf",
        "_expect_banner",
        "protocol_errors",
        "_drop",
        "_drop_prefixes",
        "_heads",
        "dropped",
        "_lazy",
        "_skipping",
        "_head_reported",
    )

    def __init__(self, expect_banner: bool = True, drop_events: Iterable[str] = ()) -> None:
        self._buf = b""
        #: Off only in tests, to compare on-demand splitting with the eager decode.
        self._lazy = True
        self._expect_banner = expect_banner
        self._drop = frozenset(drop_events)
        self._drop_prefixes = tuple(f"Event: {name}\r\n" for name in self._drop)
        #: First lines seen, taken apart: ``(kind, name)``, ``_DROP`` or ``_ODD`` (see _frame).
        self._heads: dict[str, _Head] = {}
        #: Discarding the rest of a message over MAX_MESSAGE_BYTES, up to its empty line;
        #: ``_buf`` then holds only the last 3 bytes seen (an empty line split across reads).
        self._skipping = False
        #: The incomplete message in ``_buf`` has a first line with a bare LF, already reported.
        self._head_reported = False
        self.protocol_errors = 0
        self.dropped = 0

    @property
    def buffered(self) -> int:
        """Bytes received but not yet part of a complete message."""
        return 0 if self._skipping else len(self._buf)

    def _error(self, out: list[Message | ProtocolError], reason: str, raw: bytes) -> None:
        out.append(ProtocolError(reason, raw[:_RAW_KEEP]))
        self.protocol_errors += 1

    def feed(self, data: bytes) -> list[Message | ProtocolError]:
        out: list[Message | ProtocolError] = []
        if self._skipping:
            buf = self._buf + data
            end = buf.find(_SEP)
            if end < 0:
                self._buf = buf[-3:]
                return out
            self._skipping = False
            buf = buf[end + 4 :]
        else:
            buf = self._buf + data if self._buf else data
        if self._expect_banner:
            nl = buf.find(b"\n")
            if nl < 0:
                if len(buf) > MAX_MESSAGE_BYTES:
                    self._error(out, "no AMI banner", buf)
                    buf = b""
                self._buf = buf
                return out
            line = buf[:nl]
            buf = buf[nl + 1 :]
            self._expect_banner = False
            text = line[:-1].decode("utf-8", errors="replace")
            if not line.endswith(b"\r"):
                self._error(out, f"no AMI banner: {LF_REASON}", line)
            elif text.startswith(BANNER_PREFIX) and "\r" not in text:
                out.append(_eager(MessageKind.BANNER, text, (), ()))
            else:
                self._error(out, "no AMI banner", line)
        end = buf.rfind(_SEP)
        if end < 0:
            rest = buf
            if not self._head_reported and _lf_head(rest):
                self._lf_early(out, rest)
        else:
            if buf[end - 1] == 10 and end >= 2 and buf[end - 2] == 13:
                end = _first_of_run(buf, end)
            rest = buf[end + 4 :]
            region = buf[:end]
            if len(region) > MAX_MESSAGE_BYTES or self._head_reported:
                self._frame_checked(region, out)
            else:
                try:  # _frame_region, inline: this runs once per read
                    text = region.decode("utf-8")
                except UnicodeDecodeError:
                    self._frame_region(region, out)
                else:
                    if self._lazy:
                        self._frame(text, out)
                    else:
                        self._decode_blocks(text.split("\r\n\r\n"), out)
        if len(rest) > _PENDING_MAX:
            # Even if its last 3 bytes begin the empty line, the message is over the limit.
            if not self._head_reported and _lf_head(rest):
                self._lf_early(out, rest)
            self._error(out, TOO_LARGE_REASON, rest)
            self._head_reported = False
            self._skipping = True
            rest = rest[-3:]
        self._buf = rest
        return out

    def _lf_early(self, out: list[Message | ProtocolError], rest: bytes) -> None:
        """Report the bare-LF first line of the incomplete message now, and only now.

        A peer framing with bare LF never sends CRLF CRLF: its messages never complete, so it is
        named at its first line end instead of as an oversized message after 1 MiB. Checked in
        reads that complete no message (every read from such a peer) and before an incomplete
        message is dropped as oversized; any other message with a bare-LF first line is reported
        when it completes (see _decode_slow). Either way once, at the same place in the output.
        """
        self._head_reported = True
        self._error(out, LF_REASON, rest)

    def _frame_region(self, region: bytes, out: list[Message | ProtocolError]) -> None:
        """Complete messages, none over the limit, without the last empty line."""
        try:
            text = region.decode("utf-8")
        except UnicodeDecodeError:
            # Only the blocks holding bad bytes get replacement characters.
            blocks = [b.decode("utf-8", errors="replace") for b in region.split(_SEP)]
            self._decode_blocks(blocks, out)
        else:
            if self._lazy:
                self._frame(text, out)
            else:
                self._decode_blocks(text.split("\r\n\r\n"), out)

    def _frame_checked(self, region: bytes, out: list[Message | ProtocolError]) -> None:
        """Complete messages, one at a time where needed: a message over the limit is one
        ProtocolError (what the reads were does not matter), and the first message, when its
        bare-LF first line was reported while it was incomplete, is not reported again."""
        skip_head = self._head_reported
        self._head_reported = False
        run: list[bytes] = []
        for i, block in enumerate(region.split(_SEP)):
            skip = skip_head and i == 0
            too_large = len(block) > MAX_MESSAGE_BYTES
            if not (skip or too_large):
                run.append(block)
                continue
            if run:
                self._frame_region(_SEP.join(run), out)
                run = []
            if too_large:
                if not skip and _lf_head(block):
                    self._error(out, LF_REASON, block)
                self._error(out, TOO_LARGE_REASON, block)
            else:
                self._decode_blocks((block.decode("utf-8", errors="replace"),), out, True)
        if run:
            self._frame_region(_SEP.join(run), out)

    def _frame(self, text: str, out: list[Message | ProtocolError]) -> None:
        """Frame a decoded region (complete messages, without the last empty line) into ``out``.

        The common case runs at C speed, a few passes over the whole region and none in Python
        per message: split into blocks, drop noise by its first line, look every other first line
        up in the decoder's table of first lines (``Event: Hangup`` -> kind and name; a handful
        of distinct ones per session, so the names are shared strings), and prove with one
        search of ``_BAD_LINE`` over the kept text that every other line is ``key: value``.
        Each kept block then becomes a message holding its text. Dropped blocks are never looked
        at beyond their first line, as in the eager decode. If anything in the read does not
        fit, its blocks are sorted out one by one: a block that fits is still framed, any other
        goes through the eager decode, so one odd message costs only itself.
        """
        blocks = text.split("\r\n\r\n")
        if self._drop:
            # Most of a busy stream is noise: drop it before anything else is done per block.
            noise = map(str.startswith, blocks, repeat(self._drop_prefixes))
            kept = list(compress(blocks, map(not_, noise)))
            if len(kept) < len(blocks):
                self.dropped += len(blocks) - len(kept)
                if not kept:
                    return
                blocks = kept
                text = "\r\n\r\n".join(kept)
        heads = list(map(_first, map(_partition, blocks, repeat("\r\n"))))
        learned = self._heads
        got = list(map(learned.get, heads))
        if None in got:
            info = [h or self._learn(head) for h, head in zip(got, heads, strict=True)]
        else:
            info = cast(list[_Head], got)
        if _DROP in info:  # a one-line event to drop: no CRLF after its name
            keep = list(map(is_not, info, repeat(_DROP)))
            blocks = list(compress(blocks, keep))
            info = list(compress(info, keep))
            self.dropped += len(keep) - len(blocks)
            if not blocks:
                return
            text = "\r\n\r\n".join(blocks)
        if _ODD not in info and _BAD_LINE.search(text) is None:
            out += map(_tuple_new, repeat(Message), map(add, info, zip(blocks)))
            return
        search = _BAD_LINE.search
        for block, head in zip(blocks, info, strict=True):
            if head is not _ODD and search(block) is None:
                out.append(_tuple_new(Message, (*head, block)))
            else:
                self._decode_blocks((block,), out)

    def _learn(self, head: str) -> _Head:
        """Take a first line apart as the eager decode does, and remember it (names repeat)."""
        known = self._heads.get(head)  # learned earlier in the same read
        if known is not None:
            return known
        key, sep, name = head.partition(": ")
        kind = _KIND_BY_KEY.get(key)
        if kind is None or not sep or "\r" in name or "\n" in name:
            info = _ODD
        elif kind is MessageKind.EVENT and name in self._drop:
            info = _DROP
        else:
            info = (kind, name)
        if len(self._heads) >= _HEADS_MAX:
            self._heads.clear()  # a peer inventing names: keep the cache small
        self._heads[head] = info
        return info

    def _decode_blocks(
        self, blocks: Iterable[str], out: list[Message | ProtocolError], skip_head: bool = False
    ) -> None:
        """Decode complete blocks into ``out`` now, line by line (the eager decode).

        The framing path must give the same messages; the tests compare both (``_lazy``).
        ``skip_head``: the first block's bare-LF first line was already reported.
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
                if "\r" not in name and "\n" not in name:
                    if kind is event and drop and name in drop:
                        self.dropped += 1
                        skip_head = False
                        continue
                    keys, seps, values = zip(
                        *map(_partition, block.split("\r\n"), repeat(sep)), strict=True
                    )
                    joined = "".join(keys)  # a bare CR or LF in a key: the slow decode
                    if "" not in seps and "" not in keys and _no_break(joined):
                        append(_eager(kind, name, keys, values))
                        skip_head = False
                        continue
            got, dropped = _decode_slow(block, drop, skip_head)
            skip_head = False
            for item in got:
                if isinstance(item, ProtocolError):
                    self.protocol_errors += 1
                append(item)
            if dropped:
                self.dropped += 1


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
