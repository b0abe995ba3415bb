"""The AMI codec: framing, banner, repeated keys, split reads, garbage."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from dialerd.ami.codec import (
    AmiDecoder,
    Message,
    MessageKind,
    ProtocolError,
    banner,
    decode_message,
    encode,
    encode_action,
    encode_message,
)
from dialerd.ami.transcript import received_stream

KEY = st.text(
    alphabet=st.characters(min_codepoint=33, max_codepoint=126, exclude_characters=":"),
    min_size=1,
    max_size=12,
)
# Values may hold anything but line breaks, including ": " and non-ASCII text.
VALUE = st.text(
    alphabet=st.characters(exclude_categories=("Cs",), exclude_characters="\r\n"),
    max_size=30,
)
HEADERS = st.lists(st.tuples(KEY, VALUE), max_size=8)
FIRST = st.sampled_from(["Event", "Response", "Action"])
MESSAGES = st.lists(st.tuples(FIRST, VALUE, HEADERS), min_size=1, max_size=6)


def _stream(msgs: list[tuple[str, str, list[tuple[str, str]]]]) -> bytes:
    return banner() + b"".join(encode(first, name, headers) for first, name, headers in msgs)


def _feed_all(chunks: list[bytes], **kw: object) -> list[Message | ProtocolError]:
    dec = AmiDecoder(**kw)  # type: ignore[arg-type]
    out: list[Message | ProtocolError] = []
    for c in chunks:
        out += dec.feed(c)
    return out


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    chunks, prev = [], 0
    for p in points:
        chunks.append(data[prev:p])
        prev = p
    chunks.append(data[prev:])
    return chunks


@given(MESSAGES, st.lists(st.integers(min_value=0, max_value=10_000), max_size=20))
@settings(max_examples=300, deadline=None)
def test_any_split_of_a_valid_stream_gives_the_same_messages(
    msgs: list[tuple[str, str, list[tuple[str, str]]]], cuts: list[int]
) -> None:
    data = _stream(msgs)
    whole = _feed_all([data])
    assert _feed_all(_split(data, cuts)) == whole
    assert _feed_all([data[i : i + 1] for i in range(len(data))]) == whole
    decoded = [m for m in whole if isinstance(m, Message) and m.kind is not MessageKind.BANNER]
    assert len(decoded) == len(msgs)
    for m, (first, name, headers) in zip(decoded, msgs, strict=True):
        assert m.kind.value == first.lower()
        assert m.name == name
        assert m.headers == ((first, name), *headers)


@given(st.binary(max_size=400), st.lists(st.integers(min_value=0, max_value=500), max_size=8))
@settings(max_examples=400, deadline=None)
def test_garbage_never_raises_and_is_reported(garbage: bytes, cuts: list[int]) -> None:
    dec = AmiDecoder()
    out: list[Message | ProtocolError] = []
    for chunk in _split(garbage + b"\r\n\r\n", cuts):
        out += dec.feed(chunk)
    errors = [m for m in out if isinstance(m, ProtocolError)]
    assert dec.protocol_errors == len(errors)
    for m in out:
        assert isinstance(m, (Message, ProtocolError))


@given(st.binary(max_size=200))
@settings(max_examples=200, deadline=None)
def test_garbage_between_messages_costs_no_real_message(garbage: bytes) -> None:
    before = encode("Event", "Hangup", [("Uniqueid", "a-1"), ("Cause", "16")])
    after = encode("Event", "Hangup", [("Uniqueid", "b-1"), ("Cause", "17")])
    garbage = garbage.replace(b"\r\n\r\n", b"")
    # Garbage glued in front as lines of its own (a message only ever starts at a line start:
    # see test_event_in_the_middle_of_a_line_is_never_a_message).
    out = _feed_all([banner() + before + garbage + b"\r\n" + after])
    msgs = [m for m in out if isinstance(m, Message) and m.kind is MessageKind.EVENT]
    assert [m.get("Uniqueid") for m in msgs][-1] == "b-1"
    assert msgs[0].get("Uniqueid") == "a-1"


def test_garbage_glued_to_a_message_is_reported_and_the_message_salvaged() -> None:
    data = banner() + b"\x00\xffjunk\r\n" + encode("Event", "Hangup", [("Uniqueid", "x")])
    out = _feed_all([data])
    assert isinstance(out[1], ProtocolError)
    assert isinstance(out[2], Message) and out[2].get("Uniqueid") == "x"
    assert out[2].keys == ("Event", "Uniqueid")


def test_utf8_character_split_across_reads_survives() -> None:
    data = banner() + encode("Event", "Newcallerid", [("CallerIDName", "Jürgen Müller ☎")])
    for cut in range(len(data)):
        out = _feed_all([data[:cut], data[cut:]])
        assert out[-1].get("CallerIDName") == "Jürgen Müller ☎"  # type: ignore[union-attr]


def test_invalid_utf8_is_replaced_not_fatal() -> None:
    out = _feed_all([banner() + b"Event: Hangup\r\nCallerIDName: M\xfcller\r\n\r\n"])
    assert isinstance(out[1], Message)
    assert out[1].get("CallerIDName") == "M\ufffdller"


def test_repeated_keys_are_all_kept_in_order() -> None:
    msg = decode_message(
        b"Response: Success\r\nMessage: Command output follows\r\n"
        b"Output: line one\r\nOutput: line: two\r\nOutput: \r\nChanVariable: A=1"
    )
    assert isinstance(msg, Message)
    assert msg.getall("Output") == ["line one", "line: two", ""]
    assert msg.get("output") == "line one"
    assert msg.get("ChanVariable") == "A=1"


def test_banner_has_no_empty_line_and_is_taken_off_first() -> None:
    data = b"Asterisk Call Manager/11.0.0\r\nResponse: Success\r\nActionID: l-1\r\n\r\n"
    out = _feed_all([data])
    assert out[0] == Message(MessageKind.BANNER, "Asterisk Call Manager/11.0.0", ())
    assert isinstance(out[1], Message) and out[1].name == "Success"
    assert out[1].action_id == "l-1"


def test_a_stream_without_banner_reports_it() -> None:
    out = _feed_all([b"HTTP/1.1 400 Bad Request\r\n\r\n"])
    assert isinstance(out[0], ProtocolError) and "banner" in out[0].reason


def test_bare_colon_line_and_value_with_colon() -> None:
    msg = decode_message(b"Event: X\r\nEmpty:\r\nAppData: sim: live person 5550")
    assert isinstance(msg, Message)
    assert msg.get("Empty") == ""
    assert msg.get("AppData") == "sim: live person 5550"


def test_line_without_colon_is_a_protocol_error() -> None:
    assert isinstance(decode_message(b"Event: X\r\nnonsense"), ProtocolError)
    assert isinstance(decode_message(b"Foo: bar"), ProtocolError)


def test_oversized_message_is_dropped_with_an_error() -> None:
    dec = AmiDecoder(expect_banner=False)
    out = dec.feed(b"Event: X\r\nData: " + b"x" * (1 << 20) + b"\r\n")
    assert len(out) == 1 and isinstance(out[0], ProtocolError)
    assert dec.buffered == 0
    # Up to its empty line, what follows is still the oversized message, never one of its own.
    assert dec.feed(b"Event: Hangup\r\nUniqueid: forged\r\n") == []
    assert dec.feed(b"\r") == [] and dec.feed(b"\n") == []  # the empty line, split
    assert dec.feed(encode("Event", "Y"))[0].name == "Y"  # type: ignore[union-attr]
    assert dec.protocol_errors == 1


def test_drop_events_skips_noise_by_name_only() -> None:
    dec = AmiDecoder(expect_banner=False, drop_events={"VarSet"})
    out = dec.feed(encode("Event", "VarSet", [("Value", "a: b")]) + encode("Event", "Hangup"))
    assert [m.name for m in out if isinstance(m, Message)] == ["Hangup"]
    assert dec.dropped == 1


def test_encode_roundtrip_and_refuses_line_breaks() -> None:
    data = encode_action("Originate", {"Variable": ["A=1", "B=2"], "Async": "true"})
    assert data.endswith(b"\r\n\r\n")
    msg = decode_message(data[:-4])
    assert isinstance(msg, Message)
    assert msg.getall("Variable") == ["A=1", "B=2"]
    assert encode_message(msg) == data
    for bad in ({"Channel": "x\r\nAction: Hangup"}, {"Bad:Key": "v"}):
        try:
            encode_action("Originate", bad)
        except ValueError:
            continue
        raise AssertionError(f"{bad} was encoded")


def test_recorded_load_stream_decodes_without_error(transcripts_dir: Path) -> None:
    data = received_stream(transcripts_dir / "16-load.txt")
    dec = AmiDecoder()
    out = [m for i in range(0, len(data), 1400) for m in dec.feed(data[i : i + 1400])]
    assert dec.protocol_errors == 0
    events = [m for m in out if isinstance(m, Message) and m.kind is MessageKind.EVENT]
    responses = [m for m in out if isinstance(m, Message) and m.kind is MessageKind.RESPONSE]
    # README: 2,531 received messages = 2,477 events + 54 responses (incl. the Goodbye).
    assert (len(events), len(responses)) == (2477, 54)
    assert sum(1 for m in events if m.name == "VarSet") == 610


FRAGMENTS = st.lists(
    st.one_of(
        st.sampled_from(
            [b"\r\n", b"\r\n\r\n", b"Event: Hangup\r\n", b"Cause: 16\r\n", b": x\r\n"]
            # bare CR and LF, LF-only framing, a header-like garbage line, Event mid-line
            + [b"\r", b"\n", b"\n\n", b"junk: x\r\n", b"Note: Event: Hangup\r\n"]
            + [b"Event: Hangup\rChannel: x\r\n", b"broken header\r\n", b"Event: Hangup\n"]
        ),
        st.binary(max_size=12),
    ),
    max_size=20,
)


@given(FRAGMENTS, st.lists(st.integers(min_value=0, max_value=400), max_size=10))
@settings(max_examples=400, deadline=None)
def test_any_split_of_any_stream_gives_the_same_messages_and_error_count(
    fragments: list[bytes], cuts: list[int]
) -> None:
    data = banner() + b"".join(fragments) + b"\r\n\r\n"
    whole = _feed_all([data])
    split = _feed_all(_split(data, cuts))
    assert [m for m in split if isinstance(m, Message)] == [
        m for m in whole if isinstance(m, Message)
    ]
    assert sum(isinstance(m, ProtocolError) for m in split) == sum(
        isinstance(m, ProtocolError) for m in whole
    )
    # A message's headers start at its Event/Response/Action line, never at garbage before it,
    # and its name and keys hold no line break.
    first = {
        MessageKind.EVENT: "event",
        MessageKind.RESPONSE: "response",
        MessageKind.ACTION: "action",
    }
    for m in whole:
        if isinstance(m, Message) and m.kind is not MessageKind.BANNER:
            assert m.keys[0].lower() == first[m.kind]
            assert all("\r" not in k and "\n" not in k for k in (m.name, *m.keys))


# --- Headers on demand: a framed message keeps its text and splits it when first read. ---------


def _eager_decoder(**kw: object) -> AmiDecoder:
    dec = AmiDecoder(**kw)  # type: ignore[arg-type]
    dec._lazy = False  # the line-by-line decode the on-demand path must agree with
    return dec


def _run(dec: AmiDecoder, chunks: list[bytes]) -> list[Message | ProtocolError]:
    out: list[Message | ProtocolError] = []
    for c in chunks:
        out += dec.feed(c)
    return out


def _assert_same(lazy: list[Message | ProtocolError], eager: list[Message | ProtocolError]) -> None:
    """Equal, and equal field by field through every accessor (not only ``__eq__``)."""
    assert lazy == eager
    for a, b in zip(lazy, eager, strict=True):
        if isinstance(a, ProtocolError) or isinstance(b, ProtocolError):
            assert a == b
            continue
        assert (a.kind, a.name, a.keys, a.values) == (b.kind, b.name, b.keys, b.values)
        assert a.headers == b.headers and a.as_dict() == b.as_dict()
        assert hash(a) == hash(b) and repr(a) == repr(b)
        # Every key, other spellings of it (get falls back to ignoring case), the kind keys
        # (the first line), keys that are missing or outside the key alphabet.
        spellings = {
            spelled
            for key in {*a.keys, "ActionID", "nosuchkey", "Event", "Response", "Action", "a b"}
            for spelled in (key, key.lower(), key.upper(), key.swapcase())
        }
        for key in spellings:
            assert a.get(key) == b.get(key), key
            assert a.getall(key) == b.getall(key), key


@given(MESSAGES, st.lists(st.integers(min_value=0, max_value=10_000), max_size=20))
@settings(max_examples=300, deadline=None)
def test_on_demand_and_eager_decoding_agree_on_valid_streams(
    msgs: list[tuple[str, str, list[tuple[str, str]]]], cuts: list[int]
) -> None:
    data = _stream(msgs)
    drop = {name for first, name, _ in msgs[::2] if first == "Event"}
    for kw in ({}, {"drop_events": drop}):
        lazy, eager = AmiDecoder(**kw), _eager_decoder(**kw)  # type: ignore[arg-type]
        chunks = _split(data, cuts)
        _assert_same(_run(lazy, chunks), _run(eager, chunks))
        assert (lazy.dropped, lazy.protocol_errors) == (eager.dropped, eager.protocol_errors)


@given(FRAGMENTS, st.lists(st.integers(min_value=0, max_value=400), max_size=10))
@settings(max_examples=400, deadline=None)
def test_on_demand_and_eager_decoding_agree_on_any_stream(
    fragments: list[bytes], cuts: list[int]
) -> None:
    data = banner() + b"".join(fragments) + b"\r\n\r\n"
    for kw in ({}, {"drop_events": {"Hangup"}}):
        lazy, eager = AmiDecoder(**kw), _eager_decoder(**kw)  # type: ignore[arg-type]
        chunks = _split(data, cuts)
        _assert_same(_run(lazy, chunks), _run(eager, chunks))
        assert (lazy.dropped, lazy.protocol_errors) == (eager.dropped, eager.protocol_errors)


LINE = st.one_of(
    st.tuples(KEY, VALUE).map(lambda kv: f"{kv[0]}: {kv[1]}"),
    st.sampled_from(["nonsense", ": no key", "Key:", "a:b: c", "Key: a: b", "Key: x\r", "\n"]),
    st.sampled_from(["broken header", "Chan\rnel: x", "Key\n: v", " ", "Event: Other", "a\nb"]),
    VALUE,
)


@given(
    st.lists(st.tuples(FIRST, VALUE, st.lists(LINE, max_size=6)), min_size=1, max_size=5),
    st.lists(st.integers(min_value=0, max_value=2_000), max_size=8),
)
@settings(max_examples=400, deadline=None)
def test_on_demand_and_eager_decoding_agree_on_odd_lines(
    blocks: list[tuple[str, str, list[str]]], cuts: list[int]
) -> None:
    """Lines the framing check must send to the eager path: no colon, empty key, bare colon..."""
    text = "".join(
        "\r\n".join([f"{first}: {name}", *lines]) + "\r\n\r\n" for first, name, lines in blocks
    )
    data = banner() + text.encode("utf-8", errors="replace")
    chunks = _split(data, cuts)
    lazy, eager = AmiDecoder(drop_events={"VarSet"}), _eager_decoder(drop_events={"VarSet"})
    _assert_same(_run(lazy, chunks), _run(eager, chunks))
    assert (lazy.dropped, lazy.protocol_errors) == (eager.dropped, eager.protocol_errors)


def test_on_demand_and_eager_decoding_agree_on_every_recording(transcripts_dir: Path) -> None:
    recordings = sorted(transcripts_dir.glob("*.txt"))
    assert recordings
    for path in recordings:
        data = received_stream(path)
        chunks = [data[i : i + 1400] for i in range(0, len(data), 1400)]
        lazy, eager = AmiDecoder(), _eager_decoder()
        out = _run(lazy, chunks)
        assert len(out) > 1, path.name
        _assert_same(out, _run(eager, chunks))
        assert lazy.protocol_errors == eager.protocol_errors == 0, path.name


def test_a_message_is_immutable_and_hashable() -> None:
    dec = AmiDecoder(expect_banner=False)
    (framed,) = dec.feed(encode("Event", "Hangup", [("Uniqueid", "a-1"), ("Cause", "16")]))
    built = Message(
        MessageKind.EVENT, "Hangup", [("Event", "Hangup"), ("Uniqueid", "a-1"), ("Cause", "16")]
    )
    assert framed == built and hash(framed) == hash(built) and {framed: 1}[built] == 1
    assert isinstance(framed, Message)
    for msg in (framed, built):
        try:
            msg.name = "Other"  # type: ignore[misc]
        except AttributeError:
            pass
        else:
            raise AssertionError("a message was changed")
        assert msg.name == "Hangup" and msg["cause"] == "16"
    import pickle

    assert pickle.loads(pickle.dumps(framed)) == built


# Keys that collide when case is ignored, are prefixes of each other, or equal a kind key.
CLASHING_KEY = st.sampled_from(
    ["ActionID", "actionid", "ACTIONID", "Cause", "cause", "Cause-txt", "Event", "event", "EVENT"]
)
CLASHING_VALUE = st.one_of(
    VALUE, st.sampled_from(["ActionID: x", "Cause: 16", "Ünïcode: ß", "İstanbul", ""])
)


@given(
    st.lists(
        st.tuples(FIRST, VALUE, st.lists(st.tuples(CLASHING_KEY, CLASHING_VALUE), max_size=6)),
        min_size=1,
        max_size=4,
    ),
    st.lists(st.integers(min_value=0, max_value=2_000), max_size=6),
)
@settings(max_examples=300, deadline=None)
def test_on_demand_get_agrees_with_eager_on_clashing_keys(
    msgs: list[tuple[str, str, list[tuple[str, str]]]], cuts: list[int]
) -> None:
    """``get`` on framed text searches for the key's line; it must pick the line the split
    would: exact spelling first, then the first ignoring case, never a key's prefix or a value."""
    chunks = _split(_stream(msgs), cuts)
    _assert_same(_run(AmiDecoder(), chunks), _run(_eager_decoder(), chunks))


