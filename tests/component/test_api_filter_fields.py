"""A filter condition on a field the campaign's contacts do not have is refused (422) naming it
and the closest known field, in bulk edits, moves and campaign filters.

Before, a name that is not a contact column was read as a custom field, so a typo
(``lsit_name``, ``segmnt``) selected nobody: a bulk edit answered ``{"edited": 0}``, and a
campaign whose ``filter`` had it dialed nobody, with no error anywhere.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from api_testkit import Api, create_campaign, open_api

from dialerd.store import Store

BASE = "/api/v1/campaigns/sales"


@pytest.fixture
def backend() -> str:
    return "sqlite"


@pytest.fixture
async def api(store: Store) -> AsyncIterator[Api]:
    async for a in open_api(store):
        await create_campaign(a)
        for i, segment in enumerate(["A", "B", "A"]):
            r = await a.call(
                "POST",
                f"{BASE}/contacts",
                json={
                    "phone": f"+4930123456{i}",
                    "list_name": "spring",
                    "fields": {"segment": segment},
                },
            )
            assert r.status_code == 201, r.text
        yield a


def _edit(*conditions: dict[str, Any]) -> dict[str, Any]:
    return {"filter": {"conditions": list(conditions)}, "fields": {"checked": True}}


async def test_bulk_edit_names_an_unknown_field_and_the_closest_known_one(api: Api) -> None:
    r = await api.call(
        "POST",
        f"{BASE}/contacts/bulk-edit",
        json=_edit({"field": "list_name", "value": "spring"}, {"field": "segmnt", "value": "A"}),
    )
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["field"] == "filter.conditions.1.field"
    assert "unknown field 'segmnt' (did you mean 'segment'?)" in body["error"]
    r = await api.call(
        "POST", f"{BASE}/contacts/bulk-edit", json=_edit({"field": "lsit_name", "value": "x"})
    )
    assert r.status_code == 422
    assert "'lsit_name' (did you mean 'list_name'?)" in r.json()["error"]
    # the same message as an export column (one piece of code)
    r = await api.call("GET", f"{BASE}/tasks/call/export?columns=segmnt")
    assert "'segmnt' (did you mean 'segment'?)" in r.json()["error"]
    # known fields, standard and custom (also as fields.NAME), still work
    r = await api.call(
        "POST",
        f"{BASE}/contacts/bulk-edit",
        json=_edit(
            {"field": "list_name", "value": "spring"}, {"field": "fields.segment", "value": "A"}
        ),
    )
    assert r.status_code == 200, r.text
    assert r.json() == {"edited": 2, "skipped_in_call": 0, "in_call": []}


async def test_move_names_an_unknown_field(api: Api) -> None:
    r = await api.call(
        "POST",
        f"{BASE}/contacts/move",
        json={"filter": {"conditions": [{"field": "segmen", "value": "B"}]}, "to_task": "lost"},
    )
    assert r.status_code == 422, r.text
    assert r.json()["field"] == "filter.conditions.0.field"
    assert "did you mean 'segment'?" in r.json()["error"]
    r = await api.call(
        "POST",
        f"{BASE}/contacts/move",
        json={"filter": {"conditions": [{"field": "segment", "value": "B"}]}, "to_task": "lost"},
    )
    assert r.json() == {"moved": 1, "skipped_in_call": 0, "in_call": []}


async def test_a_campaign_filter_on_a_field_no_contact_has_is_refused(api: Api) -> None:
    r = await api.call("PATCH", BASE, json={"filter": [{"field": "segmnt", "value": "A"}]})
    assert r.status_code == 422, r.text
    assert r.json()["field"] == "filter.0.field"
    assert "did you mean 'segment'?" in r.json()["error"]
    r = await api.call("GET", BASE)
    assert r.json()["definition"]["filter"] == []  # nothing stored
    r = await api.call("PATCH", BASE, json={"filter": [{"field": "segment", "value": "A"}]})
    assert r.status_code == 200, r.text
    # a PUT of the whole definition: checked the same way
    definition = r.json()["definition"]
    definition["filter"].append({"field": "regoin", "op": "eq", "value": "x"})
    r = await api.call("PUT", BASE, json=definition)
    assert r.status_code == 422 and r.json()["field"] == "filter.1.field"


async def test_a_campaign_without_contacts_takes_a_filter_on_fields_still_to_come(
    api: Api,
) -> None:
    """Its contacts are imported later: there is nothing yet to check a name against."""
    await create_campaign(api, "autumn", filter=[{"field": "region", "value": "north"}])
    r = await api.call(
        "PATCH", "/api/v1/campaigns/autumn", json={"filter": [{"field": "tier", "value": 1}]}
    )
    assert r.status_code == 200, r.text


async def test_a_campaign_sort_on_a_field_no_contact_has_is_refused(api: Api) -> None:
    """A sort on a typo (``segmnt``) sorted by nothing: every contact had no value, so the
    campaign dialed in id order, not by the field, and nothing said so."""
    r = await api.call("PATCH", BASE, json={"sort": {"field": "segmnt", "direction": "desc"}})
    assert r.status_code == 422, r.text
    assert r.json()["field"] == "sort.field"
    assert "unknown field 'segmnt' (did you mean 'segment'?)" in r.json()["error"]
    r = await api.call("PATCH", BASE, json={"sort": {"field": "lsit_name"}})
    assert r.status_code == 422 and "did you mean 'list_name'?" in r.json()["error"]
    r = await api.call("GET", BASE)
    assert r.json()["definition"]["sort"] == {"field": "id", "direction": "asc"}  # nothing stored
    r = await api.call("PATCH", BASE, json={"sort": {"field": "segment", "direction": "desc"}})
    assert r.status_code == 200, r.text
    # a PUT of the whole definition: checked the same way
    definition = r.json()["definition"]
    definition["sort"] = {"field": "fields.segmen", "direction": "asc"}
    r = await api.call("PUT", BASE, json=definition)
    assert r.status_code == 422 and r.json()["field"] == "sort.field", r.text
    assert "did you mean 'segment'?" in r.json()["error"]
    definition["sort"] = {"field": "fields.segment", "direction": "asc"}
    r = await api.call("PUT", BASE, json=definition)
    assert r.status_code == 200, r.text


async def test_a_campaign_without_contacts_takes_a_sort_on_a_field_still_to_come(
    api: Api,
) -> None:
    await create_campaign(api, "autumn", sort={"field": "priority", "direction": "desc"})
    r = await api.call("PATCH", "/api/v1/campaigns/autumn", json={"sort": {"field": "tier"}})
    assert r.status_code == 200, r.text
    assert r.json()["definition"]["sort"]["field"] == "tier"


async def test_a_campaign_lists_the_fields_its_contacts_turn_out_not_to_have(api: Api) -> None:
    """Taken before its contacts came, a filter on ``regoin`` and a sort on ``tier`` could not
    be checked; once the contacts are there (they have ``region``, not ``tier``), the
    campaign's GET lists both under ``warnings`` with the closest known field, without the
    definition changing (it said nothing, and the campaign dialed nobody)."""
    await create_campaign(
        api, "autumn", filter=[{"field": "regoin", "value": "north"}], sort={"field": "tier"}
    )
    r = await api.call("GET", "/api/v1/campaigns/autumn")
    assert r.status_code == 200 and r.json()["warnings"] == [], r.text
    r = await api.call(
        "POST",
        "/api/v1/campaigns/autumn/contacts",
        json={"phone": "+49301234599", "fields": {"region": "north"}},
    )
    assert r.status_code == 201, r.text
    r = await api.call("GET", "/api/v1/campaigns/autumn")
    warnings = {w["field"]: w for w in r.json()["warnings"]}
    assert sorted(warnings) == ["regoin", "tier"], r.text
    assert warnings["regoin"]["key"] == "filter[0].field"
    assert warnings["regoin"]["closest"] == "region"
    assert "did you mean 'region'?" in warnings["regoin"]["problem"]
    assert warnings["tier"]["key"] == "sort.field" and warnings["tier"]["closest"] is None
    assert (await api.call("GET", BASE)).json()["warnings"] == []
