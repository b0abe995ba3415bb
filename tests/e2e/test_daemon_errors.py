"""``dialerd run`` refuses what it cannot run with one clear line and a distinct exit code."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from daemon_e2e_support import daemon_process, output, prepare

pytestmark = pytest.mark.e2e

EX_CONFIG = 78


async def test_unmigrated_database_is_refused_with_the_command_that_fixes_it(
    tmp_path: Path,
) -> None:
    setup = await prepare(tmp_path, ami_port=1, migrate=False)
    async with daemon_process(setup) as proc:
        rc = await asyncio.wait_for(proc.wait(), 60)
    _, err = output(setup)
    assert rc == EX_CONFIG
    assert "dialerd migrate" in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("replace", "expected"),
    [
        ("port = 1\n", "asterisk[0].port"),  # placeholder swapped below
        ("tick = 0.5\n", "engine.tikc: unknown key (did you mean 'tick'?)"),
    ],
)
async def test_bad_config_exits_78_naming_the_file_and_key(
    tmp_path: Path, replace: str, expected: str
) -> None:
    setup = await prepare(tmp_path, ami_port=1, migrate=False)
    text = setup.config.read_text()
    if expected.startswith("asterisk"):
        text = text.replace("port = 1\n", "port = 99999\n")
    else:
        text = text.replace(replace, "tikc = 0.5\n")
    setup.config.write_text(text)
    async with daemon_process(setup) as proc:
        rc = await asyncio.wait_for(proc.wait(), 60)
    out, err = output(setup)
    assert rc == EX_CONFIG
    assert str(setup.config) in err
    assert expected in err
    assert "Traceback" not in err + out


async def test_missing_secret_is_named_but_not_guessed(tmp_path: Path) -> None:
    setup = await prepare(tmp_path, ami_port=1, migrate=False)
    env = {k: v for k, v in setup.env.items() if k != "E2E_AMI_SECRET"}
    async with daemon_process(setup, env) as proc:
        rc = await asyncio.wait_for(proc.wait(), 60)
    _, err = output(setup)
    assert rc == EX_CONFIG
    assert "asterisk[0].secret" in err
    assert "E2E_AMI_SECRET" in err