def test_get_on_framed_text_prefers_the_exact_spelling() -> None:
    (msg,) = AmiDecoder(expect_banner=False).feed(
        b"Event: X\r\nACTIONID: a\r\nAppData: Cause: 1\r\nActionID: b\r\nCause-txt: Unknown\r\n\r\n"
    )
    assert isinstance(msg, Message) and msg[2] is not None  # framed, not split yet
    assert msg.get("ActionID") == "b"
    assert msg.get("actionid") == "a"
    assert msg.get("Cause") is None  # only in a value and as a prefix of Cause-txt
    assert msg.get("event") == "X" and msg.get("Event") == "X"
    assert msg.get("Response") is None


def test_first_lines_are_learned_once_and_names_shared() -> None:
    from dialerd.ami import codec

    dec = AmiDecoder(expect_banner=False, drop_events={"VarSet"})
    data = (
        encode("Event", "Hangup", [("Uniqueid", "a")])
        + b"Event: VarSet\r\n\r\n"  # one line: no CRLF after the name, still dropped
        + encode("Event", "Hangup", [("Uniqueid", "b")])
    )
    first, second = dec.feed(data)
    assert isinstance(first, Message) and isinstance(second, Message)
    assert first.name == second.name == "Hangup" and first.name is second.name
    assert dec.dropped == 1 and dec.protocol_errors == 0
    # A peer inventing names cannot grow the table without bound.
    many = b"".join(encode("Event", f"E{i}", [("K", "v")]) for i in range(codec._HEADS_MAX + 10))
    out = dec.feed(many)
    assert [m.name for m in out if isinstance(m, Message)][-1] == f"E{codec._HEADS_MAX + 9}"
    assert len(dec._heads) <= codec._HEADS_MAX


