"""Every successful answer of the REST API has a schema in the OpenAPI document.

A client generated from ``/openapi.json`` (or a person reading ``/docs``) learns the keys of an
answer only from its schema; an operation declared as a bare ``dict`` shows ``{}`` or an object
of anything, and its keys could change unnoticed. The audit found 21 such operations; this test
keeps the number at zero: a new operation without a response model fails here, naming it.
"""

from __future__ import annotations

from typing import Any
from unittest.mock import MagicMock

import pytest

from dialerd.api import build_app

#: Answers that have no body by definition.
_NO_BODY = {"204", "205", "304"}


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return build_app(MagicMock(), tokens=[]).openapi()


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _why_not_described(spec: dict[str, Any], schema: dict[str, Any] | None) -> str | None:
    """Why a JSON answer's schema does not say what keys it has (None: it does)."""
    if not schema:
        return "no schema"
    schema = _resolve(spec, schema)
    if schema.get("type") == "array":
        return _why_not_described(spec, schema.get("items"))
    if "anyOf" in schema or "oneOf" in schema:
        options = schema.get("anyOf") or schema.get("oneOf") or []
        problems = [_why_not_described(spec, s) for s in options if s.get("type") != "null"]
        return next((p for p in problems if p), None)
    if schema.get("type") in ("string", "integer", "number", "boolean"):
        return None
    if not schema.get("properties"):
        return "an object of anything (no properties)"
    return None


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, code, answer)
        for path, operations in spec["paths"].items()
        for method, operation in operations.items()
        for code, answer in operation.get("responses", {}).items()
        if code.startswith("2") and code not in _NO_BODY
    ]


def test_every_successful_answer_has_a_schema(spec: dict[str, Any]) -> None:
    missing = []
    for method, path, code, answer in _operations(spec):
        content = answer.get("content")
        if not content:
            missing.append(f"{method} {path} {code}: no content")
            continue
        for media, body in content.items():
            if "json" in media:
                why = _why_not_described(spec, body.get("schema"))
            else:
                why = None if body.get("schema") else "no schema"
            if why is not None:
                missing.append(f"{method} {path} {code} {media}: {why}")
    assert not missing, "answers without a schema:\n" + "\n".join(missing)


def test_the_check_sees_a_bare_dict_answer() -> None:
    """The check itself: an operation declared ``-> dict[str, Any]`` is reported."""
    app = build_app(MagicMock(), tokens=[])

    @app.get("/api/v1/undeclared")
    async def undeclared() -> dict[str, Any]:
        return {}

    app.openapi_schema = None
    spec = app.openapi()
    answer = spec["paths"]["/api/v1/undeclared"]["get"]["responses"]["200"]
    schema = answer["content"]["application/json"]["schema"]
    assert _why_not_described(spec, schema) == "an object of anything (no properties)"


def test_spot_checks_of_the_declared_keys(spec: dict[str, Any]) -> None:
    def keys(path: str, method: str, code: str = "200") -> set[str]:
        content = spec["paths"][path][method]["responses"][code]["content"]
        return set(_resolve(spec, content["application/json"]["schema"])["properties"])

    in_call = {"skipped_in_call", "in_call"}
    assert keys("/api/v1/campaigns/{campaign}/contacts/bulk-edit", "post") == {"edited", *in_call}
    assert keys("/api/v1/campaigns/{campaign}/contacts/move", "post") == {"moved", *in_call}
    assert keys("/api/v1/campaigns/{campaign}/rules", "get") == {"rules"}
    assert keys("/api/v1/campaigns/{campaign}/schedule", "put") >= {"status", "periods"}
    assert keys("/api/v1/leads/{contact_id}", "get") >= {"contact_id", "holder", "notes"}
    assert keys("/api/v1/leads/{contact_id}/call", "post") == {"attempt_id", "attempt", "lead"}
    assert keys("/api/v1/reports", "get") >= {"totals", "per_day"}
    assert keys("/healthz", "get") == {"status", "checks"}
    assert keys("/healthz", "get", "503") == {"status", "checks"}


def test_the_report_filter_times_are_utc_with_z_and_fit_the_model() -> None:
    """They were written with ``+00:00``, unlike every other timestamp dialerd writes."""
    from datetime import UTC, datetime

    from dialerd.api.models_out import ReportOut
    from dialerd.api.routes_reports import report_json
    from dialerd.domain.agentwork import Report, ReportFilter, Totals

    start, end = datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC)
    data = report_json(Report(ReportFilter(start, end, 3, "anna"), Totals()))
    assert data["filter"] == {
        "start": "2026-03-01T00:00:00Z",
        "end": "2026-04-01T00:00:00Z",
        "campaign_id": 3,
        "agent": "anna",
    }
    assert ReportOut.model_validate(data).model_dump(mode="json") == data
