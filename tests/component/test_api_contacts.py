"""REST API: contacts — add (idempotent), batch, search, change, delete, move, bulk edit,
history and attempts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from api_testkit import Api, create_campaign, open_api

from dialerd.domain.enums import CallResult
from dialerd.domain.model import Attempt
from dialerd.store import Store

C = "/api/v1/campaigns/sales/contacts"


@pytest.fixture
async def api(store: Store) -> AsyncIterator[Api]:
    async for a in open_api(store):
        await create_campaign(a)
        yield a


async def add(api: Api, **body: Any) -> dict[str, Any]:
    r = await api.call("POST", C, json=body)
    assert r.status_code in (200, 201), r.text
    out: dict[str, Any] = r.json()
    return out


async def test_add_normalises_phone_and_is_idempotent_by_external_id(api: Api) -> None:
    r = await api.call(
        "POST",
        C,
        json={
            "phone": "030 1234567",
            "first_name": "Erika",
            "last_name": "Mustermann",
            "external_id": "crm-1",
            "fields": {"plan": "gold", "score": 7},
        },
    )
    assert r.status_code == 201, r.text
    first = r.json()
    contact = first["contact"]
    assert first["result"] == "created"
    assert contact["phone"] == "+49301234567"
    assert contact["timezone"] == "Europe/Berlin"
    assert (contact["task"], contact["status"], contact["status_detail"]) == (
        "call",
        "open",
        "$none",
    )
    assert contact["fields"] == {"plan": "gold", "score": 7}

    again = await api.call("POST", C, json={"phone": "+49 30 1234567", "external_id": "crm-1"})
    assert again.status_code == 200
    assert again.json()["result"] == "exists"
    assert again.json()["contact"]["id"] == contact["id"]

    dup = await api.call("POST", C, json={"phone": "+49301234567", "external_id": "crm-2"})
    assert dup.status_code == 409
    assert dup.json()["field"] == "phone"
    assert str(contact["id"]) in dup.json()["error"]

    total = await api.call("GET", C)
    assert total.json()["total"] == 1


BAD_CONTACTS: list[tuple[dict[str, Any], str]] = [
    ({"phone": "12"}, "phone"),
    ({"phone": "+49301234567", "email": "not-an-address"}, "email"),
    ({"phone": "+49301234567", "timezone": "Berlin"}, "timezone"),
    ({"phone": "+49301234567", "task": "nowhere"}, "task"),
    ({"phone": "+49301234567", "shoe_size": 44}, "shoe_size"),
    ({"phone": "+49301234567", "fields": {"x": [1, 2]}}, "fields.x.str"),
    ({"phone": "+49301234567", "due_at": "2026-03-02T10:00:00"}, "due_at"),
    ({"phone": "+49301234567", "fields": {"a/b": 1}}, "fields"),
]


async def test_bad_contact_is_422_naming_the_field(api: Api) -> None:
    for body, field in BAD_CONTACTS:
        r = await api.call("POST", C, json=body)
        assert r.status_code == 422, (body, r.text)
        assert r.json()["field"] == field, body
    assert (await api.call("GET", C)).json()["total"] == 0


async def test_a_number_no_reader_could_parse_is_refused_and_the_campaign_stays_usable(
    api: Api,
) -> None:
    json_type = {"Content-Type": "application/json"}
    for raw in (b"1e400", b"NaN", b"-Infinity"):
        body = b'{"phone": "+49301234567", "fields": {"n": ' + raw + b"}}"
        r = await api.call("POST", C, content=body, headers=json_type)
        assert r.status_code == 422, (raw, r.text)
        assert r.json()["field"].startswith("fields.n"), r.text
    await add(api, phone="+49301234568", fields={"a": "x"})
    r = await api.call("GET", C, params={"sort": "fields.a"})
    assert r.status_code == 200, r.text
    assert r.json()["total"] == 1


async def test_out_of_range_ids_and_dates_are_client_errors(api: Api) -> None:
    huge = "9" * 25
    for method, path, kw in (
        ("GET", f"/api/v1/campaigns/{huge}/contacts", {}),
        ("GET", f"{C}/9223372036854775808", {}),
        ("GET", C, {"params": {"offset": huge}}),
        ("GET", "/api/v1/campaigns/%C2%B2", {}),
        ("POST", f"{C}/bulk-edit", {"json": {"filter": {"ids": [int(huge)]}, "status": "open"}}),
        ("GET", "/api/v1/dnc", {"params": {"campaign": huge}}),
    ):
        r = await api.call(method, path, **kw)
        assert 400 <= r.status_code < 500, (path, r.status_code, r.text)
        assert r.json()["error"], path
    r = await api.call("GET", "/api/v1/reports", params={"to": "9999-12-31"})
    assert r.status_code == 200, r.text


async def test_add_into_a_named_task(api: Api) -> None:
    r = await add(api, phone="+49301111111", task="won")
    assert r["contact"]["task"] == "won"


async def test_batch_keeps_good_items_and_reports_each(api: Api) -> None:
    await add(api, phone="+49302222222", external_id="old")
    body = {
        "contacts": [
            {"phone": "+49303333333", "external_id": "a"},
            {"phone": "not a number"},
            {"phone": "+49302222222"},
            {"phone": "+49304444444", "external_id": "old"},
            {"phone": "+49305555555", "colour": "red"},
            {"phone": "+49303333333", "external_id": "a"},
            {"first_name": "No Phone"},
        ]
    }
    r = await api.call("POST", f"{C}/batch", json=body, role="supervisor")
    assert r.status_code == 200, r.text
    out = r.json()
    assert (out["created"], out["exists"], out["duplicate_phone"], out["invalid"]) == (2, 2, 1, 2)
    results = out["results"]
    assert [x["result"] for x in results] == [
        "created",
        "invalid",
        "duplicate_phone",
        "exists",
        "invalid",
        "exists",
        "created",
    ]
    assert results[1]["field"] == "contacts.1.phone"
    assert results[4] == {
        "index": 4,
        "result": "invalid",
        "contact_id": None,
        "error": "unknown key",
        "field": "contacts.4.colour",
    }
    assert results[5]["contact_id"] == results[0]["contact_id"]

    # retrying the whole batch creates nothing new
    again = (await api.call("POST", f"{C}/batch", json=body)).json()
    assert again["created"] == 1  # only the contact without phone or external_id
    assert (await api.call("GET", C)).json()["total"] == 4


async def test_search_by_parts(api: Api) -> None:
    await add(
        api,
        phone="+49301234567",
        first_name="Erika",
        last_name="Mustermann",
        email="erika@example.org",
        company="Acme GmbH",
    )
    await add(api, phone="+4940555000", first_name="Max", last_name="Muster", email="max@web.de")
    await add(api, phone="+4989777000", first_name="Hans", last_name="Meier", email="h@acme.de")

    async def names(**params: Any) -> list[str]:
        r = await api.call("GET", C, params=params, role="readonly")
        assert r.status_code == 200, r.text
        return [c["first_name"] for c in r.json()["contacts"]]

    assert await names(name="muster") == ["Erika", "Max"]
    assert await names(name="erika muster") == ["Erika"]
    assert await names(name="ACME") == ["Erika"]
    assert await names(email="acme") == ["Hans"]
    assert await names(phone="030 1234567") == ["Erika"]  # a full number in national notation
    assert await names(phone="0049 40 555 000") == ["Max"]
    assert await names(phone="555") == ["Max"]  # a part of a number
    assert await names(phone="040-555") == ["Max"]
    assert await names(name="muster", email="web") == ["Max"]
    assert await names(sort="-first_name") == ["Max", "Hans", "Erika"]
    page = await api.call("GET", C, params={"limit": 1, "offset": 1})
    assert page.json()["total"] == 3
    assert [c["first_name"] for c in page.json()["contacts"]] == ["Max"]

    bad = await api.call("GET", C, params={"limit": 0})
    assert bad.status_code == 422
    assert bad.json()["field"] == "query.limit"
    bad = await api.call("GET", C, params={"phone": "--"})
    assert bad.json()["field"] == "query.phone"
    bad = await api.call("GET", C, params={"task": "nowhere"})
    assert bad.status_code == 422
    assert bad.json()["field"] == "query.task"


async def test_search_pages_by_id_with_after_stay_whole_while_contacts_leave(api: Api) -> None:
    """offset pages shift when a contact of an earlier page leaves the filter (the next page
    skipped one); ``after`` (the last id of the page before) does not."""
    ids = [(await add(api, phone=f"+4930555{i:04d}"))["contact"]["id"] for i in range(6)]
    # open in the first task: a status set by hand moves the contact on by the rules
    first = (await api.call("GET", C, params={"status": "open", "task": "call", "limit": 3})).json()
    assert [c["id"] for c in first["contacts"]] == ids[:3]
    assert first["next_after"] == ids[2]
    r = await api.call("PATCH", f"{C}/{ids[0]}", json={"status": "success"})
    assert r.status_code == 200, r.text
    params = {"status": "open", "task": "call", "limit": 3, "after": first["next_after"]}
    second = (await api.call("GET", C, params=params)).json()
    assert [c["id"] for c in second["contacts"]] == ids[3:]
    assert second["total"] == 5  # every match, not only those after the cursor
    params["after"] = second["next_after"]
    assert (await api.call("GET", C, params=params)).json()["contacts"] == []
    bad = await api.call("GET", C, params={"after": ids[0], "sort": "-id"})
    assert bad.status_code == 422
    assert bad.json()["field"] == "query.after"
    last = (await api.call("GET", C, params={"limit": 10})).json()
    assert last["next_after"] is None  # a short page: nothing more


async def test_get_change_and_history(api: Api) -> None:
    cid = (await add(api, phone="+49301234567", first_name="Erika", fields={"plan": "gold"}))[
        "contact"
    ]["id"]
    r = await api.call(
        "PATCH",
        f"{C}/{cid}",
        role="supervisor",
        json={
            "last_name": "Musterfrau",
            "fields": {"plan": None, "score": 9},
            "status": "declined",
            "status_detail": "not_interested",
            "note": "asked by phone",
        },
    )
    assert r.status_code == 200, r.text
    c = r.json()
    assert (c["first_name"], c["last_name"]) == ("Erika", "Musterfrau")
    assert c["fields"] == {"score": 9}
    assert (c["status"], c["status_detail"]) == ("declined", "not_interested")

    r = await api.call("PATCH", f"{C}/{cid}", json={"phone": "+44 20 7946 0958"})
    assert r.status_code == 200, r.text
    assert r.json()["phone"] == "+442079460958"
    assert r.json()["timezone"] == "Europe/London"

    history = (await api.call("GET", f"{C}/{cid}/history", role="readonly")).json()["history"]
    assert [h["actor"] for h in history] == ["api:floor", "api:ops"]
    assert history[0]["to_status"] == "declined"
    assert history[0]["note"] == "asked by phone"
    assert history[0]["from_task"] == history[0]["to_task"] == "call"
    assert "+442079460958" in history[1]["note"]

    for body, field in (
        ({}, None),
        ({"status": "maybe"}, "status"),
        ({"status_detail": "$weird"}, "status_detail"),
        ({"phone": "123"}, "phone"),
        ({"phone": "123", "first_name": "Changed"}, "phone"),
    ):
        r = await api.call("PATCH", f"{C}/{cid}", json=body)
        assert r.status_code == 422, body
        assert r.json()["field"] == field
    after = (await api.call("GET", f"{C}/{cid}")).json()
    assert (after["first_name"], after["phone"]) == ("Erika", "+442079460958")


async def test_contact_of_another_campaign_is_404(api: Api) -> None:
    await create_campaign(api, "other")
    cid = (await add(api, phone="+49301234567"))["contact"]["id"]
    r = await api.call("GET", f"/api/v1/campaigns/other/contacts/{cid}")
    assert r.status_code == 404
    r = await api.call("GET", f"{C}/999999")
    assert r.status_code == 404
    assert r.json() == {"error": "no contact 999999", "field": None}
    r = await api.call("GET", f"{C}/abc")
    assert r.status_code == 422
    assert r.json()["field"] == "path.contact_id"


async def test_delete(api: Api) -> None:
    cid = (await add(api, phone="+49301234567"))["contact"]["id"]
    await api.call("PATCH", f"{C}/{cid}", json={"status": "success"})
    r = await api.call("DELETE", f"{C}/{cid}", role="supervisor")
    assert r.status_code == 204
    assert (await api.call("GET", f"{C}/{cid}")).status_code == 404
    assert (await api.call("DELETE", f"{C}/{cid}")).status_code == 404


async def test_the_id_of_a_deleted_contact_is_never_given_to_another(api: Api) -> None:
    # A CRM, an export or a screen pop may still hold the id of a deleted contact: it must not
    # come to name somebody else (SQLite handed the newest id out again: max(id) + 1).
    first = (await add(api, phone="+49301111111", external_id="crm-1"))["contact"]["id"]
    newest = (await add(api, phone="+49302222222", external_id="crm-2"))["contact"]["id"]
    await api.call("PATCH", f"{C}/{newest}", json={"status": "success", "note": "sold"})
    assert (await api.call("DELETE", f"{C}/{newest}")).status_code == 204

    again = (await add(api, phone="+49303333333", external_id="crm-3"))["contact"]
    assert again["id"] not in (first, newest)
    assert again["id"] > newest
    assert (await api.call("GET", f"{C}/{newest}")).status_code == 404
    history = (await api.call("GET", f"{C}/{again['id']}/history")).json()["history"]
    assert history == []  # the deleted contact's history is not handed on either


async def test_delete_refused_while_dialled(api: Api) -> None:
    created = await add(api, phone="+49301234567")
    campaign_id = created["contact"]["campaign_id"]
    from datetime import timedelta

    leased = await api.store.lease(
        campaign_id, 1, "runner-1", timedelta(minutes=5), api.clock.now()
    )
    assert len(leased) == 1
    cid = created["contact"]["id"]
    r = await api.call("DELETE", f"{C}/{cid}")
    # as a move or a status change of one contact in a call: ContactInCall, the contact and
    # (once placed) the attempt named, the field the refused action's
    assert r.status_code == 409
    assert r.json() == {
        "error": f"contact {cid} is being dialled or on preview offer right now (runner-1, "
        "no attempt placed yet): it cannot be deleted during the call; try again when it has "
        "ended",
        "field": "contact",
    }
    await api.store.start_attempt(
        Attempt(
            "a-7",
            campaign_id,
            cid,
            leased[0].task_id,
            "+49301234567",
            originated_at=api.clock.now(),
        )
    )
    r = await api.call("DELETE", f"{C}/{cid}")
    assert r.status_code == 409
    assert r.json()["error"].startswith(
        f"contact {cid} is in a call right now (attempt a-7, runner-1): it cannot be deleted"
    )
    assert (await api.call("GET", f"{C}/{cid}")).status_code == 200


async def test_number_and_status_changes_refused_while_dialled(api: Api) -> None:
    """A PATCH or bulk edit of what the call is about (its number, status, status_detail)
    during the call answers 409 naming the field, as DELETE does: the call's outcome would be
    decided on the old data (or lost) and its attempt would name another number. Names and
    custom fields change at any time (the agent corrects them during the call)."""
    from datetime import timedelta

    created = (await add(api, phone="+49301234567", last_name="Muster"))["contact"]
    cid, campaign_id = created["id"], created["campaign_id"]
    [leased] = await api.store.lease(
        campaign_id, 1, "runner-1", timedelta(minutes=5), api.clock.now()
    )
    assert leased.id == cid
    refused = {
        "status": {"status": "declined", "status_detail": "wrong_person"},
        "status_detail": {"status_detail": "checked"},
        "phone": {"phone": "+49309876543", "last_name": "Meier"},
    }
    for field, body in refused.items():
        r = await api.call("PATCH", f"{C}/{cid}", json=body)
        assert r.status_code == 409, r.text
        assert r.json()["field"] == field
        assert "being dialled" in r.json()["error"] and "runner-1" in r.json()["error"]
    # a bulk edit leaves it out and says so (the other contacts of a set are edited)
    bulk = {"filter": {"ids": [cid]}, "status": "success"}
    r = await api.call("POST", f"{C}/bulk-edit", json=bulk)
    assert r.status_code == 200, r.text
    assert r.json() == {"edited": 0, "skipped_in_call": 1, "in_call": [cid]}
    contact = await api.store.get_contact(cid)
    assert (contact.phone, contact.status.value, contact.status_detail, contact.last_name) == (
        "+49301234567",
        "open",
        "$none",
        "Muster",
    ), "a refused change wrote something"
    # harmless during the call: names, custom fields, the same number again
    r = await api.call(
        "PATCH",
        f"{C}/{cid}",
        json={"last_name": "Meier", "fields": {"note": "spelled Meier"}, "phone": "+49301234567"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["last_name"] == "Meier" and r.json()["status"] == "open"
    r = await api.call(
        "POST",
        f"{C}/bulk-edit",
        json={"filter": {"ids": [cid]}, "fields": {"list_name": "fair"}},
    )
    assert (r.status_code, r.json()) == (200, {"edited": 1, "skipped_in_call": 0, "in_call": []}), (
        r.text
    )
    # the call is over (its lease given back): every change is taken
    await api.store.release([cid], "runner-1")
    r = await api.call("PATCH", f"{C}/{cid}", json=refused["phone"])
    assert r.status_code == 200, r.text
    r = await api.call("PATCH", f"{C}/{cid}", json=refused["status"])
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "declined"


async def test_move_one_and_filtered(api: Api) -> None:
    ids = [
        (await add(api, phone=f"+4930123456{i}", list_name="fair" if i < 3 else "web"))["contact"][
            "id"
        ]
        for i in range(5)
    ]
    r = await api.call("POST", f"{C}/{ids[0]}/move", json={"to_task": "won"}, role="supervisor")
    assert r.status_code == 200, r.text
    assert r.json()["task"] == "won"

    r = await api.call("POST", f"{C}/move", json={"to_task": "lost", "filter": {}})
    assert r.status_code == 422
    assert r.json()["field"] == "filter"

    r = await api.call(
        "POST",
        f"{C}/move",
        json={"to_task": "lost", "filter": {"task": "call", "list_name": "fair"}},
    )
    assert r.json() == {"moved": 2, "skipped_in_call": 0, "in_call": []}
    r = await api.call("POST", f"{C}/move", json={"to_task": "nowhere", "filter": {"all": True}})
    assert r.status_code == 422
    assert r.json()["field"] == "to_task"

    overview = (await api.call("GET", "/api/v1/campaigns/sales/overview")).json()["rows"]
    assert {(row["task"], row["count"]) for row in overview} == {
        ("call", 2),
        ("won", 1),
        ("lost", 2),
    }
    history = (await api.call("GET", f"{C}/{ids[1]}/history")).json()["history"]
    assert history[-1]["to_task"] == "lost"
    waiting = await api.call("GET", C, params={"waiting": "true"})
    assert waiting.json()["total"] == 0
    assert (await api.call("GET", C, params={"waiting": "false"})).json()["total"] == 5


async def test_bulk_edit(api: Api) -> None:
    for i in range(4):
        await add(api, phone=f"+4930123456{i}", list_name="fair" if i % 2 else "web")
    r = await api.call(
        "POST",
        f"{C}/bulk-edit",
        json={
            "filter": {"list_name": "fair"},
            "fields": {"company": "Acme", "source": "fair 2026"},
            "status": "failed",
            "status_detail": "wrong_target",
        },
    )
    assert r.status_code == 200, r.text
    assert r.json() == {"edited": 2, "skipped_in_call": 0, "in_call": []}
    found = (await api.call("GET", C, params={"status": "failed"})).json()["contacts"]
    assert len(found) == 2
    assert all(c["company"] == "Acme" and c["fields"]["source"] == "fair 2026" for c in found)
    assert {c["status_detail"] for c in found} == {"wrong_target"}

    for body, field in (
        ({"filter": {"list_name": "fair"}}, "fields"),
        ({"filter": {"list_name": "fair"}, "fields": {"phone": "1"}}, "fields"),
        ({"filter": {"conditions": [{"field": "x", "op": "like"}]}, "status": "open"}, None),
    ):
        r = await api.call("POST", f"{C}/bulk-edit", json=body)
        assert r.status_code == 422, body
        if field is not None:
            assert r.json()["field"] == field
    r = await api.call(
        "POST",
        f"{C}/bulk-edit",
        json={"filter": {"conditions": [{"field": "x", "op": "like"}]}, "status": "open"},
    )
    assert r.json()["field"] == "filter.conditions.0.op"


async def test_bulk_edit_checks_values_as_a_single_change_does(api: Api) -> None:
    await add(api, phone="+49301234560", first_name="Erika")
    for fields, words in (
        ({"email": "notmail"}, "not an e-mail address"),
        ({"timezone": "Mars/X"}, "unknown time zone"),
        ({"first_name": "x" * 300}, "at most 200"),
        ({"bad name!": "x"}, "custom field name"),
        ({"fields.note": "x" * 70_000}, "at most 65536"),
    ):
        r = await api.call("POST", f"{C}/bulk-edit", json={"filter": {}, "fields": fields})
        assert r.status_code == 422, (fields, r.text)
        assert words in r.json()["error"], r.text
    [contact] = (await api.call("GET", C)).json()["contacts"]
    assert (contact["first_name"], contact["email"], contact["timezone"]) == (
        "Erika",
        None,
        "Europe/Berlin",
    )


async def test_attempts(api: Api) -> None:
    contact = (await add(api, phone="+49301234567"))["contact"]
    now = api.clock.now()
    await api.store.start_attempt(
        Attempt(
            id="att-1",
            campaign_id=contact["campaign_id"],
            contact_id=contact["id"],
            task_id=contact["task_id"],
            phone=contact["phone"],
            originated_at=now,
        )
    )
    await api.store.record_attempt(
        Attempt(
            id="att-1",
            campaign_id=contact["campaign_id"],
            contact_id=contact["id"],
            task_id=contact["task_id"],
            phone=contact["phone"],
            hungup_at=now,
            result=CallResult.BUSY,
        )
    )
    r = await api.call("GET", f"{C}/{contact['id']}/attempts", role="readonly")
    assert r.status_code == 200
    (attempt,) = r.json()["attempts"]
    assert attempt["id"] == "att-1"
    assert attempt["result"] == "busy"
    assert attempt["originated_at"].startswith("2026-03-02T10:00:00")


async def test_concurrent_retries_create_each_contact_once(api: Api) -> None:
    batch = {
        "contacts": [{"phone": f"+4930555{i:04d}", "external_id": f"crm-{i}"} for i in range(25)]
    }
    replies = await asyncio.gather(*(api.call("POST", f"{C}/batch", json=batch) for _ in range(4)))
    assert all(r.status_code == 200 for r in replies), [r.text for r in replies]
    assert sum(r.json()["created"] for r in replies) == 25
    assert (await api.call("GET", C)).json()["total"] == 25
    one = await api.call("GET", C, params={"external_id": "crm-7"})
    assert [c["phone"] for c in one.json()["contacts"]] == ["+49305550007"]


async def test_a_change_is_checked_as_adding_a_contact_is(api: Api) -> None:
    """PATCH and bulk edit refuse what POST and import refuse: a number or an external_id
    another contact of the campaign has (409), an empty external_id (422); a refused change
    writes nothing at all (it was two transactions). A number on the do-not-call list closes
    the contact as failed/$dnc, as adding the number to the list does."""
    ada = (await add(api, phone="+49301111111", first_name="Ada", external_id="crm-1"))["contact"]
    bea = (await add(api, phone="+49302222222", first_name="Bea", external_id="crm-2"))["contact"]
    cid = bea["id"]

    r = await api.call(
        "PATCH",
        f"{C}/{cid}",
        json={
            "first_name": "Changed",
            "status": "open",
            "status_detail": "checked",
            "phone": "030 1111111",
        },
    )
    assert r.status_code == 409, r.text
    assert r.json() == {
        "error": f"+49301111111 is already contact {ada['id']} of this campaign",
        "field": "phone",
    }
    r = await api.call("PATCH", f"{C}/{cid}", json={"external_id": "crm-1", "last_name": "X"})
    assert r.status_code == 409, r.text
    assert r.json()["field"] == "external_id" and str(ada["id"]) in r.json()["error"]
    r = await api.call("PATCH", f"{C}/{cid}", json={"external_id": ""})
    assert r.status_code == 422 and r.json()["field"] == "external_id", r.text
    after = (await api.call("GET", f"{C}/{cid}")).json()
    assert (after["first_name"], after["last_name"], after["phone"], after["external_id"]) == (
        "Bea",
        None,
        "+49302222222",
        "crm-2",
    )
    assert (after["status"], after["status_detail"]) == ("open", "$none")
    assert (await api.call("GET", f"{C}/{cid}/history")).json()["history"] == []
    found = (await api.call("GET", C, params={"external_id": "crm-1"})).json()["contacts"]
    assert [c["id"] for c in found] == [ada["id"]]

    # bulk edit: one external_id for two contacts, another's external_id, an empty one
    for fields, status, field in (
        ({"external_id": "crm-9"}, 422, "fields"),
        ({"external_id": ""}, 422, "fields"),
    ):
        body = {"filter": {"all": True}, "fields": fields}
        r = await api.call("POST", f"{C}/bulk-edit", json=body)
        assert (r.status_code, r.json()["field"]) == (status, field), r.text
    r = await api.call(
        "POST",
        f"{C}/bulk-edit",
        json={"filter": {"ids": [cid]}, "fields": {"external_id": "crm-1"}},
    )
    assert r.status_code == 409, r.text
    assert r.json()["field"] == "fields.external_id"
    # its own values are no clash
    r = await api.call(
        "PATCH", f"{C}/{cid}", json={"external_id": "crm-2", "phone": "+49302222222"}
    )
    assert r.status_code == 200, r.text

    # a number on the do-not-call list: closed as adding it to the list would have
    listed = await api.call("POST", "/api/v1/dnc", json={"phones": ["+49303333333"]})
    assert listed.status_code in (200, 201), listed.text
    r = await api.call("PATCH", f"{C}/{cid}", json={"phone": "030 3333333"})
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["status_detail"]) == ("failed", "$dnc")
    history = (await api.call("GET", f"{C}/{cid}/history")).json()["history"]
    assert history[-1]["to_detail"] == "$dnc"
    assert history[-1]["note"] == "number on do-not-call list"


async def test_a_status_set_by_hand_applies_the_taskflow_rules(api: Api) -> None:
    """DESIGN.md: rules apply when a contact's status changes. A sale entered by PATCH goes on
    to "won" (no delay) as after a disposition; a bulk "declined" waits 1 h for "lost";
    reopening a waiting contact takes it off the wait. Both with history rows."""
    sold = (await add(api, phone="+49301111111"))["contact"]["id"]
    lost = (await add(api, phone="+49302222222"))["contact"]["id"]
    r = await api.call("PATCH", f"{C}/{sold}", json={"status": "success", "status_detail": "sale"})
    assert r.status_code == 200, r.text
    assert (r.json()["task"], r.json()["status"], r.json()["status_detail"]) == (
        "won",
        "open",
        "$none",
    )
    history = (await api.call("GET", f"{C}/{sold}/history")).json()["history"]
    assert [(h["actor"], h["from_task"], h["to_task"], h["to_status"]) for h in history] == [
        ("api:ops", "call", "call", "success"),
        ("taskflow", "call", "won", "open"),
    ]

    r = await api.call(
        "POST",
        f"{C}/bulk-edit",
        json={"filter": {"ids": [lost]}, "status": "declined", "status_detail": "no_need"},
    )
    assert r.status_code == 200 and r.json() == {
        "edited": 1,
        "skipped_in_call": 0,
        "in_call": [],
    }, r.text
    waiting = (await api.call("GET", f"{C}/{lost}")).json()
    assert (waiting["task"], waiting["status"], waiting["waiting_for"]) == (
        "call",
        "declined",
        "lost",
    )
    assert waiting["pending_due_at"] == "2026-03-02T11:00:00Z"
    # reopened by hand: no rule for call/open, so it no longer waits for "lost"
    r = await api.call("PATCH", f"{C}/{lost}", json={"status": "open"})
    assert (r.json()["status"], r.json()["waiting_for"], r.json()["pending_due_at"]) == (
        "open",
        None,
        None,
    )


async def test_a_rule_after_a_status_set_by_hand_keeps_the_abandon_hold_off(api: Api) -> None:
    """An abandoned person is not called again within the hold-off, also when a status set by
    hand sends the contact into another call task at once."""
    from datetime import timedelta

    from api_testkit import START
    from sqlalchemy import update

    from dialerd.store.models import ContactRow

    await create_campaign(
        api,
        "two",
        tasks=[{"name": "call", "type": "call"}, {"name": "recall", "type": "call"}],
        rules=[{"from": "call", "status": "open", "detail": "again", "to": "recall"}],
    )
    r = await api.call("POST", "/api/v1/campaigns/two/contacts", json={"phone": "+49301111111"})
    cid = r.json()["contact"]["id"]
    hold = START + timedelta(hours=72)
    async with api.store.write() as s:
        await s.execute(
            update(ContactRow)
            .where(ContactRow.id == cid)
            .values(status_detail="$abandoned", due_at=hold, attempts=1)
        )
    r = await api.call(
        "PATCH",
        f"/api/v1/campaigns/two/contacts/{cid}",
        json={"status": "open", "status_detail": "again"},
    )
    assert r.status_code == 200, r.text
    c = await api.store.get_contact(cid)
    assert (c.status.value, c.status_detail, c.attempts) == ("open", "$none", 0)
    assert {t.id: t.name for t in await api.store.tasks(c.campaign_id)}[c.task_id] == "recall"
    assert c.due_at == hold
