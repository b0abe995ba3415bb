"""REST API: contact import by upload (CSV, XLSX) and the import history."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import openpyxl
import pytest
from api_testkit import START, Api, auth, campaign_body, create_campaign, make_app, open_api

from dialerd.domain.clock import ManualClock
from dialerd.store import Store

IMPORTS = "/api/v1/campaigns/sales/imports"

CSV = (
    b"Vorname;Nachname;Telefon;Kundennummer;Tarif\n"
    b"Erika;Mustermann;030 1234567;K1;gold\n"
    b"Max;Muster;kaputt;K2;silver\n"
    b"Hans;Meier;040 555000;K3;gold\n"
    b"Dup;Licate;+49 30 1234567;K4;gold\n"
)


@pytest.fixture
async def api(store: Store) -> AsyncIterator[Api]:
    async for a in open_api(store):
        await create_campaign(a)
        yield a


async def test_upload_csv_with_a_bad_row(api: Api) -> None:
    mapping = {"columns": {"Telefon": "phone", "Vorname": "first_name", "Tarif": "fields.plan"}}
    r = await api.call(
        "POST",
        IMPORTS,
        role="supervisor",
        files={"file": ("leads.csv", CSV, "text/csv")},
        data={"mode": "append", "mapping": json.dumps(mapping), "list_name": "fair"},
    )
    assert r.status_code == 201, r.text
    report = r.json()
    assert report["started_at"].endswith("Z") and report["finished_at"].endswith("Z")
    assert (report["rows"], report["imported"], report["rejected"], report["duplicates"]) == (
        4,
        2,
        1,
        1,
    )
    bad = [p for p in report["problems"] if p["kind"] == "invalid"]
    assert bad == [
        {
            "row": 3,
            "column": "Telefon",
            "kind": "invalid",
            "reason": bad[0]["reason"],
            "value": "kaputt",
        }
    ]
    assert report["actor"] == "api:floor"
    assert report["file"] == "leads.csv"

    found = (
        await api.call("GET", "/api/v1/campaigns/sales/contacts", params={"list_name": "fair"})
    ).json()
    assert [(c["first_name"], c["fields"]) for c in found["contacts"]] == [
        ("Erika", {"plan": "gold"}),
        ("Hans", {"plan": "gold"}),
    ]

    history = (await api.call("GET", IMPORTS, role="readonly")).json()["imports"]
    assert len(history) == 1
    assert history[0]["file"] == "leads.csv"
    assert history[0]["imported"] == 2
    assert history[0]["actor"] == "api:floor"


async def test_upload_xlsx_replace(api: Api) -> None:
    def workbook(rows: list[list[str]]) -> bytes:
        wb = openpyxl.Workbook()
        ws = wb.active
        assert ws is not None
        for row in rows:
            ws.append(row)
        out = io.BytesIO()
        wb.save(out)
        return out.getvalue()

    first = workbook([["Phone", "Name"], ["+49301234567", "A"], ["+49301234568", "B"]])
    second = workbook([["Phone", "Name"], ["+49301234569", "C"]])
    for content in (first, second):
        r = await api.call(
            "POST",
            IMPORTS,
            files={"file": ("list.xlsx", content, "application/octet-stream")},
            data={
                "mode": "replace",
                "mapping": json.dumps({"columns": {"Phone": "phone", "Name": "first_name"}}),
            },
        )
        assert r.status_code == 201, r.text
    assert r.json()["replaced"] == 2
    found = (await api.call("GET", "/api/v1/campaigns/sales/contacts")).json()
    assert [c["first_name"] for c in found["contacts"]] == ["C"]


async def test_upload_with_a_huge_cell_rejects_that_row_only(api: Api) -> None:
    rows = "".join(f"+4930{2000000 + i};K{i}\n" for i in range(2000))
    content = f"Telefon;Notiz\n{rows}+4930600001;{'x' * 140_000}\n+4930600002;ok\n".encode()
    r = await api.call(
        "POST", IMPORTS, role="supervisor", files={"file": ("big.csv", content, "text/csv")}
    )
    assert r.status_code == 201, r.text[:300]
    report = r.json()
    assert (report["rows"], report["imported"], report["rejected"]) == (2002, 2001, 1)
    [problem] = report["problems"]
    assert (problem["row"], problem["column"]) == (2002, "Notiz")
    assert "longer than 65,536 characters (140,000)" in problem["reason"]


BAD_UPLOADS: list[tuple[dict[str, Any], dict[str, str], str]] = [
    ({"file": ("x.pdf", b"%PDF", "application/pdf")}, {}, "file"),
    ({"file": ("x.csv", CSV, "text/csv")}, {"mapping": "{oops"}, "mapping"),
    (
        {"file": ("x.csv", CSV, "text/csv")},
        {"mapping": '{"columns": {"Telefon": "shoe"}}'},
        "mapping",
    ),
    (
        {"file": ("x.csv", CSV, "text/csv")},
        {"mapping": '{"columns": {"Nope": "phone"}}'},
        "mapping",
    ),
    ({"file": ("x.csv", CSV, "text/csv")}, {"mode": "merge"}, "mode"),
    ({"file": ("x.csv", CSV, "text/csv")}, {"task": "nowhere"}, "task"),
    ({"file": ("x.xlsx", b"not a zip", "application/octet-stream")}, {}, "file"),
    ({"file": ("x.csv", b"Telefon;Notiz;Notiz\n030 1234567;a;b\n", "text/csv")}, {}, "mapping"),
    ({}, {}, "file"),
]


async def test_bad_uploads_are_422(api: Api) -> None:
    for files, data, field in BAD_UPLOADS:
        r = await api.call("POST", IMPORTS, files=files or None, data=data)
        assert r.status_code == 422, (data, r.text)
        assert r.json()["field"] == field, data
    assert (await api.call("GET", "/api/v1/campaigns/sales/contacts")).json()["total"] == 0
    assert (await api.call("GET", IMPORTS)).json()["imports"] == []


async def test_unknown_campaign(api: Api) -> None:
    r = await api.call(
        "POST", "/api/v1/campaigns/nope/imports", files={"file": ("x.csv", CSV, "text/csv")}
    )
    assert r.status_code == 404


async def test_upload_over_the_limit_is_413(store: Store) -> None:
    app = make_app(store, None, ManualClock(START), max_upload_bytes=100)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        r = await client.post("/api/v1/campaigns", json=campaign_body(), headers=auth("admin"))
        assert r.status_code == 201
        r = await client.post(
            IMPORTS, files={"file": ("big.csv", CSV, "text/csv")}, headers=auth("admin")
        )
        assert r.status_code == 413
        assert r.json() == {
            "error": "'big.csv' is larger than the limit of 100 bytes",
            "field": "file",
        }
        r = await client.get(IMPORTS, headers=auth("admin"))
        assert r.json()["imports"] == []


async def test_a_file_with_only_a_header_row_is_422_and_changes_nothing(api: Api) -> None:
    """As the CLI refuses it (exit 65); before, the API answered 201 "imported 0", and in
    replace mode emptied the list."""
    r = await api.call("POST", IMPORTS, files={"file": ("leads.csv", CSV, "text/csv")})
    assert r.status_code == 201
    before = (await api.call("GET", "/api/v1/campaigns/sales/contacts")).json()["total"]
    header = CSV.split(b"\n")[0] + b"\n"
    r = await api.call(
        "POST",
        IMPORTS,
        files={"file": ("leads.csv", header, "text/csv")},
        data={"mode": "replace"},
    )
    assert r.status_code == 422, r.text
    assert r.json() == {"error": "leads.csv: no data rows (only a header)", "field": "file"}
    assert (await api.call("GET", "/api/v1/campaigns/sales/contacts")).json()["total"] == before
    assert len((await api.call("GET", IMPORTS)).json()["imports"]) == 1


async def test_the_suffix_error_lists_every_accepted_kind(api: Api) -> None:
    r = await api.call("POST", IMPORTS, files={"file": ("x.pdf", b"%PDF", "application/pdf")})
    assert r.status_code == 422
    assert r.json()["error"] == "'x.pdf': expected a .csv, .tsv, .txt or .xlsx file"
