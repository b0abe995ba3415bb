"""One log line per store outage instead of one traceback per failed write.

A lost or unreachable database (:class:`dialerd.store.StoreUnavailable`) is an expected
condition for a daemon that runs for months: the engine keeps what it could not write in memory
and writes it when the database is back. What the operator needs is when it started, what it
said and when it ended; each failing write repeating that (with the SQL) buries the log.
"""

from __future__ import annotations

import time
from typing import Any

from dialerd.store.errors import StoreError


class StoreOutage:
    """Whether one part of the engine (``what``) currently meets an unavailable store."""

    def __init__(self, logger: Any, what: str) -> None:
        self._log = logger
        self.what = what
        self.since: float | None = None
        """``time.monotonic()`` when the outage began; None while the store answers."""
        self.failures = 0

    @property
    def down(self) -> bool:
        return self.since is not None

    def failed(self, exc: StoreError, **context: Any) -> None:
        """A store call failed because the database is gone: logged once per outage."""
        self.failures += 1
        if self.since is None:
            self.since = time.monotonic()
            self._log.warning(
                "store unavailable: kept in memory, written when it is back",
                part=self.what,
                error=str(exc),
                **context,
            )

    def ok(self) -> None:
        """The store answered again: one line with the outage's length."""
        if self.since is None:
            return
        self._log.info(
            "store available again",
            part=self.what,
            outage_seconds=round(time.monotonic() - self.since, 1),
            failed_calls=self.failures,
        )
        self.since = None
        self.failures = 0
