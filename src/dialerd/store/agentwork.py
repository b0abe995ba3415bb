"""Agent work on leads: the work queue, reservations, notes, and the supervisor's report figures.

Reservation is race-safe on both back ends without a lock table: one write transaction inserts
the ``lead_work`` row if missing (``ON CONFLICT DO NOTHING``) and then takes it with a
*conditional* UPDATE (``holder IS NULL OR holder = me``, not closed). On SQLite the transaction
is ``BEGIN IMMEDIATE`` (one writer at a time); on PostgreSQL the UPDATE row-locks and, under READ
COMMITTED, re-checks its condition after a concurrent holder commits, so exactly one agent wins
and the other learns who holds the lead. Writing a note takes the lead the same way, in the same
transaction as the note.

Reports aggregate in SQL (attempts, lead notes, abandonment buckets); only the per-day occupancy
ratio is finished in Python from per-agent-and-day aggregates.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    String,
    and_,
    case,
    delete,
    distinct,
    false,
    func,
    insert,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from dialerd.domain.agentwork import (
    DayFigures,
    Lead,
    LeadNote,
    LeadState,
    PredefinedNote,
    Report,
    ReportFilter,
    ResultClass,
    Totals,
)
from dialerd.domain.changes import Transition
from dialerd.domain.enums import Status, TaskType
from dialerd.domain.model import Contact
from dialerd.store import convert
from dialerd.store.agentwork_models import LeadNoteRow, LeadWorkRow, PredefinedNoteRow
from dialerd.store.errors import ContactInCall, InvalidChange, NotFound
from dialerd.store.models import (
    AbandonmentBucketRow,
    AttemptRow,
    CampaignRow,
    ContactRow,
    TaskRow,
)
from dialerd.store.query import SortKey, sort_keys
from dialerd.store.search import contact_filter, fts_available, typed_terms
from dialerd.store.store import Store

__all__ = [
    "LeadBusy",
    "LeadClosed",
    "LeadHeld",
    "add_note",
    "check_not_held",
    "get_lead",
    "lead_notes",
    "next_lead",
    "predefined_notes",
    "release",
    "report",
    "reserve",
    "search_leads",
    "set_predefined_notes",
    "work_queue",
]


class LeadHeld(InvalidChange):
    """Another agent holds the lead."""

    def __init__(self, contact_id: int, holder: str) -> None:
        super().__init__(f"lead {contact_id} is held by {holder}")
        self.contact_id = contact_id
        self.holder = holder


class LeadBusy(InvalidChange):
    """The dialer has the contact leased: a call to it is in progress or it is on preview offer
    to an agent. Holding it now would let the dialer call it for somebody else."""

    def __init__(self, contact_id: int) -> None:
        super().__init__(
            f"lead {contact_id} is being dialled or on preview offer to an agent right now"
        )
        self.contact_id = contact_id


class LeadClosed(InvalidChange):
    """The lead is closed; nobody takes it any more."""

    def __init__(self, contact_id: int) -> None:
        super().__init__(f"lead {contact_id} is closed")
        self.contact_id = contact_id


def _aware(at: datetime) -> datetime:
    if at.tzinfo is None:
        raise ValueError("naive datetime; pass an aware time from the clock")
    return at


# -- predefined notes ----------------------------------------------------------------------------


async def set_predefined_notes(
    store: Store, campaign_id: int, notes: Sequence[PredefinedNote]
) -> list[PredefinedNote]:
    """Replace the campaign's predefined notes (keys unique; order kept)."""
    keys = [n.key for n in notes]
    if len(set(keys)) != len(keys):
        raise InvalidChange("predefined note keys must be unique")
    async with store.write() as s:
        await store._campaign_row(s, campaign_id)
        await s.execute(
            delete(PredefinedNoteRow).where(PredefinedNoteRow.campaign_id == campaign_id)
        )
        for i, n in enumerate(notes):
            s.add(
                PredefinedNoteRow(
                    campaign_id=campaign_id,
                    key=n.key,
                    text=n.text,
                    result_label=n.result_label,
                    result_class=n.result_class.value,
                    closes=n.closes,
                    position=i,
                )
            )
    return list(notes)


