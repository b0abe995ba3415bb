"""REST API: the do-not-call list (global and per campaign)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from api_testkit import START, Api, create_campaign, open_api

from dialerd.store import Store

D = "/api/v1/dnc"


@pytest.fixture
async def api(store: Store) -> AsyncIterator[Api]:
    async for a in open_api(store):
        await create_campaign(a)
        yield a


async def test_add_check_list_remove_global(api: Api) -> None:
    r = await api.call(
        "POST",
        D,
        role="supervisor",
        json={"phones": ["030 1234567", "+49 40 555000"], "note": "asked"},
    )
    assert r.status_code == 200, r.text
    assert r.json() == {
        "campaign": None,
        "added": 2,
        "already_listed": 0,
        "contacts_closed": 0,
        "in_call": [],
    }
    again = await api.call("POST", D, json={"phones": ["+49301234567"]})
    assert again.json()["added"] == 0
    assert again.json()["already_listed"] == 1

    check = await api.call("GET", f"{D}/0301234567", role="readonly")
    assert check.json() == {"phone": "+49301234567", "campaign": None, "dnc": True}
    check = await api.call("GET", f"{D}/+49301111111")
    assert check.json()["dnc"] is False

    listed = (await api.call("GET", D, role="readonly")).json()
    assert listed["total"] == 2
    assert [n["phone"] for n in listed["numbers"]] == ["+49301234567", "+4940555000"]
    assert listed["numbers"][0]["actor"] == "api:floor"
    assert listed["numbers"][0]["note"] == "asked"

    r = await api.call("DELETE", f"{D}/030 1234567")
    assert r.status_code == 204
    assert (await api.call("GET", f"{D}/+49301234567")).json()["dnc"] is False
    r = await api.call("DELETE", f"{D}/+49301234567")
    assert r.status_code == 404
    assert r.json()["field"] == "phone"


async def test_campaign_list_and_open_contacts_close(api: Api) -> None:
    r = await api.call("POST", "/api/v1/campaigns/sales/contacts", json={"phone": "+49301234567"})
    cid = r.json()["contact"]["id"]
    r = await api.call("POST", D, json={"phones": ["+49301234567"], "campaign": "sales"})
    assert r.json() == {
        "campaign": "sales",
        "added": 1,
        "already_listed": 0,
        "contacts_closed": 1,
        "in_call": [],
    }
    contact = (await api.call("GET", f"/api/v1/campaigns/sales/contacts/{cid}")).json()
    assert (contact["status"], contact["status_detail"]) == ("failed", "$dnc")

    in_campaign = await api.call("GET", f"{D}/+49301234567", params={"campaign": "sales"})
    assert in_campaign.json()["dnc"] is True
    globally = await api.call("GET", f"{D}/+49301234567")
    assert globally.json()["dnc"] is False
    assert (await api.call("GET", D, params={"campaign": "sales"})).json()["total"] == 1
    assert (await api.call("GET", D)).json()["total"] == 0
    r = await api.call("DELETE", f"{D}/+49301234567", params={"campaign": "sales"})
    assert r.status_code == 204


async def test_bad_numbers_and_scopes(api: Api) -> None:
    r = await api.call("POST", D, json={"phones": ["+49301234567", "abc"]})
    assert r.status_code == 422
    assert r.json()["field"] == "phones.1"
    assert (await api.call("GET", D)).json()["total"] == 0  # nothing half-added
    r = await api.call("POST", D, json={"phones": []})
    assert r.status_code == 422
    assert r.json()["field"] == "phones"
    r = await api.call("POST", D, json={"phones": ["+49301234567"], "campaign": "nope"})
    assert r.status_code == 404
    r = await api.call("GET", f"{D}/12")
    assert r.status_code == 422


async def test_a_number_in_a_call_is_listed_at_once_and_the_call_named(api: Api) -> None:
    """A do-not-call request during the call (the callee asks the agent) is never refused or
    put off: the contact is closed at once and the answer names it in ``in_call``, since its
    call is still going on (the runner's outcome will not reopen it)."""
    r = await api.call("POST", "/api/v1/campaigns/sales/contacts", json={"phone": "+49301234567"})
    cid = r.json()["contact"]["id"]
    camp = await api.store.get_campaign("sales")
    (leased,) = await api.store.lease(camp.id, 1, "dialer", timedelta(minutes=5), START)
    assert leased.id == cid
    r = await api.call("POST", D, json={"phones": ["030 1234567", "030 7654321"]})
    assert r.status_code == 200, r.text
    assert r.json() == {
        "campaign": None,
        "added": 2,
        "already_listed": 0,
        "contacts_closed": 1,
        "in_call": [cid],
    }
    contact = (await api.call("GET", f"/api/v1/campaigns/sales/contacts/{cid}")).json()
    assert (contact["status"], contact["status_detail"]) == ("failed", "$dnc")


async def test_dnc_rules_of_the_taskflow_move_the_closed_contacts_on(api: Api) -> None:
    """A number put on the list closes its open contacts as failed/$dnc: a status change, so
    the campaign's rules for $dnc apply as they do when the engine finds a listed number (to
    a review task at once, to a CRM notification after a delay); before, the contacts stayed
    closed in the call task and the $dnc rule never ran. A campaign without a $dnc rule keeps
    them in the call task."""
    await create_campaign(
        api,
        "flow",
        tasks=[
            {"name": "call", "type": "call"},
            {"name": "review", "type": "wait"},
            {"name": "lost", "type": "wait"},
        ],
        rules=[
            {"from": "call", "status": "failed", "detail": "$dnc", "to": "review"},
            {"from": "call", "status": "failed", "to": "lost", "delay": "1h"},
        ],
    )
    await create_campaign(
        api,
        "later",
        tasks=[{"name": "call", "type": "call"}, {"name": "crm", "type": "wait"}],
        rules=[
            {
                "from": "call",
                "status": "failed",
                "detail": "$dnc",
                "to": "crm",
                "delay": "2h",
            }
        ],
    )

    async def add(campaign: str, phone: str) -> int:
        r = await api.call("POST", f"/api/v1/campaigns/{campaign}/contacts", json={"phone": phone})
        assert r.status_code == 201, r.text
        return int(r.json()["contact"]["id"])

    def contact(campaign: str, cid: int) -> Any:
        return api.call("GET", f"/api/v1/campaigns/{campaign}/contacts/{cid}")

    in_flow = await add("flow", "+49301234567")
    in_later = await add("later", "+49301234567")
    in_sales = await add("sales", "+49301234567")  # no $dnc rule: stays where it is
    r = await api.call("POST", D, json={"phones": ["030 1234567"]})
    assert r.status_code == 200, r.text
    assert r.json()["contacts_closed"] == 3

    moved = (await contact("flow", in_flow)).json()
    assert (moved["task"], moved["status"], moved["status_detail"]) == ("review", "open", "$none")
    history = (await api.call("GET", f"/api/v1/campaigns/flow/contacts/{in_flow}/history")).json()
    steps = [(h["to_task"], h["to_status"], h["to_detail"]) for h in history["history"]]
    assert ("call", "failed", "$dnc") in steps and ("review", "open", "$none") in steps

    waiting = (await contact("later", in_later)).json()
    assert (waiting["task"], waiting["status"], waiting["status_detail"]) == (
        "call",
        "failed",
        "$dnc",
    )
    assert waiting["waiting_for"] == "crm"

    kept = (await contact("sales", in_sales)).json()
    assert (kept["task"], kept["status"], kept["status_detail"]) == ("call", "failed", "$dnc")
    assert kept["waiting_for"] is None

    # a campaign's own list applies that campaign's rules only
    other = await add("flow", "+49307654321")
    r = await api.call("POST", D, json={"phones": ["+49307654321"], "campaign": "flow"})
    assert r.json()["contacts_closed"] == 1
    assert (await contact("flow", other)).json()["task"] == "review"


async def test_a_number_changed_to_a_listed_one_follows_the_dnc_rule(api: Api) -> None:
    """A PATCH giving a contact a listed number closes it as failed/$dnc as adding the number
    to the list does, and so the campaign's $dnc rule moves it on as well."""
    await create_campaign(
        api,
        "flow",
        tasks=[{"name": "call", "type": "call"}, {"name": "review", "type": "wait"}],
        rules=[{"from": "call", "status": "failed", "detail": "$dnc", "to": "review"}],
    )
    r = await api.call("POST", D, json={"phones": ["+49307654321"]})
    assert r.status_code == 200, r.text
    r = await api.call("POST", "/api/v1/campaigns/flow/contacts", json={"phone": "+49301234567"})
    cid = r.json()["contact"]["id"]
    r = await api.call(
        "PATCH", f"/api/v1/campaigns/flow/contacts/{cid}", json={"phone": "030 7654321"}
    )
    assert r.status_code == 200, r.text
    moved = r.json()
    assert (moved["task"], moved["status"], moved["status_detail"]) == ("review", "open", "$none")
