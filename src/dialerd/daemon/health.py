"""Is the daemon healthy? Event-loop lag and AMI link states, for the watchdog and /healthz.

Loop lag is measured by a task that sleeps a fixed real-time interval and records how late it
woke up: blocking work on the loop (a slow query run synchronously, a CPU-bound tick) shows as
lag, and every timer of the daemon suffers the same delay. Real time (``asyncio.sleep``) on
purpose: systemd's watchdog and an operator's probes run in real time even when the engine's
clock is accelerated (demo, benchmarks).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping

from dialerd.ami import AsteriskServer, LinkState

# LinkState -> the state names of the dialerd_ami_link_state metric.
METRIC_STATE = {
    LinkState.CONNECTING: "connecting",
    LinkState.LOGGED_IN: "logging_in",
    LinkState.RESYNCED: "resyncing",
    LinkState.READY: "ready",
    LinkState.LOST: "disconnected",
    LinkState.FAILED_AUTH: "failed",
    LinkState.STOPPED: "disconnected",
}


class LoopLag:
    """Run :meth:`run` in a TaskGroup; read :attr:`lag` (seconds, the latest measurement)."""

    def __init__(self, interval: float = 0.5, max_lag: float = 1.0) -> None:
        self.interval = interval
        self.max_lag = max_lag
        self.lag = 0.0
        self.worst = 0.0

    @property
    def healthy(self) -> bool:
        return self.lag <= self.max_lag

    async def run(self) -> None:
        while True:
            started = time.monotonic()
            await asyncio.sleep(self.interval)
            self.lag = max(0.0, time.monotonic() - started - self.interval)
            self.worst = max(self.worst, self.lag)


def link_states(servers: Mapping[str, AsteriskServer]) -> dict[str, str]:
    return {name: s.link.state.value for name, s in servers.items()}


def link_errors(servers: Mapping[str, AsteriskServer]) -> dict[str, str]:
    """Why each link that is not ready is not (its last error), for /healthz and the status."""
    return {
        name: s.link.last_error or "not connected yet" for name, s in servers.items() if not s.ready
    }


def links_ready(servers: Mapping[str, AsteriskServer]) -> bool:
    return bool(servers) and all(s.ready for s in servers.values())
