"""The work queue read group by group gives the rows and order of the one sort it replaced.

``work_queue`` used to sort the whole campaign in one query (never contacted, then due
follow-ups by due time, then the rest; the campaign's sort within each group). It now reads
each group in its own order with ``LIMIT`` (see ``dialerd.store.agentwork``). The old query is
kept here, as it was, as the reference: every page, filter and sort order of a campaign with
the edge cases (two call tasks, reserved, closed, leased and waiting contacts, personal
callbacks, ties in the sort and in due times, missing sort values) must come out the same.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, false, func, or_, select, update

from dialerd.domain import campaign_spec as cs
from dialerd.domain.agentwork import LeadState
from dialerd.domain.changes import NewContact
from dialerd.domain.enums import Status, TaskType
from dialerd.store import Store
from dialerd.store import agentwork as work
from dialerd.store.agentwork_models import LeadWorkRow
from dialerd.store.models import ContactRow, TaskRow
from dialerd.store.query import sort_expression

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)

SORTS = [
    {"field": "id", "direction": "asc"},
    {"field": "id", "direction": "desc"},
    {"field": "last_name", "direction": "asc"},
    {"field": "last_name", "direction": "desc"},
    {"field": "fields.score", "direction": "asc"},
]


async def reference_queue(
    store: Store,
    campaign_id: int,
    now: datetime,
    *,
    state: LeadState | None = None,
    available_for: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[int]:
    """The work queue as one query and one sort (the implementation before the groups)."""
    c, w = ContactRow, LeadWorkRow
    spec = await store.campaign_spec(campaign_id)
    call_tasks = select(TaskRow.id).where(
        TaskRow.campaign_id == campaign_id, TaskRow.type == TaskType.CALL.value
    )
    workable = and_(c.status == Status.OPEN.value, c.task_id.in_(call_tasks))
    never = and_(workable, c.attempts == 0)
    due = and_(workable, c.due_at.is_not(None), c.due_at <= now)
    group = case((never, 0), (due, 1), else_=2)
    due_key = case((and_(~never, due), c.due_at), else_=None)
    q = select(c.id).outerjoin(w, w.contact_id == c.id).where(c.campaign_id == campaign_id)
    if state is not None:
        q = q.where(
            case(
                (w.closed.is_(True), LeadState.CLOSED.value),
                (
                    or_(w.holder.is_not(None), w.last_note_id.is_not(None)),
                    LeadState.IN_PROGRESS.value,
                ),
                else_=LeadState.NONE.value,
            )
            == state.value
        )
    if available_for is not None:
        q = q.where(
            workable,
            c.pending_task_id.is_(None),
            or_(c.lease_expires_at.is_(None), c.lease_expires_at <= now),
            func.coalesce(w.closed, false()).is_(False),
            or_(w.holder.is_(None), w.holder == available_for),
            or_(c.follow_up_agent.is_(None), c.follow_up_agent == available_for),
        )
    q = q.order_by(
        group, due_key.asc().nulls_last(), *sort_expression(spec.sort_order(), store.dialect)
    )
    async with store.read() as s:
        return list(await s.scalars(q.limit(limit).offset(offset)))


async def edge_case_campaign(
    store: Store, name: str, sort: dict[str, str]
) -> tuple[int, list[int]]:
    """A campaign with every kind of contact the queue orders: its id, its 38 contacts' ids."""
    spec = cs.CampaignSpec.model_validate(
        {
            "name": name,
            "tasks": [
                {"name": "call", "type": "call"},
                {"name": "recall", "type": "call"},
                {"name": "after", "type": "wait"},
            ],
            "sort": sort,
        }
    )
    camp = await store.create_campaign(spec, NOW)
    tasks = {t.name: t.id for t in await store.tasks(camp.id)}
    # Ties on purpose: three last names (and none) and three scores (and none).
    names = ["Adler", "Bauer", "Adler", None, "Meier", "Bauer"]
    new = [
        NewContact(
            phone=f"+4930555{camp.id:02d}{i:03d}",
            last_name=names[i % len(names)],
            fields={"score": i % 3} if i % 5 else {},
        )
        for i in range(38)
    ]
    ids = await store.add_contacts(camp.id, new, NOW)
    c = ContactRow

    async def change(which: list[int], **values: Any) -> None:
        async with store.write() as s:
            await s.execute(update(c).where(c.id.in_([ids[i] for i in which])).values(**values))

    same_due = NOW - timedelta(minutes=10)
    # 0-5 never tried in "call"; 6-9 never tried in "recall".
    await change([6, 7, 8, 9], task_id=tasks["recall"])
    # Due follow-ups in both call tasks, several due at the same moment.
    await change([10, 11, 12], attempts=1, due_at=same_due, status_detail="$follow_up_auto")
    await change([13], attempts=2, due_at=NOW - timedelta(hours=1), task_id=tasks["recall"])
    await change([14], attempts=1, due_at=same_due, task_id=tasks["recall"])
    await change([15], attempts=1, due_at=NOW)  # due exactly now
    # Personal callbacks, due, of anna and of ben.
    await change(
        [16],
        attempts=1,
        due_at=same_due,
        follow_up_agent="anna",
        status_detail="$follow_up_personal",
    )
    await change([17], attempts=1, due_at=NOW - timedelta(minutes=1), follow_up_agent="ben")
    # Tried, due later, or with no due time; a personal callback of ben tomorrow.
    await change([18, 19], attempts=1, due_at=NOW + timedelta(hours=2))
    await change([20], attempts=3, due_at=None)
    await change([21], attempts=1, due_at=NOW + timedelta(days=1), follow_up_agent="ben")
    # Finished in a call task; open with no attempt in the wait task (not new work).
    await change([22, 23], status="success", status_detail="sale", attempts=1)
    await change([24, 25], task_id=tasks["after"])
    await change([26], task_id=tasks["after"], due_at=same_due)
    # Never tried but due (a due time set on import): still "never contacted".
    await change([27], due_at=same_due)
    # In a call right now (a live lease), one whose lease ran out; waiting on a delayed rule.
    await change([28], lease_holder="runner", lease_expires_at=NOW + timedelta(minutes=1))
    await change([29], lease_holder="runner", lease_expires_at=NOW - timedelta(minutes=1))
    await change([30], pending_task_id=tasks["after"], pending_due_at=NOW + timedelta(hours=1))
    await change([31, 32], attempts=1, due_at=same_due, task_id=tasks["recall"])
    # Lead work: held by anna and by ben, a note without a hold, closed.
    await work.reserve(store, ids[1], "anna", NOW)
    await work.reserve(store, ids[11], "ben", NOW)
    await work.reserve(store, ids[19], "anna", NOW)
    await work.add_note(store, ids[7], "ben", NOW, text="ruft zurück")
    await work.release(store, ids[7], "ben")
    await work.add_note(store, ids[3], "anna", NOW, text="kein Interesse", close=True)
    await work.add_note(store, ids[33], "anna", NOW, text="falsche Nummer", close=True)
    return camp.id, ids


