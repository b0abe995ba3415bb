"""REST API: agents (state from the store, actions through the engine) and dispositions."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from api_testkit import START, Api, FakeEngine, auth, make_app, open_api

from dialerd.domain.clock import ManualClock
from dialerd.domain.enums import AgentState, Status
from dialerd.domain.model import Agent
from dialerd.engine import DispositionState, DispositionTaken
from dialerd.engine.errors import EngineNotRunning, NoSuchCall, UnknownAgent
from dialerd.store import Store

A = "/api/v1/agents"


@pytest.fixture
def backend() -> str:
    """The engine is what these tests exercise; the store's part is a read: SQLite only."""
    return "sqlite"


@pytest.fixture
async def api(store: Store) -> AsyncIterator[Api]:
    async for a in open_api(store):
        yield a


async def test_agents_and_their_state(api: Api) -> None:
    now = api.clock.now()
    await api.store.upsert_agent(Agent("agent-1", "PJSIP/101", campaigns=("sales",)), now)
    await api.store.upsert_agent(Agent("agent-2", "PJSIP/102"), now)
    await api.store.set_agent_state("agent-2", AgentState.PAUSED, now)
    r = await api.call("GET", A, role="readonly")
    assert r.status_code == 200
    assert r.json()["agents"] == [
        {
            "name": "agent-1",
            "interface": "PJSIP/101",
            "campaigns": ["sales"],
            "skills": [],
            "state": "offline",
            "unknown_since": None,
            "live": None,
        },
        {
            "name": "agent-2",
            "interface": "PJSIP/102",
            "campaigns": [],
            "skills": [],
            "state": "paused",
            "unknown_since": None,
            "live": None,
        },
    ]
    one = await api.call("GET", f"{A}/agent-2", role="agent")
    assert one.json()["state"] == "paused"
    api.engine.agents = [{"name": "agent-2", "server": "pbx1", "paused_reason": "lunch"}]
    one = await api.call("GET", f"{A}/agent-2", role="agent")
    assert one.json()["live"] == {"name": "agent-2", "server": "pbx1", "paused_reason": "lunch"}
    assert one.json()["unknown_since"] is None
    # the AMI link to the agent's Asterisk is lost: the stored state is the last seen, the
    # row says since when it is not known (the engine's view, not a stored column)
    lost = datetime(2026, 1, 5, 10, 3, tzinfo=UTC)
    api.engine.agents = [
        {"name": "agent-2", "server": "pbx1", "state": "paused", "unknown_since": lost}
    ]
    rows = (await api.call("GET", A, role="readonly")).json()["agents"]
    assert [(r["name"], r["state"], r["unknown_since"]) for r in rows] == [
        ("agent-1", "offline", None),
        ("agent-2", "paused", "2026-01-05T10:03:00Z"),
    ]
    one = await api.call("GET", f"{A}/agent-2", role="agent")
    assert one.json()["unknown_since"] == "2026-01-05T10:03:00Z"
    missing = await api.call("GET", f"{A}/ghost")
    assert missing.status_code == 404
    assert missing.json() == {"error": "no agent 'ghost'", "field": "agent"}


async def test_actions_reach_the_engine(api: Api) -> None:
    for path, body in [
        ("login", None),
        ("login", {"campaign": "sales"}),
        ("pause", {"reason": "lunch"}),
        ("pause", None),
        ("unpause", None),
        ("logout", None),
        ("preview/accept", {"contact_id": 7}),
        ("preview/skip", {"contact_id": 8}),
    ]:
        r = await api.call("POST", f"{A}/agent-1/{path}", role="agent", json=body)
        assert r.status_code == 200, (path, r.text)
    assert api.engine.calls == [
        ("agent_login", ("agent-1", None)),
        ("agent_login", ("agent-1", "sales")),
        ("agent_pause", ("agent-1", True, "lunch")),
        ("agent_pause", ("agent-1", True, None)),
        ("agent_pause", ("agent-1", False, None)),
        ("agent_logout", ("agent-1", None)),
        ("preview_accept", ("agent-1", 7)),
        ("preview_skip", ("agent-1", 8)),
    ]
    r = await api.call("POST", f"{A}/agent-1/login", role="agent")
    assert r.json() == {"agent": "agent-1", "action": "login", "result": ["sales"]}


async def test_disposition(api: Api) -> None:
    body = {
        "status": "open",
        "status_detail": "call_back",
        "note": "after 3pm",
        "callback_at": "2026-03-03T15:00:00+01:00",
    }
    r = await api.call("POST", f"{A}/agent-1/disposition", role="agent", json=body)
    assert r.status_code == 200, r.text
    assert r.json()["result"] == "attempt-1"
    name, args = api.engine.calls[-1]
    assert name == "disposition"
    assert args == (
        "agent-1",
        Status.OPEN,
        "call_back",
        "after 3pm",
        datetime(2026, 3, 3, 14, 0, tzinfo=UTC),
        None,
    )
    r = await api.call(
        "POST",
        f"{A}/agent-1/disposition",
        json={"status": "success", "status_detail": "sale", "attempt_id": "att-9"},
    )
    assert api.engine.calls[-1][1][-1] == "att-9"