# --- Resync, size limit, odd lines: nothing is invented, nothing real is lost to one odd line. ---

EVIL_TAIL = (
    b"\r\nNote: Event: Hangup\r\nChannel: Local/evil\r\nUniqueid: 999.1\r\nCause: 16\r\n\r\n"
)
HANGUP = encode("Event", "Hangup", [("Channel", "Local/ok"), ("Uniqueid", "1.1"), ("Cause", "16")])


def _typed(out: list[Message | ProtocolError]) -> list[object]:
    from dialerd.ami.events import normalise

    return [normalise(m) for m in out if isinstance(m, Message)]


def _chunks(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def test_resync_after_an_oversized_message_invents_no_event() -> None:
    """Audit 1: a UserEvent over the limit whose data ends in a line holding ``Event: Hangup``
    mid-line and forged headers after it. The whole message is dropped up to its empty line, as
    one ProtocolError; the decoder resumes with the next real message."""
    evil = b"Event: UserEvent\r\nData: " + b"x" * (2 << 20) + EVIL_TAIL
    for chunks in (_chunks(evil + HANGUP, 60_000), [evil + HANGUP], _chunks(evil + HANGUP, 4096)):
        dec = AmiDecoder(expect_banner=False)
        out = _run(dec, chunks)
        assert [type(m) for m in out] == [ProtocolError, Message], len(chunks)
        assert out[0].reason == "message larger than MAX_MESSAGE_BYTES"  # type: ignore[union-attr]
        assert out[1].get("Uniqueid") == "1.1"  # type: ignore[union-attr]
        assert [getattr(e, "uniqueid", None) for e in _typed(out)] == ["1.1"]
        assert dec.protocol_errors == 1 and dec.buffered == 0


def test_event_in_the_middle_of_a_line_is_never_a_message() -> None:
    """Audit 1: salvage starts a message only at a line start."""
    for block in (
        b"xxxx\r\nNote: Event: Hangup\r\nChannel: Local/evil\r\nUniqueid: 999.1\r\nCause: 16",
        b"\x00\xffjunkEvent: Hangup\r\nUniqueid: 999.1",
        b"Data: Event: Hangup\r\nUniqueid: 999.1",
    ):
        for lazy in (True, False):
            dec = AmiDecoder(expect_banner=False)
            dec._lazy = lazy
            out = dec.feed(block + b"\r\n\r\n" + HANGUP)
            assert [type(m) for m in out] == [ProtocolError, Message], block
            assert out[1].get("Uniqueid") == "1.1"  # type: ignore[union-attr]


def test_the_size_limit_does_not_depend_on_how_reads_split() -> None:
    """Audit 2: a message over MAX_MESSAGE_BYTES is refused whole or split, one at the limit
    accepted whole or split, whatever the reads (the empty line itself split included)."""
    from dialerd.ami.codec import MAX_MESSAGE_BYTES

    head = b"Event: UserEvent\r\nData: "
    for size, accepted in ((MAX_MESSAGE_BYTES, True), (MAX_MESSAGE_BYTES + 1, False)):
        body = head + b"x" * (size - len(head))
        assert len(body) == size
        data = body + b"\r\n\r\n" + HANGUP
        splits = [[data], _chunks(data, 65536), _chunks(data, 60_000)]
        splits += [[data[:cut], data[cut:]] for cut in range(size - 2, size + 5)]
        for chunks in splits:
            dec = AmiDecoder(expect_banner=False)
            out = _run(dec, chunks)
            kinds = [type(m) for m in out]
            assert kinds == ([Message, Message] if accepted else [ProtocolError, Message])
            assert out[-1].get("Uniqueid") == "1.1"  # type: ignore[union-attr]
            if accepted:
                assert out[0].get("Data") == "x" * (size - len(head))  # type: ignore[union-attr]


def test_a_run_of_empty_lines_frames_the_same_whatever_the_reads() -> None:
    """Messages are split from the left: after ``A`` CRLF CRLF CRLF the next block begins with
    the third CRLF, also when a read ends right after it (which once framed from the right).
    Seen at the size limit: that CRLF makes a message of exactly MAX_MESSAGE_BYTES too large."""
    from dialerd.ami.codec import MAX_MESSAGE_BYTES

    head = b"Event: UserEvent\r\nData: "
    body = head + b"x" * (MAX_MESSAGE_BYTES - len(head))
    first = HANGUP[:-2]  # ends with one CRLF; with the next three: a run of three
    data = first + b"\r\n\r\n" + body + b"\r\n\r\n" + HANGUP
    cut = len(first) + 4
    for chunks in ([data], [data[:cut], data[cut:]], [data[: cut - 1], data[cut - 1 :]]):
        out = _run(AmiDecoder(expect_banner=False), chunks)
        assert [type(m) for m in out] == [Message, ProtocolError, Message], len(chunks[0])


def test_one_bad_header_line_costs_only_that_line() -> None:
    """Audit 3: a Hangup with a line that is not ``Key: Value`` is kept with its good headers,
    and a ProtocolError names the bad line."""
    data = (
        b"Event: Hangup\r\nChannel: Local/1@x-0;1\r\nbroken header\r\n"
        b"Uniqueid: 1.1\r\nCause: 16\r\n\r\n"
    )
    for lazy in (True, False):
        for chunks in ([data], [data[:30], data[30:]]):
            dec = AmiDecoder(expect_banner=False)
            dec._lazy = lazy
            out = _run(dec, chunks)
            assert [type(m) for m in out] == [ProtocolError, Message]
            assert "'broken header'" in out[0].reason  # type: ignore[union-attr]
            msg = out[1]
            assert isinstance(msg, Message) and msg.name == "Hangup"
            assert msg.keys == ("Event", "Channel", "Uniqueid", "Cause")
            (hangup,) = _typed(out)
            assert getattr(hangup, "uniqueid", None) == "1.1"
            assert getattr(hangup, "cause", None) == 16
            assert dec.protocol_errors == 1


def test_command_output_as_asterisk_22_sends_it_has_no_error() -> None:
    """AMI-NOTES: one ``Output:`` line per line of output, no ``--END COMMAND--``."""
    data = (
        b"Response: Success\r\nActionID: c-1\r\nMessage: Command output follows\r\n"
        b"Output: Asterisk 22.10.1 built by root\r\nOutput: \r\nOutput: a: b\r\n\r\n"
    )
    dec = AmiDecoder(expect_banner=False)
    (msg,) = dec.feed(data)
    assert isinstance(msg, Message)
    assert msg.getall("Output") == ["Asterisk 22.10.1 built by root", "", "a: b"]
    assert dec.protocol_errors == 0


def test_lf_only_framing_is_reported_at_once_and_by_name() -> None:
    """Audit 4: a peer framing with bare LF never sends CRLF CRLF. It is reported at its first
    line ending, not after 1 MiB as an oversized message."""
    dec = AmiDecoder()
    out = dec.feed(b"Asterisk Call Manager/11.0.0\n")
    assert len(out) == 1 and isinstance(out[0], ProtocolError)
    assert "bare LF" in out[0].reason and "banner" in out[0].reason
    out = dec.feed(b"Response: Success\nActionID: l-1\n")
    assert len(out) == 1 and isinstance(out[0], ProtocolError) and "bare LF" in out[0].reason
    assert dec.feed(b"Message: Authentication accepted\n\nEvent: FullyBooted\n\n") == []
    assert dec.protocol_errors == 2
    # After a CRLF banner too, and once per message however the reads split.
    whole = _run(AmiDecoder(), [banner() + b"Event: Hangup\nUniqueid: 1\n\n"])
    assert [type(m) for m in whole] == [Message, ProtocolError]
    assert whole[1].reason.startswith("bare LF line ending")  # type: ignore[union-attr]


def test_a_bare_lf_first_line_is_reported_once_however_reads_split() -> None:
    data = b"junk\nmore\r\nEvent: Hangup\r\nUniqueid: 1.1\r\n\r\n" + HANGUP
    expected = None
    for cut in range(len(data) + 1):
        out = _run(AmiDecoder(expect_banner=False), [data[:cut], data[cut:]])
        kinds = [type(m) for m in out]
        assert kinds == [ProtocolError, Message, Message], cut
        assert "bare LF" in out[0].reason  # type: ignore[union-attr]
        msgs = [m for m in out if isinstance(m, Message)]
        expected = expected or msgs
        assert msgs == expected


def test_bare_cr_in_the_first_line_is_reported() -> None:
    """Audit 5: ``Event: Hangup\\rChannel: x`` is no event name. (A bare CR or LF inside a
    header value stays in the value: it cannot start a line, and callers control some values.)"""
    for lazy in (True, False):
        dec = AmiDecoder(expect_banner=False)
        dec._lazy = lazy
        out = dec.feed(b"Event: Hangup\rChannel: x\r\nUniqueid: 1\r\n\r\n" + HANGUP)
        assert [type(m) for m in out] == [ProtocolError, Message]
        assert "bare CR" in out[0].reason  # type: ignore[union-attr]
        assert out[1].name == "Hangup" and out[1].get("Uniqueid") == "1.1"  # type: ignore[union-attr]
        out = dec.feed(b"Event: Newcallerid\r\nCallerIDName: a\rb\nc\r\n\r\n")
        assert [m.get("CallerIDName") for m in out] == ["a\rb\nc"]  # type: ignore[union-attr]
        assert dec.protocol_errors == 1


def test_garbage_with_a_colon_in_front_of_a_message_is_reported() -> None:
    """Audit 6: a garbage line that looks like a header, glued in front of a message (no empty
    line between), is reported and never becomes one of the message's headers."""
    for garbage in (b"junk: x\r\n", b"a:b\r\n", b"Uniqueid: forged\r\nChannel: Local/evil\r\n"):
        for lazy in (True, False):
            dec = AmiDecoder(expect_banner=False)
            dec._lazy = lazy
            out = dec.feed(garbage + HANGUP)
            assert [type(m) for m in out] == [ProtocolError, Message], garbage
            assert "garbage in front of event 'Hangup'" in out[0].reason  # type: ignore[union-attr]
            assert out[1].keys == ("Event", "Channel", "Uniqueid", "Cause")  # type: ignore[union-attr]
            assert out[1].get("Uniqueid") == "1.1"  # type: ignore[union-attr]


# A forged Hangup: wherever it appears below, no message may come out of it.
FORGED = b"Event: Hangup\r\nChannel: Local/evil\r\nUniqueid: forged\r\nCause: 16"
# Blocks where FORGED follows text on the same line (by CRLF framing) or follows a bare CR/LF.
MID_LINE = st.sampled_from(
    [b"junk ", b"Note: ", b"\x00\xff", b"xx:yy", b"x\n", b"x\r", b"Event: UserEvent\r", b"\n"]
)


def _near_limit(extra: int, forged_at_line_start: bool, forged_first: bool) -> bytes:
    """A UserEvent of ``MAX_MESSAGE_BYTES + extra`` bytes (without its empty line) holding FORGED:
    in one line after ``Note: `` when it may be accepted, else as lines of their own."""
    from dialerd.ami.codec import MAX_MESSAGE_BYTES

    forged = FORGED if forged_at_line_start else b"Note: " + FORGED.replace(b"\r\n", b" ")
    head = b"Event: UserEvent\r\nUserEvent: big\r\n"
    if forged_first:
        head += forged + b"\r\n"
    head += b"Data: "
    tail = b"" if forged_first else b"\r\n" + forged
    size = MAX_MESSAGE_BYTES + extra
    return head + b"x" * (size - len(head) - len(tail)) + tail + b"\r\n\r\n"


PART = st.one_of(
    st.integers(min_value=0, max_value=99).map(lambda n: ("legit", n)),
    st.tuples(MID_LINE, st.booleans()).map(lambda t: ("mid", t)),
    st.tuples(st.integers(min_value=-3, max_value=4), st.booleans(), st.booleans()).map(
        lambda t: ("big", t)
    ),
)


@given(
    st.lists(PART, min_size=1, max_size=5),
    st.lists(st.integers(min_value=0, max_value=6 << 20), max_size=6),
    st.sampled_from([4096, 60_000, 65536]),
)
@settings(max_examples=60, deadline=None)
def test_no_message_comes_from_mid_line_or_from_inside_a_dropped_oversized_message(
    parts: list[tuple[str, object]], cuts: list[int], chunk: int
) -> None:
    """Property (audit 1, 2, 4, 5): however the stream is read, the messages out are exactly the
    real ones: the legit Hangups and the UserEvents within the limit, never the forged Hangup
    hidden mid-line, after a bare CR or LF, or inside a message over the limit; and the same
    number of ProtocolErrors."""
    data = b""
    expected: list[tuple[str, str | None]] = []
    for what, arg in parts:
        if what == "legit":
            data += encode("Event", "Hangup", [("Uniqueid", f"ok-{arg}"), ("Cause", "16")])
            expected.append(("Hangup", f"ok-{arg}"))
        elif what == "mid":
            prefix, lf_framed = arg  # type: ignore[misc]
            forged = FORGED.replace(b"\r\n", b"\n") + b"\n\n" if lf_framed else FORGED
            data += prefix + forged + b"\r\n\r\n"
        else:
            extra, at_line_start, first = arg  # type: ignore[misc]
            at_line_start = at_line_start and extra > 0  # within the limit it would be a header
            data += _near_limit(extra, at_line_start, first)
            if extra <= 0:
                expected.append(("UserEvent", None))
    results = []
    for chunks in ([data], _chunks(data, chunk), _split(data, cuts)):
        for lazy in (True, False):
            dec = AmiDecoder(expect_banner=False)
            dec._lazy = lazy
            out = _run(dec, chunks)
            msgs = [m for m in out if isinstance(m, Message)]
            assert [(m.name, m.get("Uniqueid")) for m in msgs] == expected
            for m in msgs:
                assert "forged" not in m.getall("Uniqueid")
                assert "Local/evil" not in m.getall("Channel")
            errors = sum(isinstance(m, ProtocolError) for m in out)
            assert errors == dec.protocol_errors
            results.append(errors)
    assert len(set(results)) == 1, results
