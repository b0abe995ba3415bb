"""REST API: campaign definitions, status, schedule, tasks, taskflow rules, overview."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import structlog
from api_testkit import Api, campaign_body, create_campaign, open_api

from dialerd.domain.campaign_spec import CampaignSpec
from dialerd.domain.changes import NewContact
from dialerd.domain.compliance import ComplianceFloor
from dialerd.store import Store

BASE = "/api/v1/campaigns"


@pytest.fixture
async def api(store: Store) -> AsyncIterator[Api]:
    async for a in open_api(store):
        yield a


async def test_create_get_list_campaign(api: Api) -> None:
    created = await create_campaign(api)
    assert created["name"] == "sales"
    assert created["status"] == "disabled"
    assert created["definition"]["rules"][1] == {
        "from": "call",
        "status": "declined",
        "detail": None,
        "to": "lost",
        "delay": "1h",
    }
    assert created["engine_reloaded"] is True
    assert api.engine.names() == ["reload"]

    by_name = await api.call("GET", f"{BASE}/sales", role="readonly")
    by_id = await api.call("GET", f"{BASE}/{created['id']}", role="readonly")
    assert by_name.status_code == by_id.status_code == 200
    assert by_name.json() == by_id.json()

    listed = await api.call("GET", BASE, role="readonly")
    assert [c["name"] for c in listed.json()["campaigns"]] == ["sales"]


async def test_names_that_cannot_stand_in_a_url_are_refused_for_new_campaigns(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An all-digit name shadowed the campaign with that id; '/', '.', '..' were unreachable."""
    first = await create_campaign(api, "first")
    for bad in (str(first["id"] + 1), "a/b", "..", ".", "Sales Team", "x?y", "über"):
        r = await api.call("POST", "/api/v1/campaigns", json=campaign_body(bad))
        assert r.status_code == 422, (bad, r.text)
        assert r.json()["field"] == "name"
        assert "letters (A-Z, a-z), digits, '-', '_' or '.', not only digits" in r.json()["error"]
    for good in ("q1.2026_b-2", "2026-spring", "_x"):
        await create_campaign(api, good)
    r = await api.call("GET", f"/api/v1/campaigns/{first['id']}")
    assert r.json()["name"] == "first"
    # a campaign stored under the older rule keeps working
    from dialerd.domain import campaign_spec

    monkeypatch.setattr(campaign_spec, "campaign_name_problem", lambda name: None)
    await api.store.create_campaign(
        CampaignSpec.model_validate(campaign_body("Old Team")), api.clock.now()
    )
    monkeypatch.undo()
    r = await api.call("PATCH", "/api/v1/campaigns/Old%20Team", json={"description": "kept"})
    assert r.status_code == 200, r.text
    assert r.json()["definition"]["description"] == "kept"


async def test_create_twice_is_a_conflict(api: Api) -> None:
    await create_campaign(api)
    r = await api.call("POST", BASE, json=campaign_body())
    assert r.status_code == 409
    assert r.json() == {"error": "campaign 'sales' exists already", "field": None}


async def test_a_queue_another_campaign_has_is_a_conflict_naming_it(api: Api) -> None:
    await create_campaign(api, "survey-a", queue="survey")
    await create_campaign(api, "plain")  # its queue is the default "dialerd-plain"
    for body, other in (
        (campaign_body("survey-b", queue="survey"), "survey-a"),
        (campaign_body("survey-b", queue="dialerd-plain"), "plain"),
        (campaign_body("dialerd"), None),  # "dialerd-dialerd": free
    ):
        r = await api.call("POST", BASE, json=body)
        if other is None:
            assert r.status_code == 201, r.text
            continue
        assert r.status_code == 409, r.text
        assert r.json()["field"] == "queue"
        assert f"is already the queue of campaign {other!r}" in r.json()["error"]
    # changing a campaign onto another's queue is refused too; keeping its own is not
    r = await api.call("PATCH", f"{BASE}/plain", json={"queue": "survey"})
    assert r.status_code == 409 and "campaign 'survey-a'" in r.json()["error"]
    r = await api.call("PATCH", f"{BASE}/survey-a", json={"dial": {"mode": "power"}})
    assert r.status_code == 200, r.text
    names = [c["name"] for c in (await api.call("GET", BASE)).json()["campaigns"]]
    assert sorted(names) == ["dialerd", "plain", "survey-a"]


