"""``dialerd bench codec``: AMI decoding throughput against panoramisk's parser, same stream.

The stream is what a client really received from Asterisk 22 under load: the ``<<<`` lines of
``transcripts/16-load.txt`` (2,531 messages: 2,477 events and 54 responses; 40 calls, 6 agents),
each line plus CRLF, cut into reads of ``--chunk`` bytes. Every parser gets the same reads in the
same run and takes its turn in every round, best of ``--repeat`` rounds. The rows:

* ``panoramisk``: ``AMIProtocol.data_received`` (its framing and ``Message.from_line``, which
  splits every header of every message into a dict), the baseline; a message is counted where
  panoramisk would dispatch it (its dispatch itself is not run).
* ``dialerd link`` (the headline): what the daemon pays per received message. The link's read
  loop (``AmiLink._read_loop`` without the socket and the receive timestamp):
  :class:`~dialerd.ami.codec.AmiDecoder` dropping the noise events after their first line, then
  the link's own ``AmiLink._dispatch`` for every other message (ActionID lookup,
  :func:`~dialerd.ami.events.normalise` into typed frozen events, delivery to a listener).
* ``dialerd full decode``: the decoder with every header of every message read (keys and values
  split): the same work as panoramisk's parser, so the like-for-like comparison.
* ``dialerd framing + name``: the decoder and the kind and name of every message, headers left
  unsplit. Less work than panoramisk's parser does; shown for the cost of framing alone.
* The last two rows repeat panoramisk and the link on the stream a daemon really gets: the link
  logs in with ``Events: system,call,agent,user``, so Asterisk never sends the dialplan and
  security events (VarSet, Newexten, SuccessfulAuth; 1,093 of the recording's messages). Dropped
  noise is the cheapest traffic and less of it is left, so the average message costs more.

Rates are received messages per second (events and responses, dropped noise included: the
daemon receives it too), from the best wall-clock round; the CPU seconds of the best round
(``time.process_time``) are shown beside them because the machine may be busy with other work,
which stretches wall time but not CPU time. Ratios against panoramisk come from the same rounds.
Goal from issue 4: at least 2x panoramisk and at least 200,000 messages/s.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dialerd.ami.codec import AmiDecoder, Message
from dialerd.ami.events import NOISE_EVENTS
from dialerd.ami.link import AmiLink, LinkConfig, LinkEvent
from dialerd.ami.transcript import received_stream

EX_NOINPUT = 66  # sysexits.h; bench may not import dialerd.cli (layer rule)
GOAL_FACTOR = 2.0
GOAL_RATE = 200_000.0
PANORAMISK = "panoramisk"
LINK = "dialerd link"
FULL = "dialerd full decode"
ON_DEMAND = "dialerd framing + name"
RECORDED = "recorded"
FILTERED = "login-filtered"
#: Events of the classes ``LinkConfig.events`` leaves out at Login (dialplan, security) that
#: occur in the recording.
NOT_SENT_WITH_FILTER = ("VarSet", "Newexten", "SuccessfulAuth")
DEFAULT_STREAM = (
    Path(__file__).resolve().parents[3].parent
    / "shared"
    / "asterisk"
    / "transcripts"
    / "16-load.txt"
)

Parser = Callable[[list[bytes]], tuple[int, int | None]]


@dataclass(frozen=True, slots=True)
class Row:
    parser: str
    stream: str
    headers: str
    """Which headers the row splits into keys and values."""
    comparable: str
    """How the row's work relates to panoramisk's parser (see ``LEGEND``)."""
    messages: int
    typed_events: int | None
    best_seconds: float
    messages_per_second: float
    vs_panoramisk: float
    best_cpu_seconds: float
    messages_per_cpu_second: float
    goal_met: bool | None
    """``None`` for the baselines."""


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "codec", help="AMI decoder throughput vs panoramisk's parser on a recorded stream"
    )
    p.add_argument(
        "--transcript",
        default=os.environ.get("DIALERD_BENCH_TRANSCRIPT", str(DEFAULT_STREAM)),
        help="recorded AMI session (default: shared/asterisk/transcripts/16-load.txt)",
    )
    p.add_argument("--chunk", type=int, default=4096, help="bytes per simulated read (4096)")
    p.add_argument("--repeat", type=int, default=7, help="runs per parser; the best counts (7)")
    p.add_argument("--out", default="bench/results", help="directory for the JSON results")
    p.set_defaults(func=run)


def _panoramisk(chunks: list[bytes]) -> tuple[int, int | None]:
    from panoramisk.ami_protocol import AMIProtocol

    count = 0

    class Counting(AMIProtocol):  # type: ignore[misc]
        def handle_message(self, message: object) -> None:
            nonlocal count
            count += 1

    proto = Counting()
    proto.connection_made(None)
    for c in chunks:
        proto.data_received(c)
    return count, None


def _link(chunks: list[bytes]) -> tuple[int, int | None]:
    """``AmiLink._read_loop`` without the socket and the receive timestamp: the same decoder,
    the same dispatch (a private method: this is the one place outside the link that calls it)."""
    link = AmiLink(LinkConfig())
    typed: list[LinkEvent] = []
    link.add_listener(typed.append)
    decoder = AmiDecoder(drop_events=NOISE_EVENTS)
    dispatch = link._dispatch
    counters = link.counters
    n = 0  # messages out of the decoder (the other rows count theirs too)
    for data in chunks:
        dropped = decoder.dropped
        for msg in decoder.feed(data):
            n += 1
            try:
                dispatch(msg)
            except Exception:
                counters.protocol_errors += 1
        counters.events_dropped += decoder.dropped - dropped
    if counters.protocol_errors:
        raise RuntimeError(f"the link saw {counters.protocol_errors} protocol errors")
    return n - 1 + counters.events_dropped, len(typed)  # minus the banner


def _full(chunks: list[bytes]) -> tuple[int, int | None]:
    dec = AmiDecoder()
    n = 0
    for c in chunks:
        for msg in dec.feed(c):
            if isinstance(msg, Message):
                msg.kind, msg.name, msg.keys, msg.values  # noqa: B018 (splits every header)
            n += 1
    return n - 1, None  # minus the banner


def _on_demand(chunks: list[bytes]) -> tuple[int, int | None]:
    dec = AmiDecoder()
    n = 0
    for c in chunks:
        for msg in dec.feed(c):
            if isinstance(msg, Message):
                msg.kind, msg.name  # noqa: B018 (what every consumer reads first)
            n += 1
    return n - 1, None


def login_filtered(stream: bytes) -> bytes:
    """``stream`` without the events Asterisk does not send to the link (see the module doc)."""
    nl = stream.find(b"\r\n") + 2
    blocks = stream[nl:].split(b"\r\n\r\n")
    skip = tuple(f"Event: {name}\r\n".encode() for name in NOT_SENT_WITH_FILTER)
    return stream[:nl] + b"\r\n\r\n".join(b for b in blocks if not b.startswith(skip))


_ROWS: list[tuple[str, str, str, str, Parser]] = [
    (PANORAMISK, RECORDED, "all, into a dict", "baseline", _panoramisk),
    (LINK, RECORDED, "those the link reads", "headline: the daemon's path", _link),
    (FULL, RECORDED, "all", "the same work", _full),
    (ON_DEMAND, RECORDED, "none", "less work", _on_demand),
    (PANORAMISK, FILTERED, "all, into a dict", "baseline", _panoramisk),
    (LINK, FILTERED, "those the link reads", "the daemon's path", _link),
]
LEGEND = """\
rows (each gets the same reads; ratios are against panoramisk on the same stream, same rounds):
- panoramisk: AMIProtocol.data_received, its framing plus Message.from_line, which splits
  every header of every message into a dict; its dispatch is not run.
