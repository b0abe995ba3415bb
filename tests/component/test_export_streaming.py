"""Exports of any size stream: the same files as before, memory for one page, no file that
looks whole when the store fails half-way.

An export of 100,000 contacts was built in memory (the daemon's RSS rose 164 MB); the API
download, ``dialerd export`` and the export task now read pages and write each as it comes.
The goldens in ``data/`` were written by the code before that change (see export_testkit),
which wrote values as they are: they are compared with the exports made with the formula
escaping off (``escape_formulas``; test_export_formulas.py has it on, the default).
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import tempfile
import tracemalloc
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_testkit import Api, auth, make_app, open_api, serving
from export_testkit import COLUMNS, NOW, varied_campaign, xlsx_cells
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from dialerd.api import routes_exports
from dialerd.cli.main import main
from dialerd.domain.clock import ManualClock
from dialerd.domain.enums import Status
from dialerd.domain.model import Contact
from dialerd.engine.tasks import TaskRunner
from dialerd.store import Store
from dialerd.store.errors import StoreUnavailable
from dialerd.taskflow.tasks import export
from dialerd.taskflow.tasks.settings import ExportSettings

DATA = Path(__file__).parent / "data"
BASE = "/api/v1/campaigns/ex/tasks"


def golden_cells(name: str) -> list[list[list[Any]]]:
    cells: list[list[list[Any]]] = json.loads((DATA / name).read_text(encoding="utf-8"))
    return cells


@pytest.fixture
async def api(store: Store, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Api]:
    monkeypatch.setattr(routes_exports, "_PAGE", 7)  # many pages, a short last one
    await varied_campaign(store)
    async for a in open_api(store):
        yield a


async def test_downloads_are_the_same_files_as_before(api: Api) -> None:
    raw = {"escape_formulas": "false"}
    every = {"columns": ",".join(COLUMNS), **raw}
    for task, params, golden in (
        ("call", every, "export_golden_call"),
        ("out", raw, "export_golden_out"),  # the export task's own columns
    ):
        r = await api.call("GET", f"{BASE}/{task}/export", params=params)
        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == "text/csv; charset=utf-8"
        assert r.headers["content-disposition"] == f'attachment; filename="ex-{task}.csv"'
        assert r.content == (DATA / f"{golden}.csv").read_bytes()
        r = await api.call("GET", f"{BASE}/{task}/export", params={**params, "format": "xlsx"})
        assert r.status_code == 200, r.text
        assert r.headers["content-disposition"] == f'attachment; filename="ex-{task}.xlsx"'
        assert int(r.headers["content-length"]) == len(r.content)
        assert xlsx_cells(r.content) == golden_cells(f"{golden}.xlsx.json")
    r = await api.call("GET", f"{BASE}/call/export", params={"status": "success", **raw})
    assert r.content == (DATA / "export_golden_call_success.csv").read_bytes()


async def test_an_xlsx_download_leaves_no_file_behind(
    api: Api, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    temp = tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    r = await api.call("GET", f"{BASE}/call/export", params={"format": "xlsx"})
    assert r.status_code == 200
    assert list(temp.iterdir()) == []


@pytest.mark.parametrize("file_format", ["csv", "xlsx"])
async def test_the_export_task_writes_the_same_files_as_before(
    store: Store, tmp_path: Path, file_format: str
) -> None:
    folder = tmp_path / "files"
    camp = await varied_campaign(
        store, folder=str(folder), file_format=file_format, escape_formulas=False
    )
    runner = TaskRunner(store, camp.id, ManualClock(NOW), holder="t")
    assert await runner.export_now("out") == 36
    (written,) = folder.glob(f"*.{file_format}")
    if file_format == "csv":
        assert written.read_bytes() == (DATA / "export_golden_task.csv").read_bytes()
    else:
        assert xlsx_cells(written.read_bytes()) == golden_cells("export_golden_task.xlsx.json")


async def test_dialerd_export_writes_what_the_download_gives(
    store: Store, store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dialerd.cli import cmd_export

    monkeypatch.setattr(cmd_export, "PAGE", 7)
    await varied_campaign(store)
    db = ["--db", store_url]
    out = tmp_path / "out"
    out.mkdir()
    csv_file, xlsx_file = out / "a.csv", out / "b.xlsx"
    cols = ["--columns", ",".join(COLUMNS), "--no-escape-formulas"]
    assert (
        await asyncio.to_thread(main, ["export", "ex", "call", *cols, "-o", str(csv_file), *db])
        == 0
    )
    assert csv_file.read_bytes() == (DATA / "export_golden_call.csv").read_bytes()
    assert await asyncio.to_thread(main, ["export", "ex", "out", "-o", str(xlsx_file), *db]) == 0
    assert xlsx_cells(xlsx_file.read_bytes()) == golden_cells("export_golden_out.xlsx.json")
    assert sorted(p.name for p in out.iterdir()) == ["a.csv", "b.xlsx"]  # no .part left
    # an unknown column, an unknown task: one line, a usage / no-input exit code
    assert await asyncio.to_thread(main, ["export", "ex", "call", "--columns", "plna", *db]) == 64
    assert await asyncio.to_thread(main, ["export", "ex", "nope", *db]) == 66


async def test_dialerd_export_to_standard_output(
    store: Store, store_url: str, capfdbinary: pytest.CaptureFixture[bytes]
) -> None:
    await varied_campaign(store)
    argv = ["export", "ex", "call", "--status", "success", "-o", "-", "--db", store_url]
    argv.append("--no-escape-formulas")
    assert await asyncio.to_thread(main, argv) == 0
    out = capfdbinary.readouterr().out
    assert out == (DATA / "export_golden_call_success.csv").read_bytes()


# -- memory: one page, however many contacts ---------------------------------------------------


async def _get(app: Any, path: str, query: str, sent: Any) -> int:
    """GET ``path`` from the ASGI ``app``, calling ``sent(body so far)`` at each part of the
    body as it leaves the app; the status."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(b"authorization", auth("readonly")["Authorization"].encode())],
        "server": ("t", 80),
        "client": ("127.0.0.1", 1234),
    }
    status = 0
    body = b""

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status, body
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            body += message.get("body", b"")
            sent(body)

    await app(scope, receive, send)
    return status


