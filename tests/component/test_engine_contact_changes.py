"""A contact changed while its call is in flight keeps the change; the call is still recorded.

A number put on the do-not-call list during the call (taken at once), a contact deleted once
its lease is gone: whatever path closes the call afterwards (the agent's disposition, the
wrap-up default, the no-answer retry, the abandon hold-off) must not reopen the contact, and
the attempt (the call did happen) is still written. A new number, a status set by hand (PATCH),
a move of the contact and a lead close are refused during the call instead (409), a bulk edit
or move of a set leaves the contact out and says so, and the call's outcome applies. Against
SimAsterisk over TCP, as the other engine tests.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from api_testkit import auth, make_app
from test_engine_runner import AGENTS, MONDAY_10_UTC, Rig, live, make_spec, no_answer, rig_at, until

from dialerd.domain.agentwork import ResultClass
from dialerd.domain.enums import CallResult, Status, StatusDetail
from dialerd.domain.selection import ContactSelection
from dialerd.engine import CallProgressed, EngineEvent, PreviewOffered, ScreenPop
from dialerd.store import ContactInCall, lookup
from dialerd.store import agentwork as work
from dialerd.taskflow.leads import close_transition


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    async with rig_at(tmp_path, MONDAY_10_UTC) as r:
        yield r


def on_dialing(rig: Rig, act: object) -> list[asyncio.Task[object]]:
    """Run ``act()`` (a coroutine function) as soon as the engine dials: the call is then in
    flight for at least its ring time (2 s for ``live``, the ring timeout for ``no_answer``)."""
    started: list[asyncio.Task[object]] = []

    def listen(e: EngineEvent) -> None:
        if isinstance(e, CallProgressed) and e.phase == "dialing" and not started:
            started.append(asyncio.ensure_future(act()))  # type: ignore[operator]

    assert rig.engine is not None
    rig.engine.add_listener(listen)
    return started


# (path that closes the call, numbers, agent interface, campaign settings)
PATHS = {
    "agent disposition (callback)": (live(1), AGENTS[0], {"wrapup": {"limit": "120s"}}),
    "wrap-up default": (
        live(1),
        AGENTS[0],
        {"wrapup": {"limit": "5s", "default_status": "open", "default_detail": "no_time"}},
    ),
    "no-answer retry": (no_answer(1), AGENTS[0], {"ring_timeout": "40s"}),
    "abandon hold-off": (live(1), "Local/rna-agent-1@sim-agents", {}),
}


@pytest.mark.parametrize("path", list(PATHS))
async def test_a_number_put_on_the_dnc_list_during_its_call_is_not_reopened(
    rig: Rig, path: str
) -> None:
    numbers, iface, settings = PATHS[path]
    camp = await rig.campaign(make_spec(connect_limit="10s", **settings))
    (cid,) = await rig.contacts(camp, numbers)
    await rig.agent("dora", iface, ("camp",))
    engine = await rig.start()
    dnc = on_dialing(rig, lambda: rig.store.add_dnc(numbers, "cli:root", rig.clock.now()))
    await engine.agent_login("dora")
    await until(lambda: bool(dnc) and dnc[0].done())
    closed = await rig.store.get_contact(cid)
    assert (closed.status, closed.status_detail) == (Status.FAILED, StatusDetail.DNC.value)
    if path == "agent disposition (callback)":
        await until(lambda: any(isinstance(e, ScreenPop) for e in rig.events), limit=15)
        await engine.disposition(
            "dora", "open", "callback", callback_at=rig.clock.now() + timedelta(hours=2)
        )
    await until(lambda: bool(rig.finished()), limit=15)
    done = rig.finished()[0]
    contact = await rig.store.get_contact(cid)
    assert (contact.status, contact.status_detail) == (Status.FAILED, StatusDetail.DNC.value)
    assert contact.due_at is None and contact.follow_up_agent is None
    assert contact.lease_holder is None  # nothing left to do with it: no stale lease either
    history = await rig.store.history(cid)
    assert history[-1].to_detail == StatusDetail.DNC.value, "the call's outcome reopened it"
    # the call did happen: its attempt is recorded, result, times, disposition and all
    (attempt,) = await rig.store.attempts(cid)
    assert attempt.result is done.result and attempt.hungup_at is not None
    if path == "agent disposition (callback)":
        assert attempt.result is CallResult.CONNECTED and attempt.agent == "dora"
        assert attempt.connected_at is not None and attempt.hungup_at > attempt.connected_at
        assert attempt.disposition is not None and "callback" in attempt.disposition
    # what the engine tells the bus is the contact as it is, not the outcome refused
    assert done.stale
    assert (done.status, done.status_detail) == (Status.FAILED, StatusDetail.DNC.value)
    assert done.due_at is None and done.next_task is None
    await rig.wait_clock(5)
    assert rig.dialed() == [cid]  # and it is never dialed again


async def test_a_number_or_status_change_during_the_call_is_refused_and_the_call_decides(
    rig: Rig,
) -> None:
    """Through the REST API while the engine dials the contact: a PATCH of its status or
    number and a move of it answer 409 (the edit or move used to win and the call's outcome
    was lost: a no-answer that should be retried was left as the edit put it); a bulk edit
    of status and a move of a set with it leave it out, change the others and count it; a
    change of its name and custom fields is taken. The call's outcome then applies as usual."""
    camp = await rig.campaign(make_spec(ring_timeout="40s"))
    (cid,) = await rig.contacts(camp, no_answer(1))
    (idle,) = await rig.contacts(camp, no_answer(1, base=40))
    await rig.store.move(camp.id, ContactSelection(contact_ids=(idle,)), "lost", "t", MONDAY_10_UTC)
    await rig.agent("dora", AGENTS[0], ("camp",))
    engine = await rig.start()
    app = make_app(rig.store, None, rig.clock)
    path = f"/api/v1/campaigns/camp/contacts/{cid}"
    answers: dict[str, httpx.Response] = {}

    async def edit() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as api:
            h = auth("supervisor")
            status = {"status": "declined", "status_detail": "wrong_person"}
            answers["status"] = await api.patch(path, json=status, headers=h)
            answers["phone"] = await api.patch(path, json={"phone": "+49301234567"}, headers=h)
            answers["bulk"] = await api.post(
                "/api/v1/campaigns/camp/contacts/bulk-edit",
                json={"filter": {"ids": [cid, idle]}, "status": "declined"},
                headers=h,
            )
            answers["move"] = await api.post(f"{path}/move", json={"to_task": "won"}, headers=h)
            answers["move_set"] = await api.post(
                "/api/v1/campaigns/camp/contacts/move",
                json={"filter": {"ids": [cid, idle]}, "to_task": "won"},
                headers=h,
            )
            name = {"last_name": "Meier", "fields": {"spelling": "checked"}}
            answers["name"] = await api.patch(path, json=name, headers=h)
        assert not rig.finished(), "the call ended before the edits: nothing was tested"

    edits = on_dialing(rig, edit)
    await engine.agent_login("dora")
    await until(lambda: bool(edits) and edits[0].done())
    edits[0].result()
    attempt_id = next(e.attempt_id for e in rig.events if isinstance(e, CallProgressed))
    for key, field in (("status", "status"), ("phone", "phone"), ("move", "task")):
        assert answers[key].status_code == 409, answers[key].text
        assert answers[key].json()["field"] == field
        error = answers[key].json()["error"]
        assert f"contact {cid} is in a call right now (attempt {attempt_id}" in error, error
    for key, count in (("bulk", "edited"), ("move_set", "moved")):
        assert answers[key].status_code == 200, answers[key].text
        assert answers[key].json() == {count: 1, "skipped_in_call": 1, "in_call": [cid]}
    won = {t.name: t.id for t in await rig.store.tasks(camp.id)}["won"]
    assert (await rig.store.get_contact(idle)).task_id == won
    assert answers["name"].status_code == 200, answers["name"].text
    await until(lambda: bool(rig.finished()), limit=15)
    done = rig.finished()[0]
    assert not done.stale
    contact = await rig.store.get_contact(cid)
    # the no-answer retry, on the number dialed, with the name corrected during the call
    assert (contact.status, contact.status_detail) == (
        Status.OPEN,
        StatusDetail.FOLLOW_UP_AUTO.value,
    )
    assert contact.phone == no_answer(1)[0] and contact.attempts == 1
    assert contact.last_name == "Meier" and contact.fields == {"spelling": "checked"}
    (attempt,) = await rig.store.attempts(cid)
    assert attempt.result is CallResult.NO_ANSWER and attempt.phone == contact.phone


