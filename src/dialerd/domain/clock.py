"""Injectable time.

The engine, the AMI link and the simulator read time only through a :class:`Clock`, so the same
code runs in real time against Asterisk and accelerated (or stepped by hand) in tests, the
simulator and the benchmarks.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """Wall-clock time, timezone-aware UTC."""

    def monotonic(self) -> float:
        """Seconds on a monotonic scale (for intervals, timeouts and elapsed times)."""

    async def sleep(self, seconds: float) -> None:
        """Sleep ``seconds`` of this clock's time."""


class SystemClock:
    """Real time."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class ScaledClock:
    """Time that runs ``speed`` times faster than real time from ``start``.

    Both wall and monotonic time are scaled, so a 25 s ring timeout takes 25/speed real seconds.
    """

    def __init__(self, speed: float = 1.0, start: datetime | None = None) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.speed = speed
        self._t0 = time.monotonic()
        self._start = start or datetime.now(UTC)

    def monotonic(self) -> float:
        return (time.monotonic() - self._t0) * self.speed

    def now(self) -> datetime:
        return self._start + timedelta(seconds=self.monotonic())

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds) / self.speed)


class ManualClock:
    """Time that moves only when a test calls :meth:`advance`.

    ``sleep`` waits until the clock has been advanced past the deadline, so a test can step a
    runner through hours of schedule in milliseconds.
    """

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
        self._mono = 0.0
        self._changed = asyncio.Event()

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return self._mono

    def set(self, when: datetime) -> None:
        if when.tzinfo is None:
            raise ValueError("ManualClock.set needs an aware datetime")
        self.advance((when - self._now).total_seconds())

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("time does not go backwards")
        self._now += timedelta(seconds=seconds)
        self._mono += seconds
        self._changed.set()
        self._changed = asyncio.Event()

    async def sleep(self, seconds: float) -> None:
        deadline = self._mono + max(0.0, seconds)
        while self._mono < deadline:
            await self._changed.wait()
        await asyncio.sleep(0)


def iso_utc(value: datetime) -> str:
    """The one text form of a moment on every interface (REST, exports, webhooks, MQTT, import
    reports, CLI JSON): ISO 8601 in UTC with ``Z``, e.g. ``2026-03-02T10:00:00Z``, as pydantic
    writes the API models. Clients that compare or sort the strings saw ``+00:00`` from some
    places and ``Z`` from others. A naive value is taken as UTC (the store keeps UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