async def test_a_download_holds_one_page_not_the_whole_task(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Counted: contacts read from the store less contacts written out. The download read all
    53 contacts of the task before it wrote the first row (and 100,000 so in the audit); now it
    never holds more than one page (7 here). CSV: rows that left the app; XLSX: rows handed to
    openpyxl's write-only sheet (which keeps them in a temporary file)."""
    monkeypatch.setattr(routes_exports, "_PAGE", 7)
    await varied_campaign(store)
    read = 0
    real = store.find_contacts

    async def counting(*args: Any, **kw: Any) -> list[Contact]:
        nonlocal read
        page = await real(*args, **kw)
        read += len(page)
        return page

    monkeypatch.setattr(store, "find_contacts", counting)
    held: list[int] = []

    def sent(body: bytes) -> None:
        text = body.decode("utf-8-sig", errors="replace")
        rows = len(list(csv.reader(io.StringIO(text, newline=""), delimiter=";"))) - 1
        held.append(read - max(rows, 0))

    appended = 0
    real_append = WriteOnlyWorksheet.append

    def append(self: WriteOnlyWorksheet, row: Any) -> None:
        nonlocal appended
        held.append(read - appended)
        appended += 1
        real_append(self, row)

    monkeypatch.setattr(WriteOnlyWorksheet, "append", append)
    app = make_app(store, None, ManualClock(NOW))
    path = f"{BASE}/call/export"
    assert await _get(app, path, "format=csv", sent) == 200
    assert read == 53  # 60 in the task, 7 moved to another
    assert max(held) <= 7, held
    read, appended = 0, -1  # the header row
    held.clear()
    assert await _get(app, path, "format=xlsx", lambda body: None) == 200
    assert read == appended == 53
    assert max(held) <= 7, held


def _contacts(n: int, first: int = 1) -> list[Contact]:
    return [
        Contact(
            id=i,
            campaign_id=1,
            task_id=1,
            status=Status.OPEN,
            status_detail="$none",
            phone=f"+4930{1000000 + i}",
            first_name=f"Vorname{i}",
            last_name=f"Nachname-{i}-Müller",
            company=f"Firma {i} GmbH",
            email=f"person{i}@example.test",
            external_id=f"crm-{i:08d}",
            fields={"plan": f"p{i % 7}", "score": i, "note": f"note {i} " * 3},
        )
        for i in range(first, first + n)
    ]


async def _pages(n: int, size: int = 500) -> AsyncIterator[list[Contact]]:
    """``n`` contacts in pages, each made when asked for (as the store reads them)."""
    for first in range(1, n + 1, size):
        yield _contacts(min(size, n - first + 1), first)


async def _peak(n: int, file_format: str, tmp_path: Path) -> int:
    """Traced peak (bytes) of exporting ``n`` contacts, less what was traced before."""
    columns = [*ExportSettings().columns, "plan", "score", "note"]
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        if file_format == "csv":
            size = 0
            async for chunk in export.csv_chunks(_pages(n), columns):
                size += len(chunk)
            assert size > n * 100
        else:
            assert (
                await export.write_export(tmp_path / f"{n}.xlsx", _pages(n), columns, "xlsx") == n
            )
        return tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("file_format", ["csv", "xlsx"])
async def test_export_memory_does_not_grow_with_the_number_of_contacts(
    file_format: str, tmp_path: Path
) -> None:
    """Ten times the contacts, the same peak: one page (500 contacts, about 1 MB) and the
    writer. Held whole, 20,000 contacts were about 25 MB."""
    small = await _peak(2_000, file_format, tmp_path)
    large = await _peak(20_000, file_format, tmp_path)
    assert large < 4 * 1024 * 1024, large
    assert large < small * 1.5 + 512 * 1024, (small, large)


# -- the store fails half-way -------------------------------------------------------------------


async def test_a_csv_download_cut_off_by_the_store_is_a_broken_download(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Served by uvicorn as in the daemon: the first pages go out, then the store fails. The
    client must not get a shorter file that looks complete: the chunked body ends without its
    last chunk and the client's read fails."""
    monkeypatch.setattr(routes_exports, "_PAGE", 7)
    await varied_campaign(store)
    real = store.find_contacts
    pages = 0

    async def failing(*args: Any, **kw: Any) -> list[Contact]:
        nonlocal pages
        pages += 1
        if pages == 4:
            raise StoreUnavailable("the database went away")
        return await real(*args, **kw)

    monkeypatch.setattr(store, "find_contacts", failing)
    app = make_app(store, None, ManualClock(NOW))
    received = b""
    async with (
        serving(app) as port,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client,
    ):
        with pytest.raises(httpx.RemoteProtocolError):
            async with client.stream("GET", f"{BASE}/call/export", headers=auth("readonly")) as r:
                assert r.status_code == 200
                async for part in r.aiter_bytes():
                    received += part
        # the connection is gone, the server is not: the next download is whole
        pages = -100
        whole = await client.get(f"{BASE}/call/export", headers=auth("readonly"))
    rows = list(csv.reader(io.StringIO(received.decode("utf-8-sig"), newline=""), delimiter=";"))
    assert 1 + 3 * 7 >= len(rows) >= 1  # the header and at most the three pages read
    assert whole.status_code == 200
    assert whole.content.startswith(received) and len(whole.content) > len(received)
    text = whole.content.decode("utf-8-sig")
    assert len(list(csv.reader(io.StringIO(text, newline=""), delimiter=";"))) == 1 + 53


async def test_an_xlsx_download_whose_store_fails_is_an_error_and_no_file(
    api: Api, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """XLSX is made whole before the first byte goes out: a failure is a 500 and nothing of the
    file stays on disk."""
    temp = tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    real = api.store.find_contacts
    pages = 0

    async def failing(*args: Any, **kw: Any) -> list[Contact]:
        nonlocal pages
        pages += 1
        if pages == 3:
            raise StoreUnavailable("the database went away")
        return await real(*args, **kw)

    monkeypatch.setattr(api.store, "find_contacts", failing)
    r = await api.call("GET", f"{BASE}/call/export", params={"format": "xlsx"})
    assert r.status_code == 500
    assert r.headers["content-type"] == "application/json"
    assert list(temp.iterdir()) == []


async def test_more_contacts_than_an_xlsx_sheet_holds_is_refused_naming_csv(
    api: Api, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Excel opens at most 1,048,576 rows. The download was refused past 200,000 contacts (it
    was built in memory); it streams now, and only XLSX has a limit: past it, 422 naming CSV
    (here with the limit set to 20) and no file left, where a sheet Excel cannot open was made."""
    monkeypatch.setattr(export, "XLSX_MAX_CONTACTS", 20)
    temp = tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    r = await api.call("GET", f"{BASE}/call/export", params={"format": "xlsx"})
    assert r.status_code == 422, r.text
    assert r.json()["field"] == "format" and "CSV" in r.json()["error"]
    assert list(temp.iterdir()) == []
    r = await api.call("GET", f"{BASE}/call/export", params={"status": "open"})
    assert r.status_code == 200  # CSV has no limit


async def test_a_client_that_hangs_up_stops_the_export(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pages are read while the file goes out; a client that leaves after the first bytes
    ends the reading (it was: every page read, then the file built, for nobody)."""
    monkeypatch.setattr(routes_exports, "_PAGE", 7)
    await varied_campaign(store)
    real = store.find_contacts
    pages = 0

    async def slow(*args: Any, **kw: Any) -> list[Contact]:
        nonlocal pages
        pages += 1
        await asyncio.sleep(0.2)
        return await real(*args, **kw)

    monkeypatch.setattr(store, "find_contacts", slow)
    app = make_app(store, None, ManualClock(NOW))
    async with (
        serving(app) as port,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client,
    ):
        async with client.stream("GET", f"{BASE}/call/export", headers=auth("readonly")) as r:
            assert r.status_code == 200
            async for _ in r.aiter_bytes():
                break  # the header line: hang up
        await asyncio.sleep(1.0)
        assert pages <= 3  # of 8
