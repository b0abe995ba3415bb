"""CSV exports and formula injection: a value that begins with ``=``, ``+``, ``-`` or ``@`` is
a formula to a spreadsheet that opens the file (``=HYPERLINK(...)`` from an imported list or a
web form, run on the reader's machine). They were written unchanged; now every CSV export (the
export task, the API download, ``dialerd export``) writes them with a leading ``'`` (OWASP's
advice) unless the option turns that off. Plain numbers (``-5``, an E.164 phone ``+4930...``)
are no formulas and stay as they are. XLSX writes such values as text cells already.
"""

from __future__ import annotations

import asyncio
import csv
import io
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from api_testkit import Api, open_api
from export_testkit import COLUMNS, NOW, varied_campaign

from dialerd.cli.main import main
from dialerd.domain.clock import ManualClock
from dialerd.engine.tasks import TaskRunner
from dialerd.store import Store

DATA = Path(__file__).parent / "data"
BASE = "/api/v1/campaigns/ex/tasks"


def rows(data: bytes, delimiter: str = ";") -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""), delimiter=delimiter))


def guarded(cell: str) -> str:
    """What a cell of the raw golden must read as when formulas are escaped."""
    if cell[:1] in ("=", "+", "-", "@", "\t", "\r") and not re.fullmatch(
        r"[+-]?\d+([.,]\d+)?", cell
    ):
        return "'" + cell
    return cell


def escaped_golden(name: str, delimiter: str = ";") -> list[list[str]]:
    raw = rows((DATA / name).read_bytes(), delimiter)
    return [raw[0]] + [[guarded(c) for c in row] for row in raw[1:]]


@pytest.fixture
async def api(store: Store) -> AsyncIterator[Api]:
    await varied_campaign(store)
    async for a in open_api(store):
        yield a


async def test_a_download_escapes_formulas_by_default(api: Api) -> None:
    r = await api.call("GET", f"{BASE}/call/export", params={"columns": ",".join(COLUMNS)})
    assert r.status_code == 200, r.text
    got = rows(r.content)
    assert got == escaped_golden("export_golden_call.csv")
    cells = {c for row in got[1:] for c in row}
    assert {"'=1+2", '\'=HYPERLINK("http://x.test","click")', "'@SUM(A1:A2)"} <= cells
    assert {"+4930123", "-5", "+49301000001"} <= cells  # numbers and phones as they were
    assert not any(c.startswith(("=", "@")) for c in cells)
    # the option off: the file as before, byte for byte
    raw = await api.call(
        "GET",
        f"{BASE}/call/export",
        params={"columns": ",".join(COLUMNS), "escape_formulas": "false"},
    )
    assert raw.content == (DATA / "export_golden_call.csv").read_bytes()


async def test_the_export_task_escapes_formulas_unless_told_not_to(
    store: Store, tmp_path: Path
) -> None:
    folder = tmp_path / "files"
    camp = await varied_campaign(store, folder=str(folder))
    runner = TaskRunner(store, camp.id, ManualClock(NOW), holder="t")
    assert await runner.export_now("out") == 36
    (written,) = folder.glob("*.csv")
    assert rows(written.read_bytes(), ",") == escaped_golden("export_golden_task.csv", ",")


async def test_an_export_task_with_the_option_off_writes_values_as_they_are(
    store: Store, tmp_path: Path
) -> None:
    folder = tmp_path / "files"
    camp = await varied_campaign(store, folder=str(folder), escape_formulas=False)
    runner = TaskRunner(store, camp.id, ManualClock(NOW), holder="t")
    assert await runner.export_now("out") == 36
    (written,) = folder.glob("*.csv")
    assert written.read_bytes() == (DATA / "export_golden_task.csv").read_bytes()


async def test_dialerd_export_escapes_formulas_by_default(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    await varied_campaign(store)
    target = tmp_path / "a.csv"
    argv = ["export", "ex", "call", "--columns", ",".join(COLUMNS), "--db", store_url]
    assert await asyncio.to_thread(main, [*argv, "-o", str(target)]) == 0
    assert rows(target.read_bytes()) == escaped_golden("export_golden_call.csv")
    raw = tmp_path / "raw.csv"
    assert await asyncio.to_thread(main, [*argv, "-o", str(raw), "--no-escape-formulas"]) == 0
    assert raw.read_bytes() == (DATA / "export_golden_call.csv").read_bytes()