BAD_DEFINITIONS: list[tuple[dict[str, object], str, str]] = [
    ({"tasks": [{"name": "call", "type": "phone"}]}, "tasks.0.type", "'call'"),
    ({"dial": {"mode": "turbo"}}, "dial.mode", "predictive"),
    ({"colour": "red"}, "colour", "unknown key"),
    ({"timezone": "Mars/Olympus"}, "timezone", "unknown time zone"),
    (
        {"rules": [{"from": "call", "status": "success", "to": "nowhere"}]},
        "rules.0.to",
        "'nowhere' is not a task",
    ),
    ({"tasks": []}, "tasks", "at least 1"),
]


async def test_bad_definition_names_the_field(api: Api) -> None:
    for change, field, words in BAD_DEFINITIONS:
        r = await api.call("POST", BASE, json=campaign_body(**change))
        assert r.status_code == 422, (change, r.text)
        body = r.json()
        assert body["field"] == field, change
        assert words in body["error"], change
    assert (await api.call("GET", BASE)).json()["campaigns"] == []


async def test_body_that_is_not_json(api: Api) -> None:
    r = await api.call(
        "POST", BASE, content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 422
    assert set(r.json()) >= {"error", "field"}


async def test_unknown_route_and_method_keep_the_error_shape(api: Api) -> None:
    r = await api.call("GET", "/api/v1/nothing-here")
    assert r.status_code == 404
    assert r.json() == {"error": "Not Found", "field": None}
    r = await api.call("DELETE", BASE)
    assert r.status_code == 405
    assert r.json() == {"error": "Method Not Allowed", "field": None}


async def test_unknown_campaign_is_404(api: Api) -> None:
    r = await api.call("GET", f"{BASE}/nope")
    assert r.status_code == 404
    assert r.json() == {"error": "no campaign 'nope'", "field": None}


async def test_replace_and_patch_definition(api: Api) -> None:
    await create_campaign(api)
    body = campaign_body(description="spring offer", dial={"mode": "power"})
    r = await api.call("PUT", f"{BASE}/sales", json=body)
    assert r.status_code == 200, r.text
    assert r.json()["dial_mode"] == "power"
    assert r.json()["definition"]["description"] == "spring offer"

    renamed = await api.call("PUT", f"{BASE}/sales", json=campaign_body("other"))
    assert renamed.status_code == 422
    assert renamed.json()["field"] == "name"

    r = await api.call("PATCH", f"{BASE}/sales", json={"dial": {"calls_per_ready_agent": 1.5}})
    assert r.status_code == 200, r.text
    dial = r.json()["definition"]["dial"]
    assert dial["mode"] == "power"  # untouched keys stay
    assert dial["calls_per_ready_agent"] == 1.5

    bad = await api.call("PATCH", f"{BASE}/sales", json={"ring_timeout": "1s"})
    assert bad.status_code == 422
    assert bad.json()["field"] == "ring_timeout"


async def test_laxer_definitions_are_stored_held_to_the_daemon_compliance_rules(
    store: Store,
) -> None:
    async for api in open_api(store, compliance=ComplianceFloor()):
        lax = {
            "calling_hours": {"enabled": False},
            "dial": {"mode": "progressive", "abandonment_target": 0.5},
            "connect_limit": "10s",
            "abandon_hold_off": "10m",
        }
        with structlog.testing.capture_logs() as logs:
            r = await api.call("POST", BASE, json=campaign_body(**lax))
        assert r.status_code == 201, r.text
        held = r.json()
        d = held["definition"]
        assert d["calling_hours"] == {"enabled": True, "from": "08:00:00", "to": "21:00:00"}
        assert d["dial"]["abandonment_target"] == 0.03
        assert (d["connect_limit"], d["abandon_hold_off"]) == ("2s", "3d")
        assert held["tightened"] == [
            "calling hours set to 08:00-21:00 (daemon [compliance])",
            "abandonment target lowered to 3.0% (daemon [compliance])",
            "connect limit lowered to 2s (daemon [compliance])",
            "abandon hold-off raised to 3d (daemon [compliance])",
        ]
        warned = [e for e in logs if e["event"] == "api.campaign_tightened"]
        assert [(e["campaign"], e["changes"]) for e in warned] == [("sales", held["tightened"])]
        # what is stored is what the response showed
        got = (await api.call("GET", f"{BASE}/sales", role="readonly")).json()
        assert got["definition"] == d

        # every way of changing a definition is held to the same rules
        r = await api.call("PUT", f"{BASE}/sales", json=campaign_body(**lax))
        assert r.json()["definition"] == d and len(r.json()["tightened"]) == 4
        r = await api.call(
            "PATCH",
            f"{BASE}/sales",
            json={"dial": {"abandonment_target": "40%"}, "calling_hours": {"to": "23:00"}},
        )
        assert r.status_code == 200, r.text
        assert r.json()["definition"] == d
        assert r.json()["tightened"] == [
            "calling hours set to 08:00-21:00 (daemon [compliance])",
            "abandonment target lowered to 3.0% (daemon [compliance])",
        ]
        strict = await api.call(
            "PATCH", f"{BASE}/sales", json={"dial": {"abandonment_target": "1%"}}
        )
        assert strict.json()["definition"]["dial"]["abandonment_target"] == 0.01
        assert strict.json()["tightened"] == []


async def test_a_campaign_stored_laxer_shows_as_the_engine_dials_it(store: Store) -> None:
    """Stored laxer than the floor (``dialerd campaign create --db`` cannot know it; a floor
    made stricter later): GET showed the stored values, while the engine dials by the floor."""
    from datetime import UTC, datetime

    from dialerd.domain.campaign_spec import CampaignSpec

    lax = campaign_body(
        "loose",
        dial={"mode": "progressive", "abandonment_target": 0.05},
        connect_limit="10s",
    )
    await store.create_campaign(CampaignSpec.model_validate(lax), datetime.now(UTC))
    async for api in open_api(store, compliance=ComplianceFloor()):
        r = await api.call("GET", f"{BASE}/loose", role="readonly")
        assert r.status_code == 200, r.text
        got = r.json()
        assert got["definition"]["dial"]["abandonment_target"] == 0.03
        assert got["definition"]["connect_limit"] == "2s"
        assert got["compliance_floor"] == {
            "connect_limit": {"stored": "10s", "applied": "2s"},
            "dial.abandonment_target": {"stored": 0.05, "applied": 0.03},
        }
        # a campaign within the floor has nothing overridden
        strict = await api.call("POST", BASE, json=campaign_body("strict"))
        assert strict.status_code == 201, strict.text
        assert strict.json()["compliance_floor"] == {}
        got = (await api.call("GET", f"{BASE}/strict")).json()
        assert got["compliance_floor"] == {}


async def test_the_daemon_cap_on_calls_per_number_holds_a_campaign_created_through_the_api(
    store: Store,
) -> None:
    import dataclasses
    from datetime import UTC, datetime, timedelta

    from dialerd.domain.enums import CallResult
    from dialerd.domain.model import Attempt

    async for api in open_api(store, compliance=ComplianceFloor(max_calls_per_day=2)):
        r = await api.call("POST", BASE, json=campaign_body())
        assert r.status_code == 201, r.text
        assert r.json()["definition"]["dial"]["max_calls_per_day"] == 2
        assert r.json()["tightened"] == [
            "max calls per number per day set to 2 (daemon [compliance])"
        ]
        r = await api.call("PATCH", f"{BASE}/sales", json={"dial": {"max_calls_per_day": 10}})
        assert r.json()["definition"]["dial"]["max_calls_per_day"] == 2
        strict = await api.call("PATCH", f"{BASE}/sales", json={"dial": {"max_calls_per_day": 1}})
        assert strict.json()["definition"]["dial"]["max_calls_per_day"] == 1
        assert strict.json()["tightened"] == []
        await api.call("PATCH", f"{BASE}/sales", json={"dial": {"max_calls_per_day": 5}})

        # what the dialer leases: the number called twice from another campaign is held
        now = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
        await api.call("POST", BASE, json=campaign_body("other"))
        sales, other = await store.get_campaign("sales"), await store.get_campaign("other")
        assert (await store.campaign_spec(sales.id)).dial.max_calls_per_day == 2
        phone = "+4930123456"
        [cid] = await store.add_contacts(sales.id, [NewContact(phone=phone)], now)
        [oid] = await store.add_contacts(other.id, [NewContact(phone=phone)], now)
        task = (await store.tasks(other.id))[0]
        for i in range(2):
            at = now + timedelta(hours=i)
            attempt = Attempt(f"o{i}", other.id, oid, task.id, phone, originated_at=at)
            await store.start_attempt(attempt)
            await store.record_attempt(
                dataclasses.replace(attempt, hungup_at=at, result=CallResult.BUSY)
            )
        ttl = timedelta(minutes=1)
        assert await store.lease(sales.id, 5, "r", ttl, now + timedelta(hours=3)) == []
        later = now + timedelta(hours=24, minutes=1)
        assert [c.id for c in await store.lease(sales.id, 5, "r", ttl, later)] == [cid]


async def test_status_and_schedule(api: Api) -> None:
    await create_campaign(api)
    r = await api.call("PUT", f"{BASE}/sales/status", json={"status": "automatic"})
    assert r.status_code == 422
    assert "periods" in r.json()["error"]

    schedule = {
        "periods": [{"days": ["mon", "tue"], "from": "09:00", "to": "17:30"}],
        "dates_off": ["2026-12-24"],
    }
    r = await api.call("PUT", f"{BASE}/sales/schedule", json=schedule)
    assert r.status_code == 200, r.text
    got = await api.call("GET", f"{BASE}/sales/schedule", role="readonly")
    assert got.json()["periods"] == [{"days": ["mon", "tue"], "from": "09:00:00", "to": "17:30:00"}]
    assert got.json()["dates_off"] == ["2026-12-24"]

    r = await api.call("PUT", f"{BASE}/sales/status", json={"status": "automatic"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "automatic"
    assert (await api.call("GET", f"{BASE}/sales")).json()["status"] == "automatic"

    bad = await api.call("PUT", f"{BASE}/sales/status", json={"status": "on"})
    assert bad.status_code == 422
    assert bad.json()["field"] == "status"

    reversed_period = {"periods": [{"days": ["mon"], "from": "18:00", "to": "09:00"}]}
    r = await api.call("PUT", f"{BASE}/sales/schedule", json=reversed_period)
    assert r.status_code == 422
    assert r.json()["field"].startswith("periods.0")


async def test_tasks_and_rules(api: Api) -> None:
    created = await create_campaign(api)
    tasks = (await api.call("GET", f"{BASE}/sales/tasks")).json()
    assert tasks["start_task"] == "call"
    assert [(t["name"], t["type"]) for t in tasks["tasks"]] == [
        ("call", "call"),
        ("won", "export"),
        ("lost", "wait"),
    ]
    ids = {t["name"]: t["id"] for t in tasks["tasks"]}

    rules = [{"from": "call", "status": "failed", "detail": "$max_attempts", "to": "lost"}]
    r = await api.call("PUT", f"{BASE}/sales/rules", json={"rules": rules})
    assert r.status_code == 200, r.text
    got = (await api.call("GET", f"{BASE}/sales/rules")).json()["rules"]
    assert got == [
        {"from": "call", "status": "failed", "detail": "$max_attempts", "to": "lost", "delay": "0s"}
    ]

    # a new task keeps the ids of the old ones (contacts stay where they are)
    new_tasks = [*(({"name": t["name"], "type": t["type"]}) for t in tasks["tasks"])]
    mail: dict[str, object] = {"name": "mail", "type": "email"}
    new_tasks.append(mail)
    # a task whose settings cannot run is refused as check-config refuses it in a file
    r = await api.call("PUT", f"{BASE}/sales/tasks", json={"tasks": new_tasks})
    assert r.status_code == 422
    assert r.json()["field"] == "tasks"
    assert "tasks.mail.settings.subject: Field required" in r.json()["error"]
    mail["settings"] = {
        "from": "shop@example.com",
        "subject": "Hello",
        "body": "Hi {{ first_name }}",
    }
    r = await api.call("PUT", f"{BASE}/sales/tasks", json={"tasks": new_tasks})
    assert r.status_code == 200, r.text
    after = {t["name"]: t["id"] for t in r.json()["tasks"]}
    assert {k: after[k] for k in ids} == ids

    # dropping a task a rule points at: the rule is named
    r = await api.call("PUT", f"{BASE}/sales/tasks", json={"tasks": new_tasks[:2]})
    assert r.status_code == 422
    assert r.json()["field"] == "rules.0.to"

    # dropping a task that holds contacts: a conflict with the data
    await api.store.add_contacts(
        created["id"], [NewContact(phone="+4930123456")], api.clock.now(), task="mail"
    )
    keep = [t for t in new_tasks if t["name"] != "mail"]
    r = await api.call("PUT", f"{BASE}/sales/tasks", json={"tasks": keep})
    assert r.status_code == 409
    assert "mail" in r.json()["error"]


async def test_overview_counts(api: Api) -> None:
    created = await create_campaign(api)
    await api.store.add_contacts(
        created["id"],
        [NewContact(phone=f"+49301234{i:03d}") for i in range(3)],
        api.clock.now(),
    )
    r = await api.call("GET", f"{BASE}/sales/overview", role="readonly")
    assert r.status_code == 200
    body = r.json()
    assert body["total"] == 3
    assert body["rows"] == [
        {
            "task": "call",
            "status": "open",
            "status_detail": "$none",
            "count": 3,
            "waiting_for": None,
            "next_due": None,
        }
    ]