def _predefined(r: PredefinedNoteRow) -> PredefinedNote:
    return PredefinedNote(r.key, r.text, r.result_label, ResultClass(r.result_class), r.closes)


async def predefined_notes(store: Store, campaign_id: int) -> list[PredefinedNote]:
    async with store.read() as s:
        rows = await s.scalars(
            select(PredefinedNoteRow)
            .where(PredefinedNoteRow.campaign_id == campaign_id)
            .order_by(PredefinedNoteRow.position)
        )
        return [_predefined(r) for r in rows.all()]


# -- leads and the work queue --------------------------------------------------------------------


def _note(r: LeadNoteRow) -> LeadNote:
    return LeadNote(
        id=r.id,
        campaign_id=r.campaign_id,
        contact_id=r.contact_id,
        agent=r.agent,
        at=r.at,
        text=r.text,
        predefined_key=r.predefined_key,
        result_label=r.result_label,
        result_class=ResultClass(r.result_class),
        closes=r.closes,
    )


def _state_expr() -> ColumnElement[str]:
    w = LeadWorkRow
    return case(
        (w.closed.is_(True), LeadState.CLOSED.value),
        (or_(w.holder.is_not(None), w.last_note_id.is_not(None)), LeadState.IN_PROGRESS.value),
        else_=LeadState.NONE.value,
    )


def _lead(c: ContactRow, w: LeadWorkRow | None, n: LeadNoteRow | None) -> Lead:
    if w is None:
        return Lead(convert.contact(c), LeadState.NONE)
    if w.closed:
        state = LeadState.CLOSED
    elif w.holder is not None or w.last_note_id is not None:
        state = LeadState.IN_PROGRESS
    else:
        state = LeadState.NONE
    return Lead(
        convert.contact(c),
        state,
        holder=w.holder,
        held_since=w.held_since,
        closed=w.closed,
        last_note=_note(n) if n is not None else None,
    )


def _lead_select() -> Any:
    c, w, n = ContactRow, LeadWorkRow, LeadNoteRow
    return select(c, w, n).outerjoin(w, w.contact_id == c.id).outerjoin(n, n.id == w.last_note_id)


