"""sd_notify against a real AF_UNIX datagram socket, as systemd would receive it."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from dialerd.daemon.sdnotify import Notifier, watchdog_interval, watchdog_loop


def _recv(sock: socket.socket) -> list[str]:
    sock.settimeout(2.0)
    return sock.recv(4096).decode().split("\n")


@pytest.fixture
def path_socket() -> Iterator[tuple[str, socket.socket]]:
    # Short directory: AF_UNIX paths are limited to 107 bytes, pytest's tmp_path can be longer.
    directory = tempfile.mkdtemp(prefix="sdn-", dir="/tmp")
    path = os.path.join(directory, "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    try:
        yield path, sock
    finally:
        sock.close()
        Path(path).unlink(missing_ok=True)
        os.rmdir(directory)


def test_ready_watchdog_stopping_reach_a_path_socket(
    path_socket: tuple[str, socket.socket],
) -> None:
    path, server = path_socket
    with Notifier.from_env({"NOTIFY_SOCKET": path}) as notifier:
        assert notifier.enabled
        assert notifier.ready("store open, 2 AMI links ready")
        assert _recv(server) == ["READY=1", "STATUS=store open, 2 AMI links ready"]
        assert notifier.watchdog()
        assert _recv(server) == ["WATCHDOG=1"]
        assert notifier.status("3 campaigns\n12 calls")
        assert _recv(server) == ["STATUS=3 campaigns 12 calls"]  # one line, never a field break
        assert notifier.stopping("draining")
        assert _recv(server) == ["STOPPING=1", "STATUS=draining"]
        assert notifier.extend_timeout(60)
        assert _recv(server) == ["EXTEND_TIMEOUT_USEC=60000000"]
        assert notifier.reloading()
        fields = _recv(server)
        assert fields[0] == "RELOADING=1" and fields[1].startswith("MONOTONIC_USEC=")


def test_abstract_namespace_socket() -> None:
    name = f"dialerd-test-{uuid.uuid4().hex}"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(b"\0" + name.encode())
    try:
        with Notifier(f"@{name}") as notifier:
            assert notifier.ready()
            assert _recv(server) == ["READY=1"]
    finally:
        server.close()


def test_no_notify_socket_is_a_silent_no_op() -> None:
    notifier = Notifier.from_env({})
    assert not notifier.enabled
    assert notifier.ready() is False
    assert notifier.watchdog() is False


def test_vanished_socket_does_not_raise() -> None:
    notifier = Notifier("/tmp/dialerd-no-such-dir/notify")
    assert notifier.enabled
    assert notifier.watchdog() is False  # logged, not raised: the daemon keeps running
    notifier.close()


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, None),
        ({"WATCHDOG_USEC": "20000000"}, 10.0),
        ({"WATCHDOG_USEC": "3000000", "WATCHDOG_PID": str(os.getpid())}, 1.5),
        ({"WATCHDOG_USEC": "3000000", "WATCHDOG_PID": str(os.getpid() + 1)}, None),
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "soon"}, None),
    ],
)
def test_watchdog_interval_is_half_the_timeout_for_this_process(
    env: dict[str, str], expected: float | None
) -> None:
    assert watchdog_interval(env) == expected


async def test_watchdog_pings_only_while_healthy(path_socket: tuple[str, socket.socket]) -> None:
    path, server = path_socket
    server.setblocking(False)
    healthy = True
    with Notifier(path) as notifier:
        task = asyncio.create_task(watchdog_loop(notifier, 0.02, lambda: healthy))
        try:
            await asyncio.sleep(0.15)
            pings = _drain(server)
            assert pings >= 3
            healthy = False
            await asyncio.sleep(0.03)
            _drain(server)
            await asyncio.sleep(0.15)
            assert _drain(server) == 0
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def _drain(sock: socket.socket) -> int:
    count = 0
    while True:
        try:
            assert sock.recv(4096) == b"WATCHDOG=1"
        except BlockingIOError:
            return count
        count += 1
