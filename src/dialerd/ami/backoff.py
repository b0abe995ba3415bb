"""Capped, jittered exponential backoff for reconnects.

Jitter matters with several daemons (or several links) behind one Asterisk that restarts: without
it they all reconnect in the same millisecond, every time.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Backoff:
    initial: float = 0.5
    maximum: float = 30.0
    factor: float = 2.0
    jitter: float = 0.5
    """Fraction of the delay that is random: delay * (1 - jitter .. 1)."""

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Delay before reconnect number ``attempt`` (0 = the first after a drop)."""
        base = min(self.maximum, self.initial * self.factor ** min(attempt, 64))
        return base * (1.0 - self.jitter * rng.random())