async def work_queue(
    store: Store,
    campaign_id: int,
    now: datetime,
    *,
    state: LeadState | None = None,
    available_for: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[Lead]:
    """The campaign's leads in working order: never contacted first, then due follow-ups (by due
    time), then the rest; the campaign's sort within each group.

    Only a contact open in a call task is work to do: one sitting in any other task (a wait
    after a sale, an export) has its ``attempts`` restarted by entering that task, and ranking
    it "never contacted" sent agents to people who had just bought. Such contacts sort with the
    rest.

    ``available_for`` keeps only leads that agent may take now: open in a call task, not
    waiting on a delayed rule, not being dialed (no live lease), not closed, unheld or held by
    that agent.

    The page is read group by group (:func:`_queue_groups`), each group in its own order with
    ``LIMIT`` and all in one snapshot, so an index in that order answers it with the default
    sort by id (``ix_contacts_fresh_id`` for the never contacted, ``ix_contacts_lease`` for
    the due ones, ``ix_contacts_campaign_id`` for the rest), and a later group is read only
    when the page reaches it. One query sorting the three groups together read and sorted
    every contact of the campaign: 1.1 s per page at 500,000 contacts. In progress and closed
    leads are few and found from ``lead_work``: one query sorts them (:func:`_one_sort`).
    """
    _aware(now)
    c, w = ContactRow, LeadWorkRow
    keys = sort_keys((await store.campaign_spec(campaign_id)).sort_order(), store.dialect)
    filters: list[ColumnElement[bool]] = []
    if state is not None:
        filters.append(_state_expr() == state.value)
        if state is not LeadState.NONE:
            # Only worked leads have one: lets the planner start from lead_work (an inner join).
            filters.append(w.contact_id.is_not(None))
    if available_for is not None:
        filters += [
            c.pending_task_id.is_(None),
            or_(c.lease_expires_at.is_(None), c.lease_expires_at <= now),
            func.coalesce(w.closed, false()).is_(False),
            or_(w.holder.is_(None), w.holder == available_for),
            or_(c.follow_up_agent.is_(None), c.follow_up_agent == available_for),
        ]
    async with store.read(snapshot=True) as s:
        calls = list(
            await s.scalars(
                select(TaskRow.id)
                .where(TaskRow.campaign_id == campaign_id, TaskRow.type == TaskType.CALL.value)
                .order_by(TaskRow.id)
            )
        )
        if state is not None and state is not LeadState.NONE:
            q = _one_sort(campaign_id, calls, now, keys).where(*filters)
            if available_for is not None:
                q = q.where(c.status == Status.OPEN.value, c.task_id.in_(calls))
            rows = (await s.execute(q.limit(limit).offset(offset))).all()
            return [_lead(r[0], r[1], r[2]) for r in rows]
        out: list[Any] = []
        skip = offset
        for group in _queue_groups(
            campaign_id, calls, now, keys, workable=available_for is not None
        ):
            want = limit - len(out)
            if want == 0:
                break
            rows = (await s.execute(group.page(filters, want, skip))).all()
            out += rows
            if rows:
                skip = 0
            elif skip:
                # The page starts past this group: it has at most ``skip`` rows; skip them.
                skip -= int(await s.scalar(group.count(filters, skip)) or 0)
        return [_lead(r[0], r[1], r[2]) for r in out]


def _one_sort(
    campaign_id: int, calls: Sequence[int], now: datetime, keys: Sequence[SortKey]
) -> Any:
    """The whole work queue in one query and one sort: right for a few rows (the worked leads),
    a sort of the whole campaign otherwise."""
    c = ContactRow
    workable = and_(c.status == Status.OPEN.value, c.task_id.in_(calls))
    never = and_(workable, c.attempts == 0)
    due = and_(workable, c.due_at.is_not(None), c.due_at <= now)
    group = case((never, 0), (due, 1), else_=2)
    due_key = case((and_(~never, due), c.due_at), else_=None)
    return (
        _lead_select()
        .where(c.campaign_id == campaign_id)
        .order_by(group, due_key.asc().nulls_last(), *(k.clause() for k in keys))
    )


@dataclass(frozen=True, slots=True)
class _QueueGroup:
    """One group of the work queue: its contacts (``where``), in the order of ``keys``.

    ``per_task``: the group is the union of one query per call task (``task_id = t``), each
    in the group's order; the indexes lead with ``task_id``, and with several call tasks in
    one ``IN`` PostgreSQL could only read all of them and sort."""

    where: tuple[ColumnElement[bool], ...]
    keys: tuple[SortKey, ...]
    per_task: tuple[int, ...] | None = None

    def order(self) -> list[Any]:
        return [k.clause() for k in self.keys]

    def _parts(self, filters: Sequence[ColumnElement[bool]], n: int, ordered: bool) -> list[Any]:
        """The group's first ``n`` ids (and sort keys, ``k0``...) per task, as subqueries."""
        c, w = ContactRow, LeadWorkRow
        keys = (k.expr.label(f"k{i}") for i, k in enumerate(self.keys)) if ordered else ()
        base = (
            select(c.id.label("id"), *keys)
            .outerjoin(w, w.contact_id == c.id)
            .where(*self.where, *filters)
        )
        if ordered:
            base = base.order_by(*self.order())
        tasks = self.per_task if self.per_task is not None else (None,)
        return [
            (base if t is None else base.where(c.task_id == t)).limit(n).subquery() for t in tasks
        ]

    def page(self, filters: Sequence[ColumnElement[bool]], limit: int, offset: int) -> Any:
        """Rows ``offset`` to ``offset + limit`` of the group, as contact, lead work, note."""
        c = ContactRow
        q = _lead_select()
        if self.per_task is not None and len(self.per_task) == 1:
            q = q.where(c.task_id == self.per_task[0], *self.where, *filters)
        elif self.per_task is not None:
            # Each task's first offset + limit ids and sort keys by its index, the page's ids
            # among those by the keys, then the page's rows.
            parts = self._parts(filters, offset + limit, ordered=True)
            ids = union_all(*(select(p) for p in parts)).subquery()
            page = (
                select(ids.c.id)
                .order_by(*(k.on(ids.c[f"k{i}"]) for i, k in enumerate(self.keys)))
                .limit(limit)
                .offset(offset)
            )
            return q.where(c.id.in_(page)).order_by(*self.order())
        else:
            q = q.where(*self.where, *filters)
        return q.order_by(*self.order()).limit(limit).offset(offset)

    def count(self, filters: Sequence[ColumnElement[bool]], cap: int) -> Any:
        """How many rows the group has, counting no further than ``cap``."""
        parts = self._parts(filters, cap, ordered=False)
        ids = union_all(*(select(p) for p in parts)) if len(parts) > 1 else select(parts[0])
        return select(func.count()).select_from(ids.subquery())


def _queue_groups(
    campaign_id: int,
    calls: Sequence[int],
    now: datetime,
    keys: Sequence[SortKey],
    *,
    workable: bool,
) -> list[_QueueGroup]:
    """The work queue's three groups, which part the campaign: never contacted (open in a call
    task, no attempt), due follow-ups (open in a call task, tried, due by ``now``; by due
    time), the rest. ``workable``: only contacts open in a call task (the rest is then the
    follow-ups not yet due)."""
    c = ContactRow
    opened = c.status == Status.OPEN.value
    tried = c.attempts != 0
    due_now = and_(c.due_at.is_not(None), c.due_at <= now)
    not_due = or_(c.due_at.is_(None), c.due_at > now)
    tasks, by = tuple(calls), tuple(keys)
    if not tasks:
        return [] if workable else [_QueueGroup((c.campaign_id == campaign_id,), by)]
    groups = [
        # attempts <= 0 is attempts = 0 (a count) and (attempts, keys) the order of keys, but
        # only ix_contacts_fresh_id gives it: with "= 0" and by id PostgreSQL also weighs the
        # primary key, walked past every contact of the campaigns and tasks before this one.
        _QueueGroup((opened, c.attempts <= 0), (SortKey(c.attempts), *by), tasks),
        _QueueGroup((opened, tried, due_now), (SortKey(c.due_at), *by), tasks),
    ]
    # The rest by the campaign's order alone: by id that is ix_contacts_campaign_id, also for
    # the follow-ups not due yet (the tasks' indexes give them by due time, not by id).
    mine = c.campaign_id == campaign_id
    if workable:
        groups.append(_QueueGroup((mine, opened, c.task_id.in_(tasks), tried, not_due), by))
    else:
        rest = or_(~opened, c.task_id.not_in(tasks), and_(tried, not_due))
        groups.append(_QueueGroup((mine, rest), by))
    return groups


async def next_lead(store: Store, campaign_id: int, agent: str, now: datetime) -> Lead | None:
    """The first lead ``agent`` may take now (not reserved: see :func:`reserve`)."""
    leads = await work_queue(store, campaign_id, now, available_for=agent, limit=1)
    return leads[0] if leads else None


async def get_lead(store: Store, contact_id: int) -> Lead:
    async with store.read() as s:
        row = (await s.execute(_lead_select().where(ContactRow.id == contact_id))).first()
        if row is None:
            raise NotFound(f"no contact {contact_id}")
        return _lead(row[0], row[1], row[2])


#: Totals above this are reported as "more than": counting every match of a common name in a
#: million contacts costs a second full scan for a number nobody reads exactly.
SEARCH_COUNT_CAP = 1000


async def search_leads(
    store: Store, campaign_id: int, text: str, *, limit: int = 20
) -> tuple[list[Lead], int]:
    """Leads of the campaign matching a name, e-mail or phone fragment, and how many match
    (capped at :data:`SEARCH_COUNT_CAP` + 1, meaning "more").

    The matches are counted by their ids; up to the cap the page is the first of those ids.
    Asked for the first 20 matches by id, PostgreSQL walked the campaign by id whenever it
    expected many matches, and matches that sit together (a phone number range, one import)
    late in the campaign cost a walk past all before them: 0.23-0.45 s for a phone search at
    500,000 contacts, where the trigram index finds the thousand matches in 4 ms."""
    if not text.strip():
        raise InvalidChange("search text is empty")
    c = ContactRow
    async with store.read(snapshot=True) as s:
        fts = await fts_available(s, store.dialect)
        found = contact_filter(store.dialect, typed_terms(text), fts=fts)
        mine = found.in_campaign(campaign_id)
        ids = list(
            await s.scalars(found.apply(select(c.id).where(mine)).limit(SEARCH_COUNT_CAP + 1))
        )
        total = len(ids)
        if total <= SEARCH_COUNT_CAP:
            page = _lead_select().where(c.id.in_(sorted(ids)[:limit])).order_by(c.id)
        else:  # a common term: the first matches by id are near
            page = found.apply(_lead_select().where(mine)).order_by(found.id_order()).limit(limit)
        rows = (await s.execute(page)).all()
        return [_lead(r[0], r[1], r[2]) for r in rows], total


async def _campaign_of(s: AsyncSession, contact_id: int) -> int:
    cid = await s.scalar(select(ContactRow.campaign_id).where(ContactRow.id == contact_id))
    if cid is None:
        raise NotFound(f"no contact {contact_id}")
    return int(cid)


async def _not_leased(
    store: Store, s: AsyncSession, contact_id: int, now: datetime, own_lease: str | None
) -> None:
    """Raise ``LeadBusy`` while the dialer holds a live lease on the contact (a lease of
    ``own_lease``, the caller's own, does not count).

    On PostgreSQL the contact row is locked (``FOR UPDATE``) until the caller's transaction
    ends: a concurrent lease, which claims ``FOR UPDATE SKIP LOCKED``, either committed first
    (its lease is seen here) or skips the contact; SQLite's ``BEGIN IMMEDIATE`` serialises both.
    """
    c = ContactRow
    q = select(c.lease_holder, c.lease_expires_at).where(c.id == contact_id)
    if store.dialect == "postgresql":
        q = q.with_for_update()
    row = (await s.execute(q)).first()
    if row is None:
        raise NotFound(f"no contact {contact_id}")
    holder, expires = row
    if holder is not None and expires is not None and expires > now and holder != own_lease:
        raise LeadBusy(contact_id)


async def _refuse_close_in_call(
    store: Store,
    s: AsyncSession,
    contact_id: int,
    now: datetime,
    predefined_key: str | None,
    close: bool,
) -> None:
    """Raise ``ContactInCall`` if this note closes the lead (``close``, or a predefined note
    that closes) while the contact is in a call. PostgreSQL: the row is locked first, so a
    lease committed meanwhile is seen and a later one skips the contact until the close is
    written (as ``_not_leased``)."""
    c = ContactRow
    q = select(c.lease_holder, c.lease_expires_at, c.campaign_id).where(c.id == contact_id)
    if store.dialect == "postgresql":
        q = q.with_for_update()
    row = (await s.execute(q)).first()
    if row is None:
        raise NotFound(f"no contact {contact_id}")
    holder, expires, campaign_id = row
    if holder is None or (expires is not None and expires <= now):
        return
    if not close and predefined_key is not None:
        closes = await s.scalar(
            select(PredefinedNoteRow.closes).where(
                PredefinedNoteRow.campaign_id == campaign_id,
                PredefinedNoteRow.key == predefined_key,
            )
        )
        if not closes:
            return
    where = await store.in_call_text(s, contact_id, str(holder))
    raise ContactInCall(
        f"{where}: the lead cannot be closed during its call; give the call's disposition, "
        "or close the lead when the call has ended (a note that does not close can be "
        "written now)",
        "close",
        [contact_id],
    )


async def _take(store: Store, s: AsyncSession, contact_id: int, agent: str, now: datetime) -> int:
    """Hold the lead for ``agent`` inside the caller's transaction; returns its campaign id."""
    campaign_id = await _campaign_of(s, contact_id)
    w = LeadWorkRow
    await s.execute(
        store._insert(w)
        .values(contact_id=contact_id, campaign_id=campaign_id, closed=False)
        .on_conflict_do_nothing(index_elements=["contact_id"])
    )
    result = await s.execute(
        update(w)
        .where(
            w.contact_id == contact_id,
            w.closed.is_(False),
            or_(w.holder.is_(None), w.holder == agent),
        )
        .values(holder=agent, held_since=func.coalesce(w.held_since, now))
        .execution_options(synchronize_session=False)
    )
    if int(result.rowcount) == 1:  # type: ignore[attr-defined]
        return campaign_id
    row = (await s.execute(select(w.holder, w.closed).where(w.contact_id == contact_id))).one()
    if row.closed:
        raise LeadClosed(contact_id)
    raise LeadHeld(contact_id, str(row.holder))


async def reserve(
    store: Store, contact_id: int, agent: str, now: datetime, *, own_lease: str | None = None
) -> Lead:
    """Hold the lead for ``agent`` (again, if it already does). ``LeadHeld`` names the holder.

    ``LeadBusy`` while the dialer has the contact leased (being dialled, or on preview offer):
    the README promises that a reserved lead is called for nobody else, and the dialer would
    go on to call it for the agent it was leased for. ``own_lease``: the lease holder that
    asks (the engine taking the hold for the agent it offered the contact to)."""
    _aware(now)
    async with store.write() as s:
        await _not_leased(store, s, contact_id, now, own_lease)
        await _take(store, s, contact_id, agent, now)
    return await get_lead(store, contact_id)


async def check_not_held(store: Store, contact_id: int, agent: str) -> None:
    """Raise ``LeadHeld`` if an agent other than ``agent`` holds the lead: the engine asks
    before it dials a preview for ``agent`` (a reserved lead is called for nobody else)."""
    w = LeadWorkRow
    async with store.read() as s:
        await _campaign_of(s, contact_id)
        holder = await s.scalar(select(w.holder).where(w.contact_id == contact_id))
    if holder is not None and holder != agent:
        raise LeadHeld(contact_id, holder)


async def release(store: Store, contact_id: int, agent: str | None) -> Lead:
    """Give the lead back. ``agent=None`` (a supervisor) releases whoever holds it; an agent
    releases only its own hold (``LeadHeld`` otherwise)."""
    w = LeadWorkRow
    async with store.write() as s:
        await _campaign_of(s, contact_id)
        where: list[ColumnElement[bool]] = [w.contact_id == contact_id]
        if agent is not None:
            holder = await s.scalar(select(w.holder).where(w.contact_id == contact_id))
            if holder is not None and holder != agent:
                raise LeadHeld(contact_id, holder)
        await s.execute(
            update(w)
            .where(*where)
            .values(holder=None, held_since=None)
            .execution_options(synchronize_session=False)
        )
    return await get_lead(store, contact_id)


async def add_note(
    store: Store,
    contact_id: int,
    agent: str,
    now: datetime,
    *,
    text: str | None = None,
    predefined_key: str | None = None,
    result_label: str | None = None,
    result_class: ResultClass = ResultClass.UNCLASSIFIED,
    close: bool = False,
    finish: Callable[[Contact, LeadNote], Transition | None] | None = None,
) -> LeadNote:
    """Write a note as ``agent`` (taking the lead if nobody holds it). A predefined note sets the
    label, class and whether it closes; closing releases the hold and marks the lead closed.

    ``finish``: when the note closes the lead, the contact's new status decided from the
    contact and the note (``dialerd.taskflow.leads.close_transition``; None: unchanged),
    applied in the same transaction, so a closed lead never stays open work in the pool.

    A close during the contact's call (leased: being dialled, ringing, connected, in wrap-up
    or on preview offer) is refused (``ContactInCall``, naming the contact and the attempt),
    nothing written: the close and the call's disposition both decide the contact's status,
    and a close written under the call refused its outcome as stale (a sale or callback the
    call's agent recorded was lost, the attempt counted without a word). The call's agent
    gives the call's disposition; the lead is closed after the call. A note that does not
    close changes no status and is taken during a call."""
    _aware(now)
    async with store.write() as s:
        if close or predefined_key is not None:
            await _refuse_close_in_call(store, s, contact_id, now, predefined_key, close)
        campaign_id = await _take(store, s, contact_id, agent, now)
        if predefined_key is not None:
            pre = await s.scalar(
                select(PredefinedNoteRow).where(
                    PredefinedNoteRow.campaign_id == campaign_id,
                    PredefinedNoteRow.key == predefined_key,
                )
            )
            if pre is None:
                raise NotFound(f"no predefined note {predefined_key!r} in this campaign")
            text = f"{pre.text}: {text}" if text else pre.text
            result_label = pre.result_label
            result_class = ResultClass(pre.result_class)
            close = close or pre.closes
        if not text:
            raise InvalidChange("a note needs a text or a predefined note")
        note_id = await s.scalar(
            insert(LeadNoteRow)
            .values(
                campaign_id=campaign_id,
                contact_id=contact_id,
                agent=agent,
                at=now,
                text=text,
                predefined_key=predefined_key,
                result_label=result_label,
                result_class=result_class.value,
                closes=close,
            )
            .returning(LeadNoteRow.id)
        )
        values: dict[str, Any] = {"last_note_id": note_id}
        if close:
            values.update(closed=True, closed_at=now, closed_by=agent, holder=None, held_since=None)
        await s.execute(
            update(LeadWorkRow)
            .where(LeadWorkRow.contact_id == contact_id)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        note = _note(await s.get_one(LeadNoteRow, note_id))
        if close and finish is not None:
            contact = convert.contact(await s.get_one(ContactRow, contact_id))
            transition = finish(contact, note)
            if transition is not None:
                await store.apply_transition_on(await s.connection(), transition)
        return note


async def lead_notes(store: Store, contact_id: int) -> list[LeadNote]:
    """All notes of a lead, oldest first."""
    async with store.read() as s:
        rows = await s.scalars(
            select(LeadNoteRow).where(LeadNoteRow.contact_id == contact_id).order_by(LeadNoteRow.id)
        )
        return [_note(r) for r in rows.all()]


# -- reports -------------------------------------------------------------------------------------


def _day(store: Store, col: Any) -> Any:
    if store.dialect == "postgresql":
        return func.to_char(func.timezone("UTC", col), "YYYY-MM-DD", type_=String)
    return func.date(col, type_=String)


def _range(col: Any, flt: ReportFilter) -> list[ColumnElement[bool]]:
    out: list[ColumnElement[bool]] = []
    if flt.start is not None:
        out.append(col >= _aware(flt.start))
    if flt.end is not None:
        out.append(col < _aware(flt.end))
    return out


def _as_dt(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


async def report(store: Store, flt: ReportFilter) -> Report:
    """Calls, contacts reached (connected to an agent), closed leads, talk time: in total, per
    agent, per campaign; leads by the result class of their last note; abandonment and
    occupancy per day. Calls count by origination time, closes by close time, results by the
    last note's time, all within ``[start, end)``."""
    a, w, n, camp = AttemptRow, LeadWorkRow, LeadNoteRow, CampaignRow
    reached = func.count(
        distinct(case((or_(a.result == "connected", a.connected_at.is_not(None)), a.contact_id)))
    )
    att_where = _range(a.originated_at, flt)
    if flt.campaign_id is not None:
        att_where.append(a.campaign_id == flt.campaign_id)
    if flt.agent is not None:
        att_where.append(a.agent == flt.agent)
    att_cols = (func.count(a.id), reached, func.coalesce(func.sum(a.talk_seconds), 0.0))

    close_where = [w.closed.is_(True), *_range(w.closed_at, flt)]
    if flt.campaign_id is not None:
        close_where.append(w.campaign_id == flt.campaign_id)
    if flt.agent is not None:
        close_where.append(w.closed_by == flt.agent)

    note_where = _range(n.at, flt)
    if flt.campaign_id is not None:
        note_where.append(n.campaign_id == flt.campaign_id)
    if flt.agent is not None:
        note_where.append(n.agent == flt.agent)

    day = _day(store, a.originated_at)
    async with store.read() as s:
        calls, contacts, talk = (await s.execute(select(*att_cols).where(*att_where))).one()
        closed = int(await s.scalar(select(func.count()).select_from(w).where(*close_where)) or 0)
        totals = Totals(int(calls), int(contacts), closed, float(talk or 0.0))

        agent_calls = {
            r[0]: r[1:]
            for r in await s.execute(
                select(a.agent, *att_cols).where(*att_where, a.agent.is_not(None)).group_by(a.agent)
            )
        }
        agent_closed = dict(
            (
                await s.execute(
                    select(w.closed_by, func.count()).where(*close_where).group_by(w.closed_by)
                )
            ).all()
        )
        per_agent = _merge(agent_calls, agent_closed)

        camp_calls = {
            r[0]: r[1:]
            for r in await s.execute(
                select(camp.name, *att_cols)
                .select_from(a)
                .join(camp, camp.id == a.campaign_id)
                .where(*att_where)
                .group_by(camp.name)
            )
        }
        camp_closed = dict(
            (
                await s.execute(
                    select(camp.name, func.count())
                    .select_from(w)
                    .join(camp, camp.id == w.campaign_id)
                    .where(*close_where)
                    .group_by(camp.name)
                )
            ).all()
        )
        per_campaign = _merge(camp_calls, camp_closed)

        classes = dict(
            (
                await s.execute(
                    select(n.result_class, func.count())
                    .select_from(w)
                    .join(n, n.id == w.last_note_id)
                    .where(*note_where)
                    .group_by(n.result_class)
                )
            ).all()
        )
        per_class = {rc: int(classes.get(rc.value, 0)) for rc in ResultClass}

        # Per day: calls and talk per agent (occupancy), abandonment from the buckets.
        day_agent = (
            await s.execute(
                select(
                    day,
                    a.agent,
                    func.count(a.id),
                    func.coalesce(func.sum(a.talk_seconds), 0.0),
                    func.min(a.originated_at),
                    func.max(a.hungup_at),
                )
                .where(*att_where, a.originated_at.is_not(None))
                .group_by(day, a.agent)
            )
        ).all()
        b = AbandonmentBucketRow
        bday = _day(store, b.bucket_start)
        b_where = _range(b.bucket_start, flt)
        if flt.campaign_id is not None:
            b_where.append(b.campaign_id == flt.campaign_id)
        buckets = {
            r[0]: (int(r[1] or 0), int(r[2] or 0))
            for r in await s.execute(
                select(bday, func.sum(b.live_answers), func.sum(b.abandoned))
                .where(*b_where)
                .group_by(bday)
            )
        }

    per_day = _days(day_agent, buckets)
    return Report(flt, totals, per_agent, per_campaign, per_class, per_day)


def _merge(calls: dict[Any, Any], closed: dict[Any, Any]) -> dict[str, Totals]:
    out: dict[str, Totals] = {}
    for key in sorted({k for k in (*calls, *closed) if k is not None}, key=str):
        c = calls.get(key, (0, 0, 0.0))
        out[str(key)] = Totals(int(c[0]), int(c[1]), int(closed.get(key, 0)), float(c[2]))
    return out


def _days(day_agent: Sequence[Any], buckets: dict[str, tuple[int, int]]) -> list[DayFigures]:
    calls: dict[str, int] = defaultdict(int)
    talk: dict[str, float] = defaultdict(float)
    span: dict[str, float] = defaultdict(float)
    agent_talk: dict[str, float] = defaultdict(float)
    for d, agent, n_calls, n_talk, first, last in day_agent:
        calls[d] += int(n_calls)
        talk[d] += float(n_talk)
        start, end = _as_dt(first), _as_dt(last)
        if agent is not None and start is not None and end is not None and end > start:
            span[d] += (end - start).total_seconds()
            agent_talk[d] += float(n_talk)
    out: list[DayFigures] = []
    for d in sorted({*calls, *buckets}):
        live, abandoned = buckets.get(d, (0, 0))
        out.append(
            DayFigures(
                day=date.fromisoformat(d),
                calls=calls.get(d, 0),
                live_answers=live,
                abandoned=abandoned,
                abandonment_rate=abandoned / live if live else 0.0,
                talk_seconds=talk.get(d, 0.0),
                occupancy=min(1.0, agent_talk[d] / span[d]) if span.get(d) else 0.0,
            )
        )
    return out
