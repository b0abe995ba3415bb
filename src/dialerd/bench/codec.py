"""``dialerd bench codec``: AMI decoding throughput against panoramisk's parser, same stream.

The stream is what a client really received from Asterisk 22 under load: the ``<<<`` lines of
``transcripts/16-load.txt`` (2,531 messages, 40 calls, 6 agents), each line plus CRLF, cut into
reads of ``--chunk`` bytes. Every parser gets the same reads in the same run, best of
``--repeat`` runs:

* ``panoramisk``: ``AMIProtocol.data_received`` (its own framing + ``Message.from_line``, which
  splits every header), the baseline; every parsed message is counted where panoramisk would
  dispatch or match it;
* ``dialerd framing + name (headers on demand)``: :class:`dialerd.ami.codec.AmiDecoder`, and the
  kind and name of every message read; headers stay unsplit (the codec splits them when first
  read), which is all most traffic ever costs;
* ``dialerd full decode (every header read)``: the same, plus every header of every message
  split, the worst case (a consumer reading a header of every message);
* ``dialerd link``: what the link actually runs: the decoder dropping noise events (VarSet,
  Newexten, ...) after their first line, then :func:`dialerd.ami.events.normalise` turning the
  rest into typed events (reading their headers).

Rates are messages of the stream per second (the same numerator for every row), from the best
wall-clock run; the CPU seconds of the same runs (``time.process_time``) are shown beside them
because the machine may be busy with other work, which stretches wall time but not CPU time.
Ratios against panoramisk come from the same rounds, so they hold under load. Goals from issue 4:
at least 2x panoramisk and at least 200,000 events/s.
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
from dialerd.ami.events import NOISE_EVENTS, normalise
from dialerd.ami.transcript import received_stream

EX_NOINPUT = 66  # sysexits.h; bench may not import dialerd.cli (layer rule)
GOAL_FACTOR = 2.0
GOAL_RATE = 200_000.0
ON_DEMAND = "dialerd framing + name (headers on demand)"
FULL = "dialerd full decode (every header read)"
DEFAULT_STREAM = (
    Path(__file__).resolve().parents[3].parent
    / "shared"
    / "asterisk"
    / "transcripts"
    / "16-load.txt"
)


@dataclass(frozen=True, slots=True)
class Row:
    parser: str
    messages: int
    typed_events: int | None
    best_seconds: float
    messages_per_second: float
    vs_panoramisk: float
    best_cpu_seconds: float
    messages_per_cpu_second: float


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


def _on_demand(chunks: list[bytes]) -> tuple[int, int | None]:
    dec = AmiDecoder()
    n = 0
    for c in chunks:
        for msg in dec.feed(c):
            if isinstance(msg, Message):
                msg.kind, msg.name  # noqa: B018 (what every consumer reads first)
            n += 1
    return n - 1, None  # minus the banner


def _full(chunks: list[bytes]) -> tuple[int, int | None]:
    dec = AmiDecoder()
    n = 0
    for c in chunks:
        for msg in dec.feed(c):
            if isinstance(msg, Message):
                msg.kind, msg.name, msg.values  # noqa: B018 (splits every header)
            n += 1
    return n - 1, None


def _link(chunks: list[bytes]) -> tuple[int, int | None]:
    dec = AmiDecoder(drop_events=NOISE_EVENTS)
    n = typed = 0
    for c in chunks:
        for msg in dec.feed(c):
            n += 1
            if isinstance(msg, Message) and normalise(msg) is not None:
                typed += 1
    return n - 1 + dec.dropped, typed


def measure(stream: bytes, chunk: int, repeat: int) -> list[Row]:
    """Best of ``repeat`` per parser; the parsers take turns within each round so that a
    machine busy with other work slows all of them alike."""
    chunks = [stream[i : i + chunk] for i in range(0, len(stream), chunk)]
    runs: list[tuple[str, Callable[[list[bytes]], tuple[int, int | None]]]] = [
        ("panoramisk", _panoramisk),
        (ON_DEMAND, _on_demand),
        (FULL, _full),
        ("dialerd link", _link),
    ]
    best = {name: float("inf") for name, _ in runs}
    cpu = {name: float("inf") for name, _ in runs}
    counts: dict[str, tuple[int, int | None]] = {}
    for _ in range(repeat):
        for name, fn in runs:
            c0 = time.process_time()
            t0 = time.perf_counter()
            counts[name] = fn(chunks)
            best[name] = min(best[name], time.perf_counter() - t0)
            cpu[name] = min(cpu[name], time.process_time() - c0)
    base = best["panoramisk"]
    messages = counts[FULL][0]  # the reference count
    return [
        Row(
            parser=name,
            messages=counts[name][0],
            typed_events=counts[name][1],
            best_seconds=best[name],
            messages_per_second=messages / best[name],
            vs_panoramisk=base / best[name],
            best_cpu_seconds=cpu[name],
            messages_per_cpu_second=messages / max(cpu[name], 1e-9),
        )
        for name, _ in runs
    ]


def _table(rows: list[Row]) -> str:
    lines = [
        "| parser | messages | typed events | best s | messages/s | × panoramisk | CPU s "
        "| messages/CPU s | goal |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        goal = "baseline"
        if r.parser != "panoramisk":
            ok = r.vs_panoramisk >= GOAL_FACTOR and r.messages_per_second >= GOAL_RATE
            goal = "met" if ok else "missed"
        typed = "" if r.typed_events is None else f"{r.typed_events:,}"
        lines.append(
            f"| {r.parser} | {r.messages:,} | {typed} | {r.best_seconds:.4f} | "
            f"{r.messages_per_second:,.0f} | {r.vs_panoramisk:.2f} | {r.best_cpu_seconds:.4f} | "
            f"{r.messages_per_cpu_second:,.0f} | {goal} |"
        )
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    path = Path(args.transcript)
    if not path.is_file():
        sys.stderr.write(f"dialerd: error: recorded AMI stream not found: {path} (--transcript)\n")
        return EX_NOINPUT
    stream = received_stream(path)
    load_before = os.getloadavg()
    rows = measure(stream, max(1, args.chunk), max(1, args.repeat))
    load_after = os.getloadavg()
    sys.stdout.write(
        f"AMI codec on {path.name}: {len(stream):,} bytes, reads of {args.chunk} bytes, "
        f"best of {args.repeat}; load average {load_before[0]:.2f} before, "
        f"{load_after[0]:.2f} after, {os.cpu_count()} CPUs\n\n{_table(rows)}\n\n"
        f"goal: >= {GOAL_FACTOR:g}x panoramisk and >= {GOAL_RATE:,.0f} messages/s "
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
        "results": [asdict(r) for r in rows],
    }
    out.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    sys.stdout.write(f"results written to {out}\n")
    return 0
