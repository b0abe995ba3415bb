"""``dialerd run`` refuses what it cannot run with clear lines and a distinct exit code."""

from __future__ import annotations

import asyncio
import shutil
import signal
import socket
from pathlib import Path

import pytest
from daemon_e2e_support import Setup, daemon_process, output, prepare

pytestmark = pytest.mark.e2e

EX_CONFIG = 78
EX_UNAVAILABLE = 69


async def test_unmigrated_database_is_refused_with_the_command_that_fixes_it(
    tmp_path: Path,
) -> None:
    setup = await prepare(tmp_path, ami_port=1, migrate=False)
    async with daemon_process(setup) as proc:
        rc = await asyncio.wait_for(proc.wait(), 60)
    _, err = output(setup)
    assert rc == EX_CONFIG
    assert "has no dialerd schema" in err
    assert f"run: dialerd migrate --config {setup.config}" in err  # the daemon's own file
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


async def test_bad_config_exits_78_naming_the_file_and_every_bad_key(tmp_path: Path) -> None:
    setup = await prepare(tmp_path, ami_port=1, migrate=False)
    text = setup.config.read_text()
    text = text.replace("port = 1\n", "port = 99999\n").replace("tick = 0.5\n", "tikc = 0.5\n")
    setup.config.write_text(text)
    async with daemon_process(setup) as proc:
        rc = await asyncio.wait_for(proc.wait(), 60)
    out, err = output(setup)
    assert rc == EX_CONFIG
    problems = err.strip().splitlines()
    assert all(str(setup.config) in line for line in problems), err
    assert any("asterisk[0].port" in line for line in problems), err
    assert any("engine.tikc: unknown key (did you mean 'tick'?)" in line for line in problems)
    assert "Traceback" not in err + out
    assert out == ""  # nothing was started, nothing logged


async def test_a_database_that_is_down_at_start_exits_69_saying_so(tmp_path: Path) -> None:
    """Not "internal error", rc 70 (which points at a bug): the database is unreachable,
    EX_UNAVAILABLE, and systemd's Restart= tries again."""
    setup = await prepare(tmp_path, ami_port=1, migrate=False)
    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"postgresql+asyncpg://dialerd@127.0.0.1:{port}/dialerd"
    setup.config.write_text(setup.config.read_text().replace(setup.db_url, url))
    async with daemon_process(setup) as proc:
        rc = await asyncio.wait_for(proc.wait(), 60)
    _, err = output(setup)
    assert rc == EX_UNAVAILABLE, err
    assert f"database postgresql+asyncpg://dialerd@127.0.0.1:{port}/dialerd unavailable" in err
    assert "internal error" not in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


async def test_a_second_daemon_on_the_same_database_and_holder_is_refused(
    tmp_path: Path,
) -> None:
    """Two daemons on one host and one database were both ``dialerd@<host>``: the second
    started silently and closed the first one's live calls as lost. It is refused now, and
    told about ``[engine] instance`` (several daemons on one PostgreSQL database)."""
    setup = await prepare(tmp_path, ami_port=1, contacts=0)
    second_dir = tmp_path / "second"
    second_dir.mkdir()
    shutil.copytree(tmp_path / "campaigns", second_dir / "campaigns")
    second = Setup(second_dir / "dialerd.toml", setup.db_url, setup.env)
    second.config.write_text(setup.config.read_text())
    async with daemon_process(setup) as first:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while "lease holder" not in output(setup)[0]:
            assert first.returncode is None and loop.time() < deadline, output(setup)
            await asyncio.sleep(0.1)
        async with daemon_process(second) as proc:
            rc = await asyncio.wait_for(proc.wait(), 60)
        _, err = output(second)
        assert rc == EX_UNAVAILABLE, err
        assert f"another dialerd runs as 'dialerd@{socket.gethostname()}'" in err
        assert "[engine] instance" in err and "Traceback" not in err
        assert first.returncode is None  # the first one dials on
        first.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(first.wait(), 30) == 0
