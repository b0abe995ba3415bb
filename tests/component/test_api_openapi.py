"""The OpenAPI document matches what the API answers (finding 15): the error body with its
``errors`` list, and the 413, 415 and 503 answers operations can give."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from api_testkit import Api, create_campaign, open_api

from dialerd.store import Store


@pytest.fixture
def backend() -> str:
    return "sqlite"


@pytest.fixture
async def api(store: Store) -> AsyncIterator[Api]:
    async for a in open_api(store):
        await create_campaign(a)
        yield a


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref is None:
        return schema
    found: dict[str, Any] = spec["components"]["schemas"][ref.rsplit("/", 1)[-1]]
    return found


async def test_error_schema_has_the_errors_list_a_422_really_carries(api: Api) -> None:
    spec = (await api.client.get("/openapi.json")).json()
    error = spec["components"]["schemas"]["ErrorOut"]
    assert set(error["properties"]) == {"error", "field", "errors"}
    r = await api.call(
        "POST", "/api/v1/campaigns/sales/contacts", json={"phone": 5, "email": 7, "x": 1}
    )
    body = r.json()
    assert r.status_code == 422 and len(body["errors"]) > 1
    assert set(body) <= set(error["properties"])
    item = _resolve(spec, error["properties"]["errors"]["anyOf"][0]["items"])
    assert all(set(e) <= set(item["properties"]) for e in body["errors"])


async def test_upload_json_body_and_engine_answers_are_declared(api: Api) -> None:
    paths = (await api.client.get("/openapi.json")).json()["paths"]
    assert "413" in paths["/api/v1/campaigns/{campaign}/imports"]["post"]["responses"]
    assert "415" in paths["/api/v1/campaigns/{campaign}/contacts"]["post"]["responses"]
    assert "415" not in paths["/api/v1/campaigns/{campaign}/imports"]["post"]["responses"]
    assert "413" in paths["/api/v1/campaigns/{campaign}/contacts/bulk-edit"]["post"]["responses"]
    assert "415" not in paths["/api/v1/campaigns/{campaign}/contacts"]["get"]["responses"]
    assert "503" in paths["/api/v1/agents/{agent}/login"]["post"]["responses"]
    assert "503" in paths["/api/v1/leads/{contact_id}/call"]["post"]["responses"]
    assert "503" in paths["/api/v1/status"]["get"]["responses"]


async def test_imports_status_and_export_declare_what_they_answer(api: Api) -> None:
    spec = (await api.client.get("/openapi.json")).json()
    paths = spec["paths"]

    def ok_schema(path: str, method: str, code: str) -> dict[str, Any]:
        content = paths[path][method]["responses"][code]["content"]
        return _resolve(spec, content["application/json"]["schema"])

    report = ok_schema("/api/v1/campaigns/{campaign}/imports", "post", "201")
    assert {"imported", "rejected", "problems", "problems_total"} <= set(report["properties"])
    history = ok_schema("/api/v1/campaigns/{campaign}/imports", "get", "200")
    assert "imports" in history["properties"]
    assert "engine" in ok_schema("/api/v1/status", "get", "200")["properties"]
    export = paths["/api/v1/campaigns/{campaign}/tasks/{task}/export"]["get"]["responses"]["200"]
    assert "text/csv; charset=utf-8" in export["content"]
    # the report answered still carries every key (the model keeps unknown ones)
    r = await api.call(
        "POST",
        "/api/v1/campaigns/sales/imports",
        files={"file": ("a.csv", b"phone\n+49301234567\n", "text/csv")},
    )
    assert r.status_code == 201, r.text
    assert set(r.json()) >= set(report["properties"])
