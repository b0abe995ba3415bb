"""Agent work through the API: next lead, reserve, call, notes, close; reports move with it."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from api_testkit import START, Api, create_campaign, open_api

from dialerd.domain.changes import NewContact
from dialerd.domain.enums import CallResult
from dialerd.domain.model import Agent, Attempt
from dialerd.store import Store

W = "/api/v1"


@pytest.fixture
def backend() -> str:
    return "sqlite"


@pytest.fixture
async def api(store: Store) -> AsyncIterator[Api]:
    async for a in open_api(store):
        yield a


async def _setup(api: Api) -> tuple[int, list[int]]:
    camp = await create_campaign(api)
    # the agent of the "agent" token works this campaign
    await api.store.upsert_agent(Agent("agent-1", "PJSIP/agent-1", campaigns=("sales",)), START)
    ids = await api.store.add_contacts(
        camp["id"],
        [
            NewContact(phone="+493012345601", first_name="Ada", last_name="Adler"),
            NewContact(phone="+493012345602", first_name="Bea", last_name="Bauer"),
        ],
        START,
    )
    r = await api.call(
        "PUT",
        f"{W}/campaigns/sales/work/predefined-notes",
        role="supervisor",
        json={
            "notes": [
                {
                    "key": "sale",
                    "text": "Sale",
                    "result_label": "sale",
                    "result_class": "positive",
                    "closes": True,
                },
                {
                    "key": "cb",
                    "text": "Call back",
                    "result_label": "callback",
                    "result_class": "partial",
                },
            ]
        },
    )
    assert r.status_code == 200, r.text
    return camp["id"], ids


async def _report(api: Api, **params: str) -> dict[str, object]:
    r = await api.call("GET", f"{W}/reports", role="readonly", params=params)
    assert r.status_code == 200, r.text
    data: dict[str, object] = r.json()
    return data


async def test_agent_works_a_lead_end_to_end(api: Api) -> None:
    camp_id, (ada, bea) = await _setup(api)
    before = await _report(api)
    assert before["totals"] == {
        "calls": 0,
        "contacts_reached": 0,
        "closed_leads": 0,
        "talk_seconds": 0.0,
    }

    nxt = await api.call("GET", f"{W}/campaigns/sales/work/next", role="agent")
    assert nxt.status_code == 200, nxt.text
    assert nxt.json()["agent"] == "agent-1"
    lead = nxt.json()["lead"]
    assert lead["contact_id"] == ada and lead["state"] == "none"

    r = await api.call("POST", f"{W}/leads/{ada}/reserve", role="agent")
    assert r.status_code == 200 and r.json()["holder"] == "agent-1"
    # A supervisor acting for another agent cannot take it: 409 names the holder.
    taken = await api.call(
        "POST", f"{W}/leads/{ada}/reserve", role="supervisor", json={"agent": "agent-2"}
    )
    assert taken.status_code == 409
    assert taken.json() == {"error": f"lead {ada} is held by agent-1", "field": "contact_id"}
    # ... and agent-2's next lead is Bea.
    other = await api.call(
        "GET", f"{W}/campaigns/sales/work/next", role="supervisor", params={"agent": "agent-2"}
    )
    assert other.json()["lead"]["contact_id"] == bea

    call = await api.call("POST", f"{W}/leads/{ada}/call", role="agent")
    assert call.status_code == 200, call.text
    assert call.json()["attempt"] == "attempt-2"
    assert ("preview_accept", ("agent-1", ada)) in api.engine.calls
    # The engine records the call; here we write what it would have written.
    await api.store.record_attempt(
        Attempt(
            "a-1",
            camp_id,
            ada,
            call.json()["lead"]["contact_id"] and 1,
            "+493012345601",
            agent="agent-1",
            originated_at=START,
            answered_at=START + timedelta(seconds=5),
            connected_at=START + timedelta(seconds=6),
            hungup_at=START + timedelta(seconds=126),
            result=CallResult.CONNECTED,
        )
    )

    free = await api.call(
        "POST",
        f"{W}/leads/{ada}/notes",
        role="agent",
        json={"text": "Interessiert, möchte Unterlagen per Mail"},
    )
    assert free.status_code == 201, free.text
    assert free.json()["note"]["result_class"] == "partial"
    closing = await api.call(
        "POST", f"{W}/leads/{ada}/close", role="agent", json={"predefined": "sale"}
    )
    assert closing.status_code == 201, closing.text
    assert closing.json()["note"]["result_label"] == "sale"
    assert closing.json()["lead"]["closed"] is True
    assert closing.json()["lead"]["holder"] is None
    assert closing.json()["lead"]["last_note"]["text"] == "Sale"

    detail = await api.call("GET", f"{W}/leads/{ada}", role="readonly")
    assert [n["result_class"] for n in detail.json()["notes"]] == ["partial", "positive"]
    # the same timestamp form as the contact models: ISO 8601 UTC with Z
    assert all(n["at"].endswith("Z") for n in detail.json()["notes"])

    after = await _report(api)
    assert after["totals"] == {
        "calls": 1,
        "contacts_reached": 1,
        "closed_leads": 1,
        "talk_seconds": 120.0,
    }
    assert after["per_agent"]["agent-1"]["closed_leads"] == 1
    assert after["per_campaign"]["sales"]["calls"] == 1
    assert after["per_result_class"] == {
        "positive": 1,
        "negative": 0,
        "partial": 0,
        "unclassified": 0,
    }
    day = after["per_day"][0]  # type: ignore[index]
    assert day["day"] == "2026-03-02" and day["live_answers"] == 1 and day["abandoned"] == 0

    # Date filters: the day before and after see nothing; an unknown campaign is a 404.
    empty = await _report(api, **{"from": "2026-03-03", "to": "2026-03-10"})
    assert empty["totals"]["calls"] == 0 and empty["totals"]["closed_leads"] == 0  # type: ignore[index]
    empty = await _report(api, to="2026-03-01")
    assert empty["totals"]["calls"] == 0  # type: ignore[index]
    same = await _report(api, **{"from": "2026-03-02", "to": "2026-03-02", "agent": "agent-1"})
    assert same["totals"]["calls"] == 1  # type: ignore[index]
    bad = await api.call("GET", f"{W}/reports", params={"from": "2026-03-05", "to": "2026-03-01"})
    assert bad.status_code == 422 and bad.json()["field"] == "query.to"

    text = (await api.call("GET", f"{W}/reports", params={"format": "csv"})).text
    rows = list(csv.reader(io.StringIO(text)))
    assert ["totals", "", "1", "1", "1", "120.0"] in rows
    assert ["result_class", "positive", "1"] in rows


async def test_who_may_do_what(api: Api) -> None:
    _, (ada, _bea) = await _setup(api)
    ro = await api.call("POST", f"{W}/leads/{ada}/reserve", role="readonly")
    assert ro.status_code == 403
    sup = await api.call("POST", f"{W}/leads/{ada}/reserve", role="supervisor")
    assert sup.status_code == 422 and sup.json()["field"] == "agent"
    spoof = await api.call(
        "POST", f"{W}/leads/{ada}/notes", role="agent", json={"agent": "agent-2", "text": "x"}
    )
    assert spoof.status_code == 403
    await api.call("POST", f"{W}/leads/{ada}/reserve", role="admin", json={"agent": "agent-2"})
    # agent-1 may not release agent-2's hold; a supervisor may.
    assert (await api.call("POST", f"{W}/leads/{ada}/release", role="agent")).status_code == 403
    rel = await api.call("POST", f"{W}/leads/{ada}/release", role="supervisor")
    assert rel.status_code == 200 and rel.json()["holder"] is None
    empty = await api.call("POST", f"{W}/leads/{ada}/notes", role="agent", json={"text": " "})
    assert empty.status_code == 422 and empty.json()["field"] == "text"
    unknown = await api.call(
        "POST", f"{W}/leads/{ada}/notes", role="agent", json={"predefined": "nope"}
    )
    assert unknown.status_code == 404
    found = await api.call(
        "GET", f"{W}/campaigns/sales/work/search", role="agent", params={"q": "030 1234 5602"}
    )
    assert found.status_code == 200, found.text
    assert [x["last_name"] for x in found.json()["leads"]] == ["Bauer"]
    assert (found.json()["total"], found.json()["more"]) == (1, False)
    blank = await api.call("GET", f"{W}/campaigns/sales/work/search", params={"q": " "})
    assert blank.status_code == 422 and blank.json()["field"] == "query.q"
    missing = await api.call("POST", f"{W}/leads/99999/reserve", role="agent")
    assert missing.status_code == 404


async def test_closing_a_lead_finishes_the_contact_and_keeps_it_from_the_dialer(api: Api) -> None:
    """A lead closed with a sale is done: it is not open work and never dialed again."""
    camp_id, (ada, bea) = await _setup(api)
    closing = await api.call(
        "POST", f"{W}/leads/{ada}/close", role="agent", json={"predefined": "sale"}
    )
    assert closing.status_code == 201, closing.text
    refusal = await api.call(
        "POST",
        f"{W}/leads/{bea}/close",
        role="agent",
        json={"text": "kein Interesse, bitte nicht mehr anrufen"},
    )
    assert refusal.status_code == 201, refusal.text
    assert refusal.json()["note"]["result_class"] == "negative"

    tasks = {t.id: t.name for t in await api.store.tasks(camp_id)}
    sold = await api.store.get_contact(ada)
    assert tasks[sold.task_id] == "won"  # success -> won, as after an agent's disposition
    history = await api.store.history(ada)
    assert [(h.actor, h.to_status.value, h.to_detail) for h in history] == [
        ("agent:agent-1", "success", "sale"),
        ("taskflow", "open", "$none"),
    ]
    declined = await api.store.get_contact(bea)
    assert (declined.status.value, declined.status_detail) == ("declined", "lead_closed")
    assert declined.pending_task_id is not None  # declined -> lost after 1 h
    assert refusal.json()["lead"]["status"] == "declined"
    # the dialer's pool has nothing left to call
    assert await api.store.lease(camp_id, 10, "dialer", timedelta(minutes=5), START) == []


async def test_a_call_that_is_not_dialed_leaves_the_lead_as_it_was(api: Api) -> None:
    """`call` holds the lead and accepts the preview; when the engine refuses (the contact is
    not on offer to this agent), a hold taken for the call is given back: held, the contact
    would stay out of the dialer's pool until somebody released it."""
    from dialerd.engine import NoSuchPreview

    _, (ada, bea) = await _setup(api)
    api.engine.fail["preview_accept"] = NoSuchPreview(f"contact {bea} is not on offer")
    r = await api.call("POST", f"{W}/leads/{bea}/call", role="agent")
    assert r.status_code == 409, r.text
    assert (await api.call("GET", f"{W}/leads/{bea}", role="agent")).json()["holder"] is None
    # a lead the agent held already stays held
    await api.call("POST", f"{W}/leads/{ada}/reserve", role="agent")
    assert (await api.call("POST", f"{W}/leads/{ada}/call", role="agent")).status_code == 409
    assert (await api.call("GET", f"{W}/leads/{ada}", role="agent")).json()["holder"] == "agent-1"


