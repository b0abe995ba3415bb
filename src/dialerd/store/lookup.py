"""Contact look-ups and single-contact writes the REST API needs beyond :class:`Store`.

Kept in its own module so the core store stays about the dialing path. Same rules as the store:
domain values in and out, times passed in by the caller, one transaction per write.

- Search matches parts of names, e-mail addresses and phone numbers (case-insensitive); every
  word of a name matches first name, last name or company. The conditions come from
  :mod:`dialerd.store.search` (trigram indexes on both back ends).
- Idempotent add: a contact whose ``external_id`` is already in the campaign is not added again
  (the existing id is returned), and a phone number already in the campaign is reported as a
  duplicate, as the importer does. Look-up and insert run in one write transaction (SQLite
  ``BEGIN IMMEDIATE``; on PostgreSQL a transaction-scoped advisory lock per campaign), so two
  clients retrying the same batch at once still create each contact once.
- Delete removes the contact with its history and attempts; a contact leased for a call right
  now is refused (``ContactInCall``) so a live call never loses its record. A change of its
  number, status or status detail is refused then too (``ContactInCall``): the call's outcome
  is decided on them; its other fields may change during the call.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from dialerd.domain.changes import NewContact, RuleMove
from dialerd.domain.enums import Status, StatusDetail, TaskType
from dialerd.domain.lookup import AddOutcome, AddResult, DncEntry
from dialerd.domain.model import Contact
from dialerd.domain.selection import ContactSelection, SortOrder
from dialerd.store import convert
from dialerd.store.errors import DuplicateValue, InvalidChange, NotFound
from dialerd.store.models import AttemptRow, ContactRow, DncRow, HistoryRow, TaskRow
from dialerd.store.query import selection_clauses, sort_expression
from dialerd.store.search import NAME_COLUMNS, SearchTerms, contact_filter, fts_available
from dialerd.store.store import Store

__all__ = [
    "add_contacts_idempotent",
    "change_contact",
    "delete_contact",
    "list_dnc",
    "search_contacts",
]

_BATCH = 500


async def search_contacts(
    store: Store,
    campaign_id: int,
    selection: ContactSelection = ContactSelection(),
    *,
    name: str | None = None,
    email: str | None = None,
    phone_digits: str | None = None,
    phone_exact: str | None = None,
    limit: int = 100,
    offset: int = 0,
    order: SortOrder = SortOrder(),
    after: int | None = None,
) -> tuple[list[Contact], int]:
    """Contacts matching every given criterion, and how many match in total.

    ``after`` (an id, with the id order) starts the page after that contact (keyset paging:
    stable while contacts enter or leave the selection); the total still counts every match.

    ``phone_exact`` (an E.164 number) and ``phone_digits`` (any part of the stored number)
    match when either does: a short run of digits may also be a valid number of its own.

    With the SQLite FTS index the MATCH is the outer loop of both statements (the campaign
    and task conditions kept off the indexes, as :func:`dialerd.store.agentwork.search_leads`
    does): looping over the campaign's contacts by ``ix_contacts_campaign_id`` and running the
    MATCH once for each took 400 ms for a phone search in 2,000 contacts and grew with the
    square of the campaign.
    """
    c = ContactRow
    terms = SearchTerms(
        words=tuple(name.split()) if name else (),
        word_columns=NAME_COLUMNS,
        email=email or None,
        phone_digits=phone_digits or None,
        phone_exact=phone_exact or None,
    )
    async with store.read() as s:
        task_ids = await store._task_ids(s, campaign_id)
        found = contact_filter(store.dialect, terms, fts=await fts_available(s, store.dialect))
        where = selection_clauses(
            campaign_id, selection, task_ids, unindexed=found.fts_query is not None
        )
        total = int(
            await s.scalar(found.apply(select(func.count()).select_from(c)).where(*where)) or 0
        )
        page = [c.id > after] if after is not None else []
        rows = await s.scalars(
            found.apply(select(c))
            .where(*where, *page)
            .order_by(*sort_expression(order, store.dialect))
            .limit(limit)
            .offset(offset)
        )
        return [convert.contact(r) for r in rows.all()], total


async def add_contacts_idempotent(
    store: Store,
    campaign_id: int,
    contacts: Sequence[NewContact],
    now: datetime,
    *,
    task: str | None = None,
) -> list[AddOutcome]:
    """Add contacts as ``open`` to ``task`` (default: start task); one outcome per contact."""
    if now.tzinfo is None:
        raise ValueError("now: naive datetime; pass an aware time from the clock")
    c = ContactRow
    async with store.write() as s:
        camp = await store._campaign_row(s, campaign_id)
        await store.lock_campaign_contacts(s, camp.id)
        if task is None:
            task_id = camp.start_task_id
        else:
            task_id = (await store._task_ids(s, camp.id)).get(task)
            if task_id is None:
                raise InvalidChange(f"no task {task!r} in campaign {camp.name!r}")
        if task_id is None:
            raise InvalidChange(f"campaign {camp.name!r} has no start task")
        ext_wanted = sorted({n.external_id for n in contacts if n.external_id})
        phone_wanted = sorted({n.phone for n in contacts if n.phone})
        by_ext: dict[str, int] = {}
        for i in range(0, len(ext_wanted), _BATCH):
            rows = await s.execute(
                select(c.external_id, c.id).where(
                    c.campaign_id == camp.id, c.external_id.in_(ext_wanted[i : i + _BATCH])
                )
            )
            for ext, cid in rows:
                by_ext.setdefault(str(ext), int(cid))
        by_phone: dict[str, int] = {}
        for i in range(0, len(phone_wanted), _BATCH):
            rows = await s.execute(
                select(c.phone, c.id).where(
                    c.campaign_id == camp.id, c.phone.in_(phone_wanted[i : i + _BATCH])
                )
            )
            for phone, cid in rows:
                by_phone.setdefault(str(phone), int(cid))
        outcomes: list[AddOutcome | None] = []
        for new in contacts:
            if new.external_id and new.external_id in by_ext:
                outcomes.append(AddOutcome(AddResult.EXISTS, by_ext[new.external_id]))
                continue
            if new.phone and new.phone in by_phone:
                outcomes.append(AddOutcome(AddResult.DUPLICATE_PHONE, by_phone[new.phone]))
                continue
            row = ContactRow(
                campaign_id=camp.id,
                task_id=task_id,
                status=Status.OPEN.value,
                status_detail=StatusDetail.NONE.value,
                phone=new.phone,
                first_name=new.first_name,
                last_name=new.last_name,
                company=new.company,
                email=new.email,
                timezone=new.timezone,
                external_id=new.external_id,
                list_name=new.list_name,
                fields=dict(new.fields),
                attempts=0,
                due_at=new.due_at,
                created_at=now,
                updated_at=now,
            )
            s.add(row)
            await s.flush()
            if new.external_id:
                by_ext[new.external_id] = row.id
            if new.phone:
                by_phone[new.phone] = row.id
            outcomes.append(AddOutcome(AddResult.CREATED, row.id))
        return [o for o in outcomes if o is not None]


async def delete_contact(store: Store, contact_id: int, now: datetime) -> None:
    """Remove a contact with its history and attempts; refused while it is in a call
    (``ContactInCall`` naming the contact and the attempt, field ``contact``), as a move or a
    status change of one contact is: the call's outcome would have no contact to go to."""
    async with store.write() as s:
        row = await s.get(ContactRow, contact_id)
        if row is None:
            raise NotFound(f"no contact {contact_id}")
        await store.refuse_in_call(
            s, [ContactRow.id == contact_id], now, "contact", refused="deleted"
        )
        await s.execute(delete(HistoryRow).where(HistoryRow.contact_id == contact_id))
        await s.execute(delete(AttemptRow).where(AttemptRow.contact_id == contact_id))
        await s.execute(delete(ContactRow).where(ContactRow.id == contact_id))


