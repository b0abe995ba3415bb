"""``dialerd sim`` as a process: listens, speaks AMI, stops cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys

import pytest

from dialerd.ami.codec import AmiDecoder, Message, encode_action

pytestmark = pytest.mark.e2e


async def _read_until(reader: asyncio.StreamReader, decoder: AmiDecoder, name: str) -> Message:
    while True:
        data = await asyncio.wait_for(reader.read(65536), 5)
        assert data, "connection closed"
        for m in decoder.feed(data):
            if isinstance(m, Message) and m.name == name:
                return m


async def test_dialerd_sim_serves_ami_and_stops_on_sigterm() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "dialerd.cli.main",
        "sim",
        "--port",
        "0",
        "--speed",
        "10",
        "--secret",
        "s3cret",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        m = None
        for _ in range(20):  # log lines may come first
            line = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode()
            m = re.search(r"AMI on 127\.0\.0\.1:(\d+)", line)
            if m or not line:
                break
        assert m, "no 'AMI on' line"
        reader, writer = await asyncio.open_connection("127.0.0.1", int(m.group(1)))
        decoder = AmiDecoder()
        writer.write(encode_action("Login", {"Username": "dialer", "Secret": "s3cret"}))
        await _read_until(reader, decoder, "FullyBooted")
        writer.write(encode_action("Ping", {"ActionID": "p"}))
        pong = await _read_until(reader, decoder, "Success")
        assert pong.get("Ping") == "Pong"
        writer.close()
        await writer.wait_closed()
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 10) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_dialerd_sim_refuses_a_bad_speed() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "dialerd.cli.main",
        "sim",
        "--speed",
        "0",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode != 0
    assert b"--speed must be positive" in err
    assert b"Traceback" not in err