async def test_a_lead_being_dialled_cannot_be_reserved(api: Api) -> None:
    """The dialer leased the contact (a call in progress or a preview on offer to another
    agent): reserving it answers 409, as deleting it does, instead of a hold the dialer
    ignores."""
    camp_id, (ada, _) = await _setup(api)
    leased = await api.store.lease(camp_id, 1, "dialer", timedelta(minutes=5), START)
    assert [c.id for c in leased] == [ada]
    r = await api.call("POST", f"{W}/leads/{ada}/reserve", role="agent")
    assert r.status_code == 409, r.text
    assert r.json()["field"] == "contact_id" and "being dialled" in r.json()["error"]
    assert (await api.call("GET", f"{W}/leads/{ada}", role="agent")).json()["holder"] is None
    # `call` of the lead on offer to this agent: the engine takes the hold with its own lease
    r = await api.call("POST", f"{W}/leads/{ada}/call", role="agent")
    assert r.status_code == 200, r.text
    assert r.json()["lead"]["holder"] == "agent-1"


async def test_a_lead_in_a_call_is_not_closed_and_says_which_call(api: Api) -> None:
    """A close (or a predefined note that closes) of a lead whose contact the dialer has in a
    call answers 409 naming the contact and the attempt, and writes nothing (it used to close
    the contact under the call, whose disposition was then dropped as stale); a note that does
    not close is taken. After the call the close goes through."""
    camp_id, (ada, _) = await _setup(api)
    (leased,) = await api.store.lease(camp_id, 1, "dialer", timedelta(minutes=5), START)
    assert leased.id == ada
    await api.store.start_attempt(
        Attempt("att-7", camp_id, ada, leased.task_id, "+493012345601", originated_at=START)
    )
    for body in ({"text": "bought it", "close": True}, {"predefined": "sale"}):
        r = await api.call("POST", f"{W}/leads/{ada}/close", role="agent", json=body)
        assert r.status_code == 409, r.text
        assert r.json()["field"] == "close"
        assert f"contact {ada} is in a call right now (attempt att-7" in r.json()["error"]
    r = await api.call("POST", f"{W}/leads/{ada}/notes", role="agent", json={"predefined": "sale"})
    assert r.status_code == 409, r.text
    lead = (await api.call("GET", f"{W}/leads/{ada}", role="agent")).json()
    assert lead["closed"] is False and lead["notes"] == []
    r = await api.call("POST", f"{W}/leads/{ada}/notes", role="agent", json={"predefined": "cb"})
    assert r.status_code == 201, r.text
    await api.store.release([ada], "dialer")
    r = await api.call("POST", f"{W}/leads/{ada}/close", role="agent", json={"predefined": "sale"})
    assert r.status_code == 201, r.text
    assert r.json()["lead"]["closed"] is True