async def test_a_disposition_the_engine_keeps_until_the_database_is_back_is_202(
    api: Api,
) -> None:
    """The database is away: the engine took the disposition and keeps it. The desktop is
    told so at once (202, not a hanging request or a 503 inviting it to send it again)."""
    api.engine.disposition_result = DispositionTaken("att-7", DispositionState.QUEUED)
    r = await api.call("POST", f"{A}/agent-1/disposition", role="agent", json={"status": "success"})
    assert r.status_code == 202, r.text
    body = r.json()
    assert (body["result"], body["written"]) == ("att-7", "queued")
    assert "do not send it again" in body["detail"]

    api.engine.disposition_result = DispositionTaken("att-8", DispositionState.STORED)
    r = await api.call("POST", f"{A}/agent-1/disposition", role="agent", json={"status": "success"})
    assert r.status_code == 200, r.text
    assert r.json() == {
        "agent": "agent-1",
        "action": "disposition",
        "result": "att-8",
        "written": "stored",
        "detail": None,
    }

    paths = (await api.client.get("/openapi.json")).json()["paths"]
    answers = paths[f"{A}/{{agent}}/disposition"]["post"]["responses"]
    assert {"200", "202", "409", "503"} <= set(answers)
    assert "queued" in answers["202"]["description"]


BAD_DISPOSITIONS: list[tuple[dict[str, object], str]] = [
    ({"status": "maybe"}, "status"),
    ({"status_detail": "sale"}, "status"),
    ({"status": "success", "status_detail": "$bogus"}, "status_detail"),
    ({"status": "open", "callback_at": "2026-03-03T15:00:00"}, "callback_at"),
    ({"status": "open", "callback_at": "tomorrow"}, "callback_at"),
    ({"status": "success", "extra": 1}, "extra"),
]


async def test_bad_disposition_is_422(api: Api) -> None:
    for body, field in BAD_DISPOSITIONS:
        r = await api.call("POST", f"{A}/agent-1/disposition", json=body)
        assert r.status_code == 422, (body, r.text)
        assert r.json()["field"] == field, body
    assert api.engine.calls == []


async def test_engine_errors_map_to_status_codes(api: Api) -> None:
    api.engine.fail["agent_login"] = UnknownAgent("no agent 'agent-9'")
    r = await api.call("POST", f"{A}/agent-9/login")
    assert r.status_code == 404
    assert r.json() == {"error": "no agent 'agent-9'", "field": None}

    api.engine.fail["disposition"] = NoSuchCall("agent 'agent-1' has no call waiting")
    r = await api.call("POST", f"{A}/agent-1/disposition", json={"status": "success"})
    assert r.status_code == 409
    assert r.json()["error"] == "agent 'agent-1' has no call waiting"

    api.engine.fail["agent_pause"] = EngineNotRunning("the engine is stopping")
    r = await api.call("POST", f"{A}/agent-1/pause")
    assert r.status_code == 503

    api.engine.fail["agent_logout"] = RuntimeError("boom")
    r = await api.call("POST", f"{A}/agent-1/logout")
    assert r.status_code == 500
    assert r.json() == {"error": "internal error (see the daemon's log)", "field": None}


async def test_engine_status(api: Api) -> None:
    r = await api.call("GET", "/api/v1/status", role="readonly")
    assert r.status_code == 200
    assert r.json() == {"engine": {"running": True, "campaigns": []}}


async def test_without_engine_agent_actions_are_503(store: Store) -> None:
    app = make_app(store, None, ManualClock(START))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        r = await client.post(f"{A}/agent-1/login", headers=auth("admin"))
        assert r.status_code == 503
        assert r.json() == {"error": "the engine is not running in this process", "field": None}
        # the store part of the API works without an engine
        assert (await client.get(A, headers=auth("admin"))).status_code == 200


def test_fake_engine_fits_the_protocol() -> None:
    from dialerd.api import EngineControl

    assert isinstance(FakeEngine(), EngineControl)


async def test_disposition_takes_attempt_id_or_the_mqtt_name_attempt(api: Api) -> None:
    """The MQTT disposition says ``attempt`` for what HTTP calls ``attempt_id``: a desktop
    sending the same body both ways works; a number is taken as its text, as over MQTT."""
    for body in (
        {"status": "success", "status_detail": "sale", "attempt_id": "att-9"},
        {"status": "success", "status_detail": "sale", "attempt": "att-9"},
        {"status": "success", "status_detail": "sale", "attempt": "att-9", "attempt_id": "att-9"},
    ):
        r = await api.call("POST", f"{A}/agent-1/disposition", json=body)
        assert r.status_code == 200, r.text
        assert api.engine.calls[-1][1][-1] == "att-9"
    r = await api.call("POST", f"{A}/agent-1/disposition", json={"status": "failed", "attempt": 12})
    assert r.status_code == 200 and api.engine.calls[-1][1][-1] == "12"
    r = await api.call(
        "POST",
        f"{A}/agent-1/disposition",
        json={"status": "success", "attempt": "att-9", "attempt_id": "att-8"},
    )
    assert r.status_code == 422 and "differ" in r.json()["error"]
    # the same limits as over MQTT: a 4000-character note, a 128-character attempt id
    r = await api.call(
        "POST",
        f"{A}/agent-1/disposition",
        json={"status": "success", "note": "n" * 4000, "attempt_id": "a" * 128},
    )
    assert r.status_code == 200, r.text