async def test_a_call_of_a_contact_changed_during_it_still_counts_as_an_attempt(
    rig: Rig,
) -> None:
    """A change the call does not undo (here the number put on the do-not-call list) wins,
    but the call was made: it counts in the contact's attempts (and last_attempt_at), or a
    contact changed during each of its calls could be dialed past the retry policy's
    max_attempts once reopened."""
    camp = await rig.campaign(make_spec(ring_timeout="40s"))
    numbers = no_answer(1)
    (cid,) = await rig.contacts(camp, numbers)
    await rig.agent("dora", AGENTS[0], ("camp",))
    engine = await rig.start()
    edit = on_dialing(rig, lambda: rig.store.add_dnc(numbers, "cli:root", rig.clock.now()))
    await engine.agent_login("dora")
    await until(lambda: bool(edit) and edit[0].done())
    await until(lambda: bool(rig.finished()), limit=15)
    assert rig.finished()[0].stale
    contact = await rig.store.get_contact(cid)
    assert (contact.status, contact.status_detail) == (Status.FAILED, StatusDetail.DNC.value)
    (attempt,) = await rig.store.attempts(cid)
    assert attempt.result is CallResult.NO_ANSWER
    assert contact.attempts == 1
    assert contact.last_attempt_at == attempt.hungup_at
    # recording the same attempt again does not count it twice
    await rig.store.record_attempt(attempt, count=True)
    assert (await rig.store.get_contact(cid)).attempts == 1