async def test_an_agent_token_works_only_leads_of_its_agents_campaigns(api: Api) -> None:
    """agent-1 works "sales" only: next, reserve, notes, close and call on a lead of another
    campaign answer 403 (reading stays open to every role); a supervisor acting for agent-1
    may hand it that lead; skills (the campaign's queue) count as working the campaign."""
    await _setup(api)
    other = await create_campaign(api, "other")
    (lead,) = await api.store.add_contacts(
        other["id"], [NewContact(phone="+493012345699", last_name="Fremd")], START
    )
    refused = [
        await api.call("GET", f"{W}/campaigns/other/work/next", role="agent"),
        await api.call("POST", f"{W}/leads/{lead}/reserve", role="agent"),
        await api.call("POST", f"{W}/leads/{lead}/notes", role="agent", json={"text": "hi"}),
        await api.call(
            "POST", f"{W}/leads/{lead}/close", role="agent", json={"text": "not interested"}
        ),
        await api.call("POST", f"{W}/leads/{lead}/call", role="agent"),
    ]
    for r in refused:
        assert r.status_code == 403, r.text
        assert r.json() == {
            "error": "agent 'agent-1' does not work campaign 'other'",
            "field": "campaign",
        }
    assert "preview_accept" not in api.engine.names()
    fremd = await api.store.get_contact(lead)
    assert (fremd.status.value, fremd.status_detail) == ("open", "$none")
    assert (await api.call("GET", f"{W}/leads/{lead}", role="agent")).json()["holder"] is None
    assert (await api.call("GET", f"{W}/leads/{lead}", role="agent")).json()["notes"] == []
    listed = await api.call("GET", f"{W}/campaigns/other/work/queue", role="agent")
    assert listed.status_code == 200 and len(listed.json()["leads"]) == 1

    sup = await api.call(
        "POST", f"{W}/leads/{lead}/reserve", role="supervisor", json={"agent": "agent-1"}
    )
    assert sup.status_code == 200, sup.text
    await api.call("POST", f"{W}/leads/{lead}/release", role="supervisor")

    # agent-1 takes the other campaign's queue as a skill: it works that campaign too
    skilled = Agent("agent-1", "PJSIP/agent-1", campaigns=("sales",), skills=("dialerd-other",))
    await api.store.upsert_agent(skilled, START)
    r = await api.call("POST", f"{W}/leads/{lead}/reserve", role="agent")
    assert r.status_code == 200, r.text
