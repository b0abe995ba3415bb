"""Reader for the AMI recordings in ``shared/asterisk/transcripts`` (format in their README).

The replay tests and the codec benchmark rebuild exactly what a client received from a real
Asterisk: each ``<<<`` line plus CRLF, the lines that arrived in one read() grouped as one chunk
(they share a timestamp), with the connection marks in between so a replay can drop and re-open
the link where the recording did.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Received:
    """Bytes received in one read at ``t`` seconds after the first connect."""

    t: float
    data: bytes


@dataclass(frozen=True, slots=True)
class Sent:
    """One complete message the client sent (lines joined with CRLF, closing empty line)."""

    t: float
    data: bytes


@dataclass(frozen=True, slots=True)
class Mark:
    """``connect``, ``closed by server`` or ``closed by client``."""

    t: float
    what: str


TranscriptItem = Received | Sent | Mark


def read_transcript(path: Path | str) -> list[TranscriptItem]:
    return list(iter_transcript(Path(path).read_text(encoding="utf-8")))


def iter_transcript(text: str) -> Iterator[TranscriptItem]:
    rx_t: float | None = None
    rx: list[str] = []
    tx: list[str] = []
    tx_t = 0.0

    def flush_rx() -> Iterator[Received]:
        nonlocal rx, rx_t
        if rx and rx_t is not None:
            yield Received(rx_t, ("\r\n".join(rx) + "\r\n").encode("utf-8"))
        rx, rx_t = [], None

    for line in text.splitlines():
        if line.startswith("--- "):
            yield from flush_rx()
            stamp, _, what = line[4:].partition(" ")
            yield Mark(float(stamp), what)
            continue
        direction = line[:3]
        stamp, bar, body = line[4:].partition("|")
        if not bar:
            continue
        t = float(stamp.strip())
        if direction == "<<<":
            if rx_t is not None and t != rx_t:
                yield from flush_rx()
            rx_t = t
            rx.append(body)
        elif direction == ">>>":
            yield from flush_rx()
            if not tx:
                tx_t = t
            if body:
                tx.append(body)
            else:
                yield Sent(tx_t, ("\r\n".join(tx) + "\r\n\r\n").encode("utf-8"))
                tx = []
    yield from flush_rx()


def received_stream(path: Path | str) -> bytes:
    """Every received byte of the file's first connection, in order (for the benchmark)."""
    out: list[bytes] = []
    for item in read_transcript(path):
        if isinstance(item, Mark) and item.what.startswith("closed"):
            break
        if isinstance(item, Received):
            out.append(item.data)
    return b"".join(out)
