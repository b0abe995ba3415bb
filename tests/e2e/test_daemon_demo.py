"""``dialerd demo`` as a new user runs it: it dials, shows progress and ends with a summary."""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

DIALERD = Path(sys.executable).parent / "dialerd"


async def test_demo_dials_and_ends_with_a_summary(tmp_path: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        str(DIALERD),
        "demo",
        "--minutes",
        "0.25",
        "--speed",
        "20",
        "--contacts",
        "400",
        "--port",
        "0",
        "--dir",
        str(tmp_path / "demo"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=tmp_path,
    )
    out_b, err_b = await asyncio.wait_for(proc.communicate(), 90)
    out, err = out_b.decode(), err_b.decode()
    assert proc.returncode == 0, err
    assert re.search(r"API http://127\.0\.0\.1:\d+/docs", out)
    assert re.search(r"metrics http://127\.0\.0\.1:\d+/metrics", out)
    assert "imported 400 contacts" in out
    assert "calling hours 08:00-21:00 contact-local are enforced" in out
    placed = re.search(r"calls placed (\d+), finished (\d+)", out)
    assert placed, out
    assert int(placed.group(1)) > 0
    assert placed.group(1) == placed.group(2)  # drained: every call placed was finished
    assert "contacts (400 imported) per task/status:" in out
    assert (tmp_path / "demo" / "demo.db").is_file()
    assert "Traceback" not in err