async def test_a_contact_deleted_during_its_call_stays_deleted_and_dialing_goes_on(
    rig: Rig,
) -> None:
    camp = await rig.campaign(make_spec(connect_limit="10s", wrapup={"limit": "120s"}))
    (cid, other) = await rig.contacts(camp, live(2))
    await rig.agent("dora", AGENTS[0], ("camp",))
    engine = await rig.start()
    await engine.agent_login("dora")
    await until(lambda: any(isinstance(e, ScreenPop) for e in rig.events))
    pop = next(e for e in rig.events if isinstance(e, ScreenPop))
    gone = pop.contact.id
    # The contact is deleted while the agent is still on the call: the API refuses that
    # during a live lease (and a move, which gave the lease up, is refused too now), so the
    # lease is given up here as one that ran out, and the contact deleted (erasure request).
    await rig.store.release([gone], rig.settings.holder)
    await lookup.delete_contact(rig.store, gone, rig.clock.now())
    taken = await engine.disposition("dora", "success", "sale")
    assert taken.attempt_id == pop.attempt_id
    await until(lambda: bool(rig.finished()))
    assert rig.finished()[0].stale
    # nothing of the deleted contact comes back, and the live answer still counts
    assert await rig.store.attempts(gone) == []
    answers = await rig.store.abandonment(camp.id, MONDAY_10_UTC)
    assert answers.live_answers == 1
    # the runner carries on: the agent's next call is the other contact's
    left = other if gone == cid else cid
    await until(lambda: left in rig.dialed(), limit=15)
    assert engine.status().campaigns[0].calls_in_flight + len(rig.finished()) >= 1
    assert engine.status().campaigns[0].last_error is None