FILTERS: list[dict[str, Any]] = [
    {},
    {"state": LeadState.NONE},
    {"state": LeadState.IN_PROGRESS},
    {"state": LeadState.CLOSED},
    {"available_for": "anna"},
    {"available_for": "ben"},
    {"available_for": "carl", "state": LeadState.NONE},
    {"available_for": "anna", "state": LeadState.IN_PROGRESS},
]


async def test_every_page_is_the_page_of_the_one_sort(store: Store) -> None:
    campaigns = [await edge_case_campaign(store, f"c{i}", s) for i, s in enumerate(SORTS)]
    for campaign_id, _ in campaigns:
        for flt in FILTERS:
            want = await reference_queue(store, campaign_id, NOW, limit=1000, **flt)
            got = [x.contact.id for x in await work.work_queue(store, campaign_id, NOW, **flt)]
            assert got == want[:50], (campaign_id, flt)
            # Pages of 5, and (one sort) single rows at every offset: across the groups' borders.
            paged: list[int] = []
            for offset in range(0, len(want) + 5, 5):
                page = await work.work_queue(store, campaign_id, NOW, limit=5, offset=offset, **flt)
                paged += [x.contact.id for x in page]
            assert paged == want, (campaign_id, flt)
            if campaign_id == campaigns[2][0] and flt in ({}, {"available_for": "anna"}):
                for offset in range(len(want) + 1):
                    one = await work.work_queue(
                        store, campaign_id, NOW, limit=1, offset=offset, **flt
                    )
                    assert [x.contact.id for x in one] == want[offset : offset + 1]
        nxt = await work.next_lead(store, campaign_id, "anna", NOW)
        first = await reference_queue(store, campaign_id, NOW, available_for="anna", limit=1)
        assert ([nxt.contact.id] if nxt else []) == first


async def test_the_queue_in_working_order(store: Store) -> None:
    """The order itself, spelled out for the campaign sorted by id."""
    campaign_id, ids = await edge_case_campaign(store, "spelled", {"field": "id"})
    queue = [x.contact.id for x in await work.work_queue(store, campaign_id, NOW, limit=100)]
    # Never tried, open in a call task: also the closed leads (3, 33; closing through the
    # API finishes the contact, the store's note alone does not), the one due at import
    # (27), the one in a call (28), the one waiting on a rule (30).
    never = [*range(10), 27, 28, 29, 30, *range(33, 38)]
    # By due time; ties (10 minutes ago) by id, across both call tasks.
    due = [13, 10, 11, 12, 14, 16, 31, 32, 17, 15]
    # Not due yet or no due time, finished, in the wait task.
    rest = list(range(18, 27))
    assert queue == [ids[i] for i in never + due + rest]
    # For anna not: the closed leads, the one in a call, the waiting one, ben's hold and
    # ben's callbacks, what is not open in a call task; the follow-ups not due yet come last.
    mine = await work.work_queue(store, campaign_id, NOW, available_for="anna", limit=100)
    avail_never = [0, 1, 2, 4, 5, 6, 7, 8, 9, 27, 29, 34, 35, 36, 37]
    avail_due = [13, 10, 12, 14, 16, 31, 32, 15]
    assert [x.contact.id for x in mine] == [ids[i] for i in avail_never + avail_due + [18, 19, 20]]
    nxt = await work.next_lead(store, campaign_id, "ben", NOW)
    assert nxt is not None and nxt.contact.id == ids[0]