async def change_contact(
    store: Store,
    contact_id: int,
    actor: str,
    now: datetime,
    *,
    fields: dict[str, Any] | None = None,
    status: Status | None = None,
    status_detail: str | None = None,
    note: str | None = None,
    phone: tuple[str | None, str | None] | None = None,
    moves: Mapping[int, RuleMove] | None = None,
    dnc_moves: Mapping[int, RuleMove] | None = None,
) -> Contact:
    """One contact's change (``PATCH``) in one transaction: ``fields`` and status as
    :meth:`Store.bulk_edit` sets them, then ``phone`` (number, time zone). Any check that
    fails leaves the contact as it was (it was two transactions, and a refused number kept
    the fields and status already written).

    Checked as adding a contact checks: an ``external_id`` or a number another contact of the
    campaign has is refused (``AlreadyExists``): the idempotent add picks one contact by
    external_id, and one person with two contacts could be dialed twice at once. A number on
    a do-not-call list closes the contact as ``failed``/``$dnc`` as adding it to the list does.

    ``moves``: the taskflow rules' decision for a status set here (see ``Store.bulk_edit``);
    ``dnc_moves``: theirs for a contact a listed number closes as ``failed``/``$dnc``
    (``taskflow.manual.dnc_moves``), applied as ``Store.add_dnc`` applies them.

    While the contact is leased (its call being dialled, ringing, connected or in wrap-up, or
    on preview offer) a new number, a status or a status detail is refused (``ContactInCall``,
    nothing written): the call's outcome would be decided on the old ones and written over
    the edit or lost to it. Names, e-mail, time zone, external_id, list_name and custom fields
    are no part of the call's outcome and change at any time.
    """
    if now.tzinfo is None:
        raise ValueError("now: naive datetime; pass an aware time from the clock")
    if not fields and status is None and status_detail is None and phone is None:
        raise InvalidChange("nothing to change")
    async with store.write() as s:
        campaign_id = await s.scalar(
            select(ContactRow.campaign_id).where(ContactRow.id == contact_id)
        )
        if campaign_id is None:
            raise NotFound(f"no contact {contact_id}")
        if fields or status is not None or status_detail is not None:
            values, text = store.edit_values(now, fields, status, status_detail, note)
            only = ContactSelection(contact_ids=(contact_id,))
            await store._bulk_edit_on(
                s, campaign_id, only, actor, now, values, text, moves, refuse_in_call=True
            )
        if phone is not None:
            await _set_phone_on(
                store, s, contact_id, phone[0], phone[1], actor, now, dnc_moves or {}
            )
        return await _fresh(s, contact_id)


