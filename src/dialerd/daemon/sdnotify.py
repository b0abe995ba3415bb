"""A small sd_notify(3) client.

The protocol is one AF_UNIX datagram of ``KEY=VALUE`` lines sent to ``$NOTIFY_SOCKET`` (a path,
or an abstract socket when it starts with ``@``). It is written here rather than taken from PyPI
because the packages for it are unmaintained and the protocol fits in a page. Outside systemd
(no ``NOTIFY_SOCKET``) every call is a cheap no-op, so the daemon calls it unconditionally.

Sending never raises: a lost notification must not take the daemon down. With ``Type=notify``
a missing READY only delays the start until systemd's timeout, which the journal then shows.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Callable, Mapping

import structlog

log = structlog.get_logger(__name__)


def watchdog_interval(env: Mapping[str, str] | None = None) -> float | None:
    """Seconds between ``WATCHDOG=1`` pings, or ``None`` when systemd does not watch us.

    Half of ``WatchdogSec=`` (as sd_watchdog_enabled(3) advises), so one late ping is not a
    restart. ``WATCHDOG_PID``, when set, must be this process.
    """
    env = os.environ if env is None else env
    usec = env.get("WATCHDOG_USEC")
    if not usec:
        return None
    pid = env.get("WATCHDOG_PID")
    if pid:
        try:
            if int(pid) != os.getpid():
                return None
        except ValueError:
            return None
    try:
        micros = int(usec)
    except ValueError:
        return None
    if micros <= 0:
        return None
    return micros / 2_000_000


def _address(raw: str) -> str | bytes | None:
    if raw.startswith("@"):
        return b"\0" + raw[1:].encode()
    if raw.startswith("/"):
        return raw
    return None  # vsock:// and other forms are not used for services


class Notifier:
    """Sends state to systemd. ``enabled`` is false outside a ``Type=notify`` service."""

    def __init__(self, notify_socket: str | None) -> None:
        self._address = _address(notify_socket) if notify_socket else None
        if notify_socket and self._address is None:
            log.warning("sd_notify: unsupported NOTIFY_SOCKET, notifications disabled")
        self._sock: socket.socket | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Notifier:
        env = os.environ if env is None else env
        return cls(env.get("NOTIFY_SOCKET") or None)

    @property
    def enabled(self) -> bool:
        return self._address is not None

    def notify(self, *fields: str) -> bool:
        """Send ``fields`` (``"READY=1"``, ``"STATUS=..."``) in one datagram; True if sent."""
        if self._address is None or not fields:
            return False
        message = "\n".join(f.replace("\n", " ") for f in fields).encode()
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
                self._sock.setblocking(False)
            self._sock.sendto(message, self._address)
        except OSError as exc:
            log.warning("sd_notify failed", error=str(exc), message=fields[0])
            return False
        return True

    def ready(self, status: str | None = None) -> bool:
        return self.notify("READY=1", *([f"STATUS={status}"] if status else []))

    def status(self, text: str) -> bool:
        return self.notify(f"STATUS={text}")

    def watchdog(self) -> bool:
        return self.notify("WATCHDOG=1")

    def stopping(self, status: str | None = None) -> bool:
        return self.notify("STOPPING=1", *([f"STATUS={status}"] if status else []))

    def reloading(self) -> bool:
        """``RELOADING=1`` before a SIGHUP reload; send :meth:`ready` when it is done.

        systemd >= 253 wants the kernel's CLOCK_MONOTONIC stamp with it (protocol data, not
        the daemon's injectable clock).
        """
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        return self.notify("RELOADING=1", f"MONOTONIC_USEC={usec}")

    def extend_timeout(self, seconds: float) -> bool:
        """Ask for more start/stop time (a long drain) so systemd does not kill us mid-drain."""
        return self.notify(f"EXTEND_TIMEOUT_USEC={int(seconds * 1_000_000)}")

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def __enter__(self) -> Notifier:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


async def watchdog_loop(notifier: Notifier, interval: float, healthy: Callable[[], bool]) -> None:
    """Ping ``WATCHDOG=1`` every ``interval`` seconds while ``healthy()``; run until cancelled.

    The loop itself being scheduled on time proves the event loop is alive; ``healthy`` adds
    what else must hold (every AMI link ready). When it is false no ping goes out, so systemd
    restarts a daemon that stays unhealthy past ``WatchdogSec``. The wait is in real time
    (``asyncio.sleep``), not the daemon's injectable clock: systemd's timer is real time even
    when the engine runs accelerated.
    """
    while True:
        if healthy():
            notifier.watchdog()
        else:
            log.warning("watchdog ping withheld: daemon unhealthy")
        await asyncio.sleep(interval)
