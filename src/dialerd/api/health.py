"""``/healthz``: is this daemon fit to dial? AMI links ready, store answering, loop not starved.

A queue a campaign needs that Asterisk lacks makes it ``degraded``, not unhealthy: the daemon
dials every other campaign (a 503 would take it out of service for all of them); the check
names the server and the queue.

A load balancer or systemd-side probe wants one bit (200 or 503) and an operator wants to know
which part failed, so the body lists each check. Loop lag is measured as how late a zero-length
sleep resumes: on a loop starved by blocking work the API itself answers late, so the figure is
what every timer of the daemon suffers at that moment.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class HealthChecks:
    """What ``/healthz`` checks.

    ``links``: AMI server name -> link state (``"ready"`` is healthy); ``None`` when the process
    has no AMI links (e.g. an API-only process). ``store_ping``: a cheap read of the store.
    ``loop_lag``: a lag figure kept by the daemon's watchdog, else it is measured per request.
    """

    store_ping: Callable[[], Awaitable[object]] | None = None
    #: The error while the store's latest write failed, else ``None`` (the ping only reads).
    store_writes: Callable[[], str | None] | None = None
    links: Callable[[], Mapping[str, str]] | None = None
    #: Why each link that is not ready is not (its last error).
    link_errors: Callable[[], Mapping[str, str]] | None = None
    loop_lag: Callable[[], float] | None = None
    #: Campaigns whose runner has not completed a pass for too long: name -> seconds.
    stalled: Callable[[], Mapping[str, float]] | None = None
    #: Server -> the queues the campaigns need that it lacks (degraded, not unhealthy).
    missing_queues: Callable[[], Mapping[str, Sequence[str]]] | None = None
    max_loop_lag: float = 1.0
    store_timeout: float = 2.0
    extra: dict[str, Callable[[], bool]] = field(default_factory=dict)


async def measure_loop_lag() -> float:
    start = time.monotonic()
    await asyncio.sleep(0)
    return time.monotonic() - start


def health_status(ok: bool, report: Mapping[str, Any]) -> str:
    """``unhealthy`` when a check that stops dialing failed, ``degraded`` when only another
    one did (``queues``), else ``ok``."""
    if not ok:
        return "unhealthy"
    return "ok" if all(c.get("ok", True) for c in report.values()) else "degraded"


async def run_checks(checks: HealthChecks) -> tuple[bool, dict[str, Any]]:
    ok = True
    report: dict[str, Any] = {}
    if checks.store_ping is not None:
        started = time.monotonic()
        try:
            async with asyncio.timeout(checks.store_timeout):
                await checks.store_ping()
            report["store"] = {"ok": True, "seconds": round(time.monotonic() - started, 4)}
        except TimeoutError:
            ok = False
            report["store"] = {"ok": False, "error": f"no answer in {checks.store_timeout:g} s"}
        except Exception as exc:  # the probe must report any failure, not crash the request
            ok = False
            log.warning("health.store_failed", error=repr(exc))
            report["store"] = {"ok": False, "error": type(exc).__name__}
    if checks.store_writes is not None:
        failing = checks.store_writes()
        ok = ok and failing is None
        report["store_writes"] = {"ok": failing is None, "error": failing}
    if checks.links is not None:
        states = dict(checks.links())
        links_ok = bool(states) and all(s == "ready" for s in states.values())
        ok = ok and links_ok
        report["links"] = {"ok": links_ok, "states": states}
        if checks.link_errors is not None and not links_ok:
            report["links"]["errors"] = dict(checks.link_errors())
    if checks.missing_queues is not None:
        missing = {server: list(qs) for server, qs in checks.missing_queues().items() if qs}
        # not part of ``ok``: the other campaigns dial (see the module's docstring)
        report["queues"] = {"ok": not missing, "missing": missing}
    if checks.stalled is not None:
        stalled = dict(checks.stalled())
        ok = ok and not stalled
        report["pacing"] = {"ok": not stalled, "stalled_seconds": stalled}
    lag = checks.loop_lag() if checks.loop_lag is not None else await measure_loop_lag()
    lag_ok = lag <= checks.max_loop_lag
    ok = ok and lag_ok
    report["loop"] = {"ok": lag_ok, "lag_seconds": round(lag, 4), "limit": checks.max_loop_lag}
    for name, check in checks.extra.items():
        good = bool(check())
        ok = ok and good
        report[name] = {"ok": good}
    return ok, report