async def test_a_lead_is_not_closed_during_its_call_and_the_disposition_decides(
    rig: Rig,
) -> None:
    """The agent closes the lead in the work screen while still on the phone: refused (409 in
    the API), naming the contact and the attempt, nothing written. The close used to win and
    the call's disposition was dropped as stale; when a supervisor or another agent closed it,
    the call's agent's sale or callback was lost without a word. The call's disposition
    decides, and the lead is closed after the call."""
    camp = await rig.campaign(make_spec(connect_limit="10s", wrapup={"limit": "120s"}, rules=[]))
    (cid,) = await rig.contacts(camp, live(1))
    await rig.agent("dora", AGENTS[0], ("camp",))
    engine = await rig.start()
    await engine.agent_login("dora")
    await until(lambda: any(isinstance(e, ScreenPop) for e in rig.events), limit=15)
    pop = next(e for e in rig.events if isinstance(e, ScreenPop))
    tasks = await rig.store.tasks(camp.id)
    rules = await rig.store.rules(camp.id)

    async def close() -> None:
        now = rig.clock.now()
        await work.add_note(
            rig.store,
            cid,
            "dora",
            now,
            text="bought the yearly plan",
            result_class=ResultClass.POSITIVE,
            result_label="sale",
            close=True,
            finish=lambda c, n: close_transition(
                c, n, tasks=tasks, rules=rules, now=now, actor="agent:dora"
            ),
        )

    with pytest.raises(ContactInCall) as refused:
        await close()
    assert f"contact {cid} is in a call right now (attempt {pop.attempt_id}" in str(refused.value)
    assert not (await work.get_lead(rig.store, cid)).closed
    # the agent gives the call's disposition: a callback tomorrow ...
    now = rig.clock.now()
    await engine.disposition("dora", "open", "callback", callback_at=now + timedelta(days=1))
    await until(lambda: bool(rig.finished()))
    done = rig.finished()[0]
    assert not done.stale
    contact = await rig.store.get_contact(cid)
    assert (contact.status, contact.follow_up_agent) == (Status.OPEN, "dora")
    # ... and then closes the lead, which finishes the contact
    await close()
    contact = await rig.store.get_contact(cid)
    assert (contact.status, contact.status_detail) == (Status.SUCCESS, "sale")
    assert contact.lease_holder is None
    (attempt,) = await rig.store.attempts(cid)
    assert attempt.result is CallResult.CONNECTED and attempt.agent == "dora"


async def test_a_number_on_preview_offer_in_one_campaign_is_not_dialed_by_another(
    rig: Rig,
) -> None:
    """Campaign a offers a contact to its agent in preview (leased, no call yet, for as long
    as the agent looks at it); campaign b has the same person under the same number. b used
    to dial the number meanwhile, and the agent's accept then called the person a second time
    at once. b dials its other contact, and the shared number once a's offer is given back."""
    shared = live(1)[0]
    a = await rig.campaign(make_spec("a", dial={"mode": "preview"}, connect_limit="10s"))
    await rig.contacts(a, [shared])
    b = await rig.campaign(make_spec("b", connect_limit="10s", wrapup={"limit": "2s"}))
    in_b, other = await rig.contacts(b, [shared, live(1, base=50)[0]])
    await rig.agent("ann", AGENTS[0], ("a",))
    await rig.agent("bob", AGENTS[1], ("b",))
    engine = await rig.start()
    await engine.agent_login("ann")
    await until(lambda: any(isinstance(e, PreviewOffered) for e in rig.events))
    offer = next(e for e in rig.events if isinstance(e, PreviewOffered))
    assert offer.contact.phone == shared
    await engine.agent_login("bob")
    await until(lambda: other in rig.dialed(), limit=15)
    await rig.wait_clock(40)  # b's first call is over and bob is ready again
    assert in_b not in rig.dialed(), "the number on offer in a was dialed by b"
    await engine.preview_skip("ann", offer.contact.id)
    await until(lambda: in_b in rig.dialed(), limit=15)
