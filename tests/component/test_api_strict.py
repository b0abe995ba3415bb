"""REST API: the query string and the body are as strict as body keys (finding 16): unknown
query parameters, control characters, out-of-range integers, JSON syntax errors and non-JSON
content types each get a clear error naming the right field."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from api_testkit import Api, create_campaign, open_api

from dialerd.store import Store

C = "/api/v1/campaigns/sales/contacts"
HUGE = "9" * 25


@pytest.fixture
def backend() -> str:
    """Checks made before the store is asked: SQLite only."""
    return "sqlite"


@pytest.fixture
async def api(store: Store) -> AsyncIterator[Api]:
    async for a in open_api(store):
        await create_campaign(a)
        for phone, email in (("+49301111111", "a@example.org"), ("+49302222222", "b@example.org")):
            r = await a.call("POST", C, json={"phone": phone, "email": email})
            assert r.status_code == 201, r.text
        yield a


async def test_an_unknown_query_parameter_is_422_naming_it(api: Api) -> None:
    r = await api.call("GET", C, params={"page": 2})
    assert r.status_code == 422
    assert r.json()["field"] == "query.page"
    assert "unknown query parameter 'page'" in r.json()["error"]
    assert "offset" in r.json()["error"]  # says what the operation takes
    r = await api.call("GET", "/api/v1/campaigns", params={"limit": 5})
    assert (r.status_code, r.json()["field"]) == (422, "query.limit")
    assert (await api.call("GET", C, params={"limit": 1, "offset": 1})).status_code == 200
    assert (await api.client.get("/healthz", params={"x": 1})).status_code == 200


async def test_huge_integers_name_their_own_field_and_a_huge_contact_id_is_404(
    api: Api,
) -> None:
    r = await api.call("GET", C, params={"offset": HUGE})
    assert r.status_code == 422
    assert r.json()["field"] == "query.offset"
    assert "database" not in r.json()["error"]
    r = await api.call("POST", f"{C}/move", json={"filter": {"ids": [int(HUGE)]}, "to_task": "won"})
    assert r.status_code == 422
    assert r.json()["field"] == "filter.ids.0"
    r = await api.call("GET", f"{C}/{HUGE}")
    assert r.status_code == 404
    assert r.json()["field"] == "contact_id"
    assert (await api.call("GET", f"/api/v1/leads/{HUGE}")).status_code == 404


async def test_a_json_syntax_error_names_the_body_with_the_position(api: Api) -> None:
    r = await api.call(
        "POST", C, content=b'{"phone": x}', headers={"content-type": "application/json"}
    )
    assert r.status_code == 422
    body = r.json()
    assert body["field"] == "body"
    assert body["error"].startswith("not valid JSON at character 10")


async def test_a_body_that_is_not_json_is_415(api: Api) -> None:
    r = await api.call(
        "POST", C, content=b"phone=+49303333333", headers={"content-type": "text/plain"}
    )
    assert r.status_code == 415
    assert r.json()["field"] == "body"
    assert "text/plain" in r.json()["error"]
    form = await api.call("POST", C, data={"phone": "+49303333333"})
    assert form.status_code == 415
    # an operation whose body is optional still takes an empty request
    r = await api.call("GET", C)
    assert r.status_code == 200


async def test_control_characters_and_empty_sort_field_are_422(api: Api) -> None:
    r = await api.call("GET", C, params={"email": "\x00"})
    assert r.status_code == 422
    assert r.json()["field"] == "query.email"
    r = await api.call("GET", C, params={"sort": "fields."})
    assert r.status_code == 422
    assert r.json()["field"] == "query.sort"
    r = await api.call("GET", C, params={"email": "a@example"})
    assert r.json()["total"] == 1
