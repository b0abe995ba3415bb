"""REST API: bearer tokens and the role matrix (documented in dialerd.api.auth)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import structlog
from api_testkit import TOKENS, Api, auth, create_campaign, open_api

from dialerd.store import Store


@pytest.fixture
def backend() -> str:
    """Roles do not depend on the database: SQLite only."""
    return "sqlite"


@pytest.fixture
async def api(store: Store) -> AsyncIterator[Api]:
    async for a in open_api(store):
        await create_campaign(a)
        r = await a.call("POST", "/api/v1/campaigns/sales/contacts", json={"phone": "+49301234567"})
        assert r.status_code == 201
        yield a


async def test_missing_and_unknown_tokens_are_401(api: Api) -> None:
    r = await api.client.get("/api/v1/campaigns")
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"
    assert r.json() == {
        "error": "missing bearer token (Authorization: Bearer TOKEN)",
        "field": None,
    }
    r = await api.client.get("/api/v1/campaigns", headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401
    assert r.json()["error"] == "unknown token"
    r = await api.client.get(
        "/api/v1/campaigns", headers={"Authorization": f"Basic {TOKENS['admin'].token}"}
    )
    assert r.status_code == 401


async def test_open_endpoints_need_no_token(api: Api) -> None:
    assert (await api.client.get("/healthz")).status_code == 200
    assert (await api.client.get("/metrics")).status_code == 200
    spec = (await api.client.get("/openapi.json")).json()
    paths = spec["paths"]
    for path in (
        "/api/v1/campaigns/{campaign}/rules",
        "/api/v1/campaigns/{campaign}/contacts/batch",
        "/api/v1/campaigns/{campaign}/imports",
        "/api/v1/agents/{agent}/disposition",
        "/api/v1/dnc/{phone}",
        "/healthz",
    ):
        assert path in paths, path
    assert "HTTPBearer" in spec["components"]["securitySchemes"]
    add = paths["/api/v1/campaigns/{campaign}/contacts"]["post"]
    assert add["responses"]["409"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorOut"
    }
    assert "ContactOut" in spec["components"]["schemas"]
    docs = await api.client.get("/docs")
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()


CONTACTS = "/api/v1/campaigns/sales/contacts"
SCHEDULE = {"periods": [{"days": ["mon"], "from": "09:00", "to": "17:00"}]}

# (method, path, json) -> roles that may do it
CASES: list[tuple[str, str, object, set[str]]] = [
    ("GET", "/api/v1/campaigns", None, {"admin", "supervisor", "agent", "readonly"}),
    ("GET", f"{CONTACTS}?name=x", None, {"admin", "supervisor", "agent", "readonly"}),
    ("GET", "/api/v1/dnc", None, {"admin", "supervisor", "agent", "readonly"}),
    ("GET", "/api/v1/agents", None, {"admin", "supervisor", "agent", "readonly"}),
    ("POST", CONTACTS, {"phone": "+49301111111"}, {"admin", "supervisor"}),
    (
        "POST",
        f"{CONTACTS}/move",
        {"to_task": "won", "filter": {"ids": [1]}},
        {"admin", "supervisor"},
    ),
    ("POST", "/api/v1/dnc", {"phones": ["+49302222222"]}, {"admin", "supervisor"}),
    ("DELETE", "/api/v1/dnc/+49302222222", None, {"admin"}),
    ("PUT", "/api/v1/campaigns/sales/status", {"status": "enabled"}, {"admin", "supervisor"}),
    ("PUT", "/api/v1/campaigns/sales/schedule", SCHEDULE, {"admin"}),
    ("PUT", "/api/v1/campaigns/sales/rules", {"rules": []}, {"admin"}),
    ("PATCH", "/api/v1/campaigns/sales", {"description": "x"}, {"admin"}),
    ("POST", "/api/v1/agents/agent-1/login", None, {"admin", "supervisor", "agent"}),
    ("POST", "/api/v1/agents/agent-2/login", None, {"admin", "supervisor"}),
    ("POST", "/api/v1/agents/agent-2/pause", {"reason": "x"}, {"admin", "supervisor"}),
    (
        "POST",
        "/api/v1/agents/agent-2/disposition",
        {"status": "success", "status_detail": "sale"},
        {"admin", "supervisor"},
    ),
    (
        "POST",
        "/api/v1/agents/agent-2/preview/accept",
        {"contact_id": 1},
        {"admin", "supervisor"},
    ),
]


@pytest.mark.parametrize("role", ["admin", "supervisor", "agent", "readonly"])
async def test_role_matrix(api: Api, role: str) -> None:
    wrong = []
    for method, path, body, allowed in CASES:
        r = await api.client.request(method, path, json=body, headers=auth(role))
        denied = r.status_code == 403
        if denied == (role in allowed) or r.status_code in (401, 500):
            wrong.append(f"{method} {path}: {r.status_code} {r.text[:120]}")
        if denied:
            assert set(r.json()) == {"error", "field"}
    assert not wrong, f"role {role}:\n" + "\n".join(wrong)


async def test_agent_token_acts_only_for_its_agent(api: Api) -> None:
    own = await api.call(
        "POST", "/api/v1/agents/agent-1/pause", role="agent", json={"reason": "lunch"}
    )
    assert own.status_code == 200
    other = await api.call("POST", "/api/v1/agents/agent-2/pause", role="agent")
    assert other.status_code == 403
    assert other.json() == {"error": "this token acts only for agent 'agent-1'", "field": "agent"}
    assert api.engine.calls[-1] == ("agent_pause", ("agent-1", True, "lunch"))
    assert "agent-2" not in str(api.engine.calls)


async def test_readonly_cannot_change_anything(api: Api) -> None:
    r = await api.call("POST", CONTACTS, role="readonly", json={"phone": "+49303333333"})
    assert r.status_code == 403
    assert r.json() == {"error": "role 'readonly' may not do this (contacts)", "field": None}
    found = await api.call("GET", CONTACTS, role="readonly")
    assert found.json()["total"] == 1


async def test_history_names_the_token(api: Api) -> None:
    await api.call(
        "POST",
        f"{CONTACTS}/move",
        role="supervisor",
        json={"to_task": "won", "filter": {"all": True}},
    )
    contact = (await api.call("GET", CONTACTS)).json()["contacts"][0]
    history = (await api.call("GET", f"{CONTACTS}/{contact['id']}/history")).json()["history"]
    assert history[-1]["actor"] == "api:floor"


async def test_every_request_is_logged_with_its_token(api: Api) -> None:
    with structlog.testing.capture_logs() as logs:
        await api.call("GET", CONTACTS, role="readonly")
        await api.call("POST", CONTACTS, role="readonly", json={"phone": "+49301111111"})
        await api.client.get("/api/v1/campaigns")
    lines = [e for e in logs if e["event"] == "api.request"]
    assert [(e["method"], e["status"], e["token_name"]) for e in lines] == [
        ("GET", 200, "wallboard"),
        ("POST", 403, "wallboard"),
        ("GET", 401, None),
    ]
    assert all(e["path"].startswith("/api/v1/") and e["seconds"] >= 0 for e in lines)


async def test_the_access_log_line_names_the_token_and_never_shows_its_value(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through the daemon's real log processors: a key named "token" was masked as "***"."""
    import io
    import json
    import logging

    from dialerd.daemon.logging import configure_logging

    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    out = io.StringIO()
    try:
        configure_logging("info", "json", stream=out)
        await api.call("GET", CONTACTS, role="readonly")
        await api.call("GET", CONTACTS, headers={"Authorization": "Bearer not-a-token-s3cret"})
    finally:
        structlog.reset_defaults()
        root.handlers[:] = handlers
        root.setLevel(level)
    text = out.getvalue()
    lines = [json.loads(x) for x in text.splitlines() if '"api.request"' in x]
    assert [(e["status"], e["token_name"]) for e in lines] == [(200, "wallboard"), (401, None)]
    for grant in TOKENS.values():
        assert grant.token not in text
    assert "s3cret" not in text
