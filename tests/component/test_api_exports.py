"""REST API: a task's contacts downloaded as CSV or XLSX (issue 8: export for download)."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from typing import Any

import openpyxl
import pytest
from api_testkit import Api, create_campaign, open_api

from dialerd.store import Store

EXPORT = "/api/v1/campaigns/sales/tasks/call/export"
CONTACTS = "/api/v1/campaigns/sales/contacts"


@pytest.fixture
async def api(store: Store) -> AsyncIterator[Api]:
    async for a in open_api(store):
        await create_campaign(a)
        for i, (first, phone) in enumerate([("Erika", "+49301234567"), ("Max", "+49401234567")]):
            r = await a.call(
                "POST",
                "/api/v1/campaigns/sales/contacts",
                json={"first_name": first, "phone": phone, "fields": {"plan": f"p{i}"}},
            )
            assert r.status_code == 201, r.text
        yield a


async def test_csv_download_has_every_contact_of_the_task(api: Api) -> None:
    r = await api.call("GET", EXPORT, role="readonly")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    assert 'filename="sales-call.csv"' in r.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(r.text), delimiter=";"))
    assert sorted(row["first_name"] for row in rows) == ["Erika", "Max"]
    assert {row["status"] for row in rows} == {"open"}


async def test_xlsx_download_with_chosen_columns_including_custom_fields(api: Api) -> None:
    r = await api.call("GET", EXPORT, params={"format": "xlsx", "columns": "phone,fields.plan"})
    assert r.status_code == 200, r.text
    sheet = openpyxl.load_workbook(io.BytesIO(r.content)).active
    values = [tuple(c.value for c in row) for row in sheet.iter_rows()]
    assert values[0] == ("phone", "fields.plan")
    assert sorted(values[1:]) == [("+49301234567", "p0"), ("+49401234567", "p1")]


async def test_unknown_task_is_404_naming_the_field(api: Api) -> None:
    r = await api.call("GET", "/api/v1/campaigns/sales/tasks/nope/export")
    assert r.status_code == 404
    assert r.json()["field"] == "task"


async def test_download_changes_nothing(api: Api) -> None:
    before = (await api.call("GET", "/api/v1/campaigns/sales/overview")).json()
    assert (await api.call("GET", EXPORT)).status_code == 200
    after = (await api.call("GET", "/api/v1/campaigns/sales/overview")).json()
    assert before == after


async def test_an_unknown_column_is_refused_naming_it_and_the_valid_ones(api: Api) -> None:
    """A misspelt column came out as an empty column (it was taken for a custom field), which
    reads as "no contact has a value"."""
    r = await api.call("GET", EXPORT, params={"columns": "phone,plna,fields.nope"})
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["field"] == "columns"
    assert "'plna' (did you mean 'plan'?)" in body["error"]
    assert "'fields.nope'" in body["error"]
    assert "valid: " in body["error"] and "first_name" in body["error"]
    # a custom field the campaign's contacts have works bare or as fields.NAME
    r = await api.call("GET", EXPORT, params={"columns": "phone,first_name,plan"})
    assert r.status_code == 200, r.text
    rows = list(csv.DictReader(io.StringIO(r.text), delimiter=";"))
    assert sorted((row["first_name"], row["plan"]) for row in rows) == [
        ("Erika", "p0"),
        ("Max", "p1"),
    ]


async def test_contacts_staying_in_the_task_are_all_in_the_file_while_others_leave(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pages of 10: after the first page is read, the five lowest ids leave the task. Offset
    pages shifted by five and left out five contacts that were in the task all along."""
    from dialerd.api import routes_exports

    monkeypatch.setattr(routes_exports, "_PAGE", 10)
    batch = [{"phone": f"+4930555{i:04d}"} for i in range(28)]
    r = await api.call("POST", "/api/v1/campaigns/sales/contacts/batch", json={"contacts": batch})
    assert r.status_code == 200, r.text
    ids = sorted(
        c["id"] for c in (await api.call("GET", CONTACTS, params={"limit": 100})).json()["contacts"]
    )
    assert len(ids) == 30
    leaving, staying = ids[:5], ids[5:]
    real = api.store.find_contacts
    pages = 0

    async def find_then_move(*args: Any, **kw: Any) -> Any:
        nonlocal pages
        page = await real(*args, **kw)
        pages += 1
        if pages == 1:
            r = await api.call(
                "POST",
                f"{CONTACTS}/move",
                json={"filter": {"ids": leaving}, "to_task": "won"},
            )
            assert r.json() == {"moved": 5, "skipped_in_call": 0, "in_call": []}
        return page

    monkeypatch.setattr(api.store, "find_contacts", find_then_move)
    r = await api.call("GET", EXPORT, params={"columns": "id,phone"})
    assert r.status_code == 200
    text = r.content.decode("utf-8-sig")
    got = [int(row["id"]) for row in csv.DictReader(io.StringIO(text), delimiter=";")]
    assert set(staying) <= set(got)
    assert len(got) == len(set(got))  # no contact twice