- dialerd link (headline): what the daemon pays per received message: the link's read loop,
  the decoder dropping noise events by their first line and AmiLink._dispatch for the rest
  (ActionID lookup, normalise() into typed frozen events, delivery to a listener). More work
  than panoramisk's parser alone (typed events), less header splitting (only what is read).
- dialerd full decode: the decoder plus every header of every message read (keys and values):
  the same work as panoramisk's parser, the like-for-like comparison.
- dialerd framing + name: the decoder plus kind and name only, headers left unsplit: less work
  than panoramisk's parser; the cost of framing alone.
- stream recorded: the 16-load session as recorded (Events: on). Stream login-filtered: the
  same without VarSet, Newexten and SuccessfulAuth, which Asterisk does not send to the link
  (it logs in with Events: system,call,agent,user): dropped noise is the cheapest traffic and
  less of it is left, so the average message costs more.
messages/s counts every received message (events and responses; dropped noise included)."""


def measure(stream: bytes, chunk: int, repeat: int) -> list[Row]:
    """Best of ``repeat`` per row; the rows take turns within each round so that a machine
    busy with other work slows all of them alike."""
    streams = {RECORDED: stream, FILTERED: login_filtered(stream)}
    chunks = {
        name: [s[i : i + chunk] for i in range(0, len(s), chunk)] for name, s in streams.items()
    }
    keys = [(parser, stream_name) for parser, stream_name, *_ in _ROWS]
    best = dict.fromkeys(keys, float("inf"))
    cpu = dict.fromkeys(keys, float("inf"))
    counts: dict[tuple[str, str], tuple[int, int | None]] = {}
    for _ in range(repeat):
        for parser, stream_name, _h, _c, fn in _ROWS:
            key = (parser, stream_name)
            c0 = time.process_time()
            t0 = time.perf_counter()
            counts[key] = fn(chunks[stream_name])
            best[key] = min(best[key], time.perf_counter() - t0)
            cpu[key] = min(cpu[key], time.process_time() - c0)
    rows = []
    for parser, stream_name, headers, comparable, _ in _ROWS:
        key = (parser, stream_name)
        messages = counts[(PANORAMISK, stream_name)][0]  # the same numerator for every row
        rate = messages / best[key]
        ratio = best[(PANORAMISK, stream_name)] / best[key]
        rows.append(
            Row(
                parser=parser,
                stream=stream_name,
                headers=headers,
                comparable=comparable,
                messages=counts[key][0],
                typed_events=counts[key][1],
                best_seconds=best[key],
                messages_per_second=rate,
                vs_panoramisk=ratio,
                best_cpu_seconds=cpu[key],
                messages_per_cpu_second=messages / max(cpu[key], 1e-9),
                goal_met=None
                if parser == PANORAMISK
                else ratio >= GOAL_FACTOR and rate >= GOAL_RATE,
            )
        )
    return rows


def _table(rows: list[Row]) -> str:
    lines = [
        "| parser | stream | headers split | work vs panoramisk | messages | typed events | best s "
        "| messages/s | × panoramisk | CPU s | messages/CPU s | goal |",
        "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        goal = "baseline" if r.goal_met is None else "met" if r.goal_met else "missed"
        typed = "" if r.typed_events is None else f"{r.typed_events:,}"
        name = f"**{r.parser}**" if (r.parser, r.stream) == (LINK, RECORDED) else r.parser
        lines.append(
            f"| {name} | {r.stream} | {r.headers} | {r.comparable} | {r.messages:,} | {typed} | "
            f"{r.best_seconds:.4f} | {r.messages_per_second:,.0f} | {r.vs_panoramisk:.2f} | "
            f"{r.best_cpu_seconds:.4f} | {r.messages_per_cpu_second:,.0f} | {goal} |"
        )
    return "\n".join(lines)


def headline(rows: list[Row]) -> Row:
    return next(r for r in rows if (r.parser, r.stream) == (LINK, RECORDED))


def run(args: argparse.Namespace) -> int:
    path = Path(args.transcript)
    if not path.is_file():
        sys.stderr.write(f"dialerd: error: recorded AMI stream not found: {path} (--transcript)\n")
        return EX_NOINPUT
    stream = received_stream(path)
    load_before = os.getloadavg()
    rows = measure(stream, max(1, args.chunk), max(1, args.repeat))
    load_after = os.getloadavg()
    top = headline(rows)
    sys.stdout.write(
        f"AMI codec on {path.name}: {len(stream):,} bytes, reads of {args.chunk} bytes, "
        f"best of {args.repeat}; load average {load_before[0]:.2f} before, "
        f"{load_after[0]:.2f} after, {os.cpu_count()} CPUs\n\n{_table(rows)}\n\n{LEGEND}\n\n"
        f"headline (what the daemon pays per received message): {top.messages_per_second:,.0f} "
        f"messages/s, {top.vs_panoramisk:.2f}x panoramisk: goal "
        f"{'met' if top.goal_met else 'missed'}\n"
        f"goal: >= {GOAL_FACTOR:g}x panoramisk and >= {GOAL_RATE:,.0f} messages/s, per row "
        "(wall clock; the CPU columns show what a machine busy with other work hides)\n"
    )
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = out_dir / f"codec-{stamp}.json"
    payload = {
        "benchmark": "codec",
        "at": stamp,
        "stream": str(path),
        "bytes": len(stream),
        "chunk": args.chunk,
        "repeat": args.repeat,
        "python": sys.version.split()[0],
        "machine": platform.machine(),
        "processor": platform.processor(),
        "cpus": os.cpu_count(),
        "load_average_before": list(load_before),
        "load_average_after": list(load_after),
        "goal": {"factor_vs_panoramisk": GOAL_FACTOR, "messages_per_second": GOAL_RATE},
        "headline": asdict(top),
        "results": [asdict(r) for r in rows],
    }
    out.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    sys.stdout.write(f"results written to {out}\n")
    return 0
