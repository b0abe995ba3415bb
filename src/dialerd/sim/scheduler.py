"""One timer heap for every simulated call.

Thousands of concurrent calls each wait for several things (ring, answer, talk, queue timeout).
A task per wait would cost memory and scheduling for nothing: the calls are plain state machines
and their timers live in one heap, served by one task that sleeps through the injected Clock.
The task also records how late each timer fired, which is what ``dialerd bench sim`` reports.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

import structlog

from dialerd.domain.clock import Clock

log = structlog.get_logger(__name__)


@dataclass(order=True, slots=True)
class Timer:
    when: float
    seq: int
    callback: Callable[[], None] | None = field(compare=False)

    def cancel(self) -> None:
        self.callback = None

    @property
    def cancelled(self) -> bool:
        return self.callback is None


@dataclass(slots=True)
class LagStats:
    """Lateness of fired timers in clock seconds."""

    fired: int = 0
    total: float = 0.0
    max: float = 0.0
    over_100ms: int = 0

    def add(self, lag: float) -> None:
        self.fired += 1
        self.total += lag
        if lag > self.max:
            self.max = lag
        if lag > 0.1:
            self.over_100ms += 1

    @property
    def mean(self) -> float:
        return self.total / self.fired if self.fired else 0.0


class Scheduler:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._heap: list[Timer] = []
        self._seq = itertools.count()
        self._wake = asyncio.Event()
        self._deadline = float("inf")
        self.lag = LagStats()
        self._firing: float | None = None

    def now(self) -> float:
        """The time a firing timer was due (so simulated durations stay exact even when the
        loop is late), else the clock's time."""
        if self._firing is not None:
            return self._firing
        return self.clock.monotonic()

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        return self.call_at(self.now() + max(0.0, delay), callback)

    def call_at(self, when: float, callback: Callable[[], None]) -> Timer:
        timer = Timer(when, next(self._seq), callback)
        heapq.heappush(self._heap, timer)
        if when < self._deadline:
            self._wake.set()
        return timer

    def clear(self) -> None:
        """Forget every pending timer (an Asterisk restart forgets its calls)."""
        for timer in self._heap:
            timer.cancel()
        self._heap.clear()

    @property
    def pending(self) -> int:
        return len(self._heap)

    def run_due(self) -> int:
        """Fire every timer that is due now; returns how many fired."""
        fired = 0
        heap = self._heap
        now = self.clock.monotonic()
        while heap and heap[0].when <= now:
            timer = heapq.heappop(heap)
            cb = timer.callback
            if cb is None:
                continue
            timer.callback = None
            self.lag.add(now - timer.when)
            fired += 1
            self._firing = timer.when
            try:
                cb()
            except Exception:  # a broken call must not stop the other 1,999
                log.exception("sim timer callback failed")
            finally:
                self._firing = None
        return fired

    async def _sleep_until(self, when: float) -> None:
        # The delay is computed when the sleeper first runs, not when it is created: a clock
        # stepped by hand in between (ManualClock) must not push the deadline later.
        await self.clock.sleep(max(0.0, when - self.clock.monotonic()))

    async def run(self) -> None:
        """Serve the heap until cancelled."""
        while True:
            self.run_due()
            while self._heap and self._heap[0].cancelled:
                heapq.heappop(self._heap)
            self._wake.clear()
            if not self._heap:
                self._deadline = float("inf")
                await self._wake.wait()
                continue
            self._deadline = self._heap[0].when
            delay = self._deadline - self.clock.monotonic()
            if delay <= 0:
                await asyncio.sleep(0)
                continue
            sleeper = asyncio.ensure_future(self._sleep_until(self._deadline))
            waker = asyncio.ensure_future(self._wake.wait())
            try:
                await asyncio.wait((sleeper, waker), return_when=asyncio.FIRST_COMPLETED)
            finally:
                for t in (sleeper, waker):
                    if not t.done():
                        t.cancel()
                await asyncio.gather(sleeper, waker, return_exceptions=True)
