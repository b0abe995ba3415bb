"""Fixtures shared by the unit tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from dialerd.cli.main import main

BenchPacing = Callable[..., tuple[int, str]]


@pytest.fixture
def bench_pacing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> BenchPacing:
    """``dialerd bench pacing ARGS`` on a scenario file written from TOML text (named ``name``:
    the report knows the standard scenarios' targets by name), one worker, results in
    ``tmp_path``; returns the exit code and what was printed."""

    def run(scenario: str, *args: str, name: str = "short") -> tuple[int, str]:
        path = tmp_path / f"{name}.toml"
        path.write_text(scenario)
        argv = ["bench", "pacing", *args, "--scenario", str(path), "--out", str(tmp_path)]
        code = main([*argv, "--workers", "1"])
        return code, capsys.readouterr().out

    return run
