"""Leasing contacts of tasks that are not calls (export, email, webhook, wait, new_contact).

``Store.lease`` is built for dialing: it skips contacts without a number and numbers on the
do-not-call list, which would strand an email or export contact forever. These tasks need the
same atomic claim (so two runners or two daemons never send one email twice) without those call
rules, so the claim lives here, next to the store, on the store's own transactions.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update

from dialerd.domain.enums import Status, TaskType
from dialerd.domain.model import Contact
from dialerd.store import convert
from dialerd.store.models import CampaignRow, ContactRow, ImportRow, TaskRow
from dialerd.store.store import Store


async def lease_task_contacts(
    store: Store,
    task_id: int,
    n: int,
    holder: str,
    ttl: timedelta,
    now: datetime,
) -> list[Contact]:
    """Claim up to ``n`` due open contacts of one non-call task, oldest first.

    Due: not waiting for a delayed rule, ``due_at`` unset or passed, no live lease. Atomic like
    ``Store.lease`` (SQLite ``BEGIN IMMEDIATE``; PostgreSQL ``FOR UPDATE SKIP LOCKED``).
    """
    if now.tzinfo is None:
        raise ValueError("now: naive datetime; pass an aware time from the clock")
    if n <= 0:
        return []
    c = ContactRow
    async with store.write() as s:
        kind = await s.scalar(select(TaskRow.type).where(TaskRow.id == task_id))
        if kind is None or kind == TaskType.CALL.value:
            raise ValueError(f"task {task_id} is not a non-call task")
        q = (
            select(c.id)
            .where(
                c.task_id == task_id,
                c.status == Status.OPEN.value,
                c.pending_task_id.is_(None),
                or_(c.due_at.is_(None), c.due_at <= now),
                or_(c.lease_expires_at.is_(None), c.lease_expires_at <= now),
            )
            .order_by(c.due_at.asc().nulls_first(), c.id)
            .limit(n)
        )
        if store.dialect == "postgresql":
            q = q.with_for_update(skip_locked=True)
        ids = list((await s.scalars(q)).all())
        if not ids:
            return []
        rows = (
            await s.scalars(
                update(c)
                .where(c.id.in_(ids))
                .values(lease_holder=holder, lease_expires_at=now + ttl)
                .returning(c)
                .execution_options(synchronize_session=False)
            )
        ).all()
        by_id = {r.id: r for r in rows}
        return [convert.contact(by_id[i]) for i in ids]


async def find_contact_by_phone(store: Store, campaign_id: int, phone: str) -> Contact | None:
    """The campaign's oldest contact with this number (inbound calls find known callers)."""
    async with store.read() as s:
        row = await s.scalar(
            select(ContactRow)
            .where(ContactRow.campaign_id == campaign_id, ContactRow.phone == phone)
            .order_by(ContactRow.id)
            .limit(1)
        )
        return convert.contact(row) if row is not None else None


async def due_task_ids(
    store: Store, campaign_id: int, task_ids: Sequence[int], now: datetime
) -> set[int]:
    """Which of ``task_ids`` have a contact to lease now (a read: no write lock taken).

    The runner asks this every tick, so an idle campaign costs one read instead of a write
    transaction per task.
    """
    if not task_ids:
        return set()
    c = ContactRow
    async with store.read() as s:
        rows = await s.scalars(
            select(c.task_id)
            .where(
                c.campaign_id == campaign_id,
                c.task_id.in_(list(task_ids)),
                c.status == Status.OPEN.value,
                c.pending_task_id.is_(None),
                or_(c.due_at.is_(None), c.due_at <= now),
                or_(c.lease_expires_at.is_(None), c.lease_expires_at <= now),
            )
            .distinct()
        )
        return set(rows.all())


async def has_pending_due(store: Store, campaign_id: int, now: datetime) -> bool:
    """Whether a contact of the campaign waits for a delayed rule that is due (a read)."""
    c = ContactRow
    async with store.read() as s:
        found = await s.scalar(
            select(c.id)
            .where(
                c.campaign_id == campaign_id,
                c.pending_task_id.is_not(None),
                c.pending_due_at <= now,
            )
            .limit(1)
        )
        return found is not None


async def record_unreadable_import(
    store: Store,
    campaign: str,
    *,
    file_name: str,
    mode: str,
    list_name: str | None,
    task: str | None,
    actor: str,
    at: datetime,
    error: str,
) -> None:
    """An import history row for a dropped file that failed before its import began.

    A file that cannot be opened or whose header does not fit the mapping never reaches
    ``import_contacts`` (which records its own failures); the drop folder still owes the
    operator a line in the import history saying what happened to it.
    """
    async with store.write() as s:
        cid = await s.scalar(select(CampaignRow.id).where(CampaignRow.name == campaign))
        if cid is None:
            return
        s.add(
            ImportRow(
                campaign_id=cid,
                actor=actor[:200],
                at=at,
                file_name=file_name[:1000],
                mode=mode,
                list_name=list_name,
                rows=0,
                imported=0,
                rejected=0,
                duplicates=0,
                replaced=0,
                report={"status": "failed", "task": task, "error": error},
            )
        )