async def _fresh(s: AsyncSession, contact_id: int) -> Contact:
    """The contact as this transaction sees it now (Core updates bypass the session)."""
    row = await s.scalar(
        select(ContactRow)
        .where(ContactRow.id == contact_id)
        .execution_options(populate_existing=True)
    )
    if row is None:
        raise NotFound(f"no contact {contact_id}")
    return convert.contact(row)


async def _set_phone_on(
    store: Store,
    s: AsyncSession,
    contact_id: int,
    phone: str | None,
    timezone: str | None,
    actor: str,
    now: datetime,
    dnc_moves: Mapping[int, RuleMove],
) -> None:
    c = ContactRow
    row = await s.scalar(
        select(c).where(c.id == contact_id).execution_options(populate_existing=True)
    )
    if row is None:
        raise NotFound(f"no contact {contact_id}")
    old = row.phone
    if phone != old:
        # The dialed number is the call's: a new one waits until the call has ended.
        await store.refuse_in_call(s, [c.id == contact_id], now, "phone")
    if phone is not None and phone != old:
        await store.lock_campaign_contacts(s, row.campaign_id)
        other = await s.scalar(
            select(c.id)
            .where(c.campaign_id == row.campaign_id, c.phone == phone, c.id != row.id)
            .limit(1)
        )
        if other is not None:
            raise DuplicateValue(
                f"{phone} is already contact {other} of this campaign", "phone", int(other)
            )
    row.phone = phone
    row.timezone = timezone
    row.updated_at = now
    history = {
        "campaign_id": row.campaign_id,
        "contact_id": row.id,
        "at": now,
        "actor": actor,
        "from_task_id": row.task_id,
        "to_task_id": row.task_id,
        "from_status": row.status,
        "from_detail": row.status_detail,
    }
    s.add(
        HistoryRow(
            **history,
            to_status=row.status,
            to_detail=row.status_detail,
            note=f"phone changed from {old or '-'} to {phone or '-'}",
        )
    )
    if (
        phone is not None
        and row.status == Status.OPEN.value
        and row.pending_task_id is None
        and await _in_call_task(s, row.task_id)
        and await _on_dnc(s, phone, row.campaign_id)
    ):
        # As Store.add_dnc closes an open contact of a call task with a listed number.
        s.add(
            HistoryRow(
                **history,
                to_status=Status.FAILED.value,
                to_detail=StatusDetail.DNC.value,
                note="number on do-not-call list",
            )
        )
        row.status = Status.FAILED.value
        row.status_detail = StatusDetail.DNC.value
        row.due_at = None
        row.follow_up_agent = None
        move = dnc_moves.get(row.task_id)
        if move is not None and move.at > now:
            row.pending_task_id = move.to_task_id
            row.pending_due_at = move.at
        elif move is not None:  # the $dnc rule without delay: enter its target now
            s.add(
                HistoryRow(
                    campaign_id=row.campaign_id,
                    contact_id=row.id,
                    at=now,
                    actor="taskflow",
                    from_task_id=row.task_id,
                    to_task_id=move.to_task_id,
                    from_status=Status.FAILED.value,
                    to_status=Status.OPEN.value,
                    from_detail=StatusDetail.DNC.value,
                    to_detail=StatusDetail.NONE.value,
                    note="taskflow rule",
                )
            )
            row.task_id = move.to_task_id
            row.status = Status.OPEN.value
            row.status_detail = StatusDetail.NONE.value
            row.attempts = 0
    await s.flush()


async def _in_call_task(s: AsyncSession, task_id: int) -> bool:
    kind = await s.scalar(select(TaskRow.type).where(TaskRow.id == task_id))
    return kind == TaskType.CALL.value


async def _on_dnc(s: AsyncSession, phone: str, campaign_id: int) -> bool:
    d = DncRow
    found = await s.scalar(
        select(d.id)
        .where(d.phone == phone, or_(d.campaign_id.is_(None), d.campaign_id == campaign_id))
        .limit(1)
    )
    return found is not None


async def list_dnc(
    store: Store, campaign_id: int | None = None, *, limit: int = 100, offset: int = 0
) -> tuple[list[DncEntry], int]:
    """One list's numbers (global when ``campaign_id`` is ``None``) by number, and the total."""
    d = DncRow
    scope = d.campaign_id.is_(None) if campaign_id is None else d.campaign_id == campaign_id
    async with store.read() as s:
        total = int(await s.scalar(select(func.count()).select_from(d).where(scope)) or 0)
        rows = await s.scalars(select(d).where(scope).order_by(d.phone).limit(limit).offset(offset))
        return [
            DncEntry(
                phone=r.phone,
                campaign_id=r.campaign_id,
                added_at=r.added_at,
                actor=r.actor,
                note=r.note,
            )
            for r in rows.all()
        ], total
