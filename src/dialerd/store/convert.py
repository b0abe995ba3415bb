"""ORM rows -> dialerd.domain dataclasses (rows never leave the store)."""

from __future__ import annotations

from dialerd.domain.enums import CallResult, CampaignStatus, DialMode, Status, TaskType
from dialerd.domain.model import Attempt, Campaign, Contact, HistoryEntry
from dialerd.store.models import AttemptRow, CampaignRow, ContactRow, HistoryRow


def campaign(row: CampaignRow) -> Campaign:
    return Campaign(
        id=row.id,
        name=row.name,
        status=CampaignStatus(row.status),
        dial_mode=DialMode(row.dial_mode),
        timezone=row.timezone,
        settings=dict(row.settings or {}),
    )


def contact(row: ContactRow) -> Contact:
    return Contact(
        id=row.id,
        campaign_id=row.campaign_id,
        task_id=row.task_id,
        status=Status(row.status),
        status_detail=row.status_detail,
        phone=row.phone,
        first_name=row.first_name,
        last_name=row.last_name,
        company=row.company,
        email=row.email,
        timezone=row.timezone,
        external_id=row.external_id,
        list_name=row.list_name,
        fields=dict(row.fields or {}),
        attempts=row.attempts,
        due_at=row.due_at,
        follow_up_agent=row.follow_up_agent,
        created_at=row.created_at,
        updated_at=row.updated_at,
        pending_task_id=row.pending_task_id,
        pending_due_at=row.pending_due_at,
        lease_holder=row.lease_holder,
        lease_expires_at=row.lease_expires_at,
        last_attempt_at=row.last_attempt_at,
        import_id=row.import_id,
    )


def history(row: HistoryRow) -> HistoryEntry:
    return HistoryEntry(
        id=row.id,
        contact_id=row.contact_id,
        at=row.at,
        actor=row.actor,
        from_task_id=row.from_task_id,
        to_task_id=row.to_task_id,
        from_status=Status(row.from_status) if row.from_status else None,
        to_status=Status(row.to_status) if row.to_status else None,
        from_detail=row.from_detail,
        to_detail=row.to_detail,
        note=row.note,
    )


def attempt(row: AttemptRow) -> Attempt:
    return Attempt(
        id=row.id,
        campaign_id=row.campaign_id,
        contact_id=row.contact_id,
        task_id=row.task_id,
        phone=row.phone,
        server=row.server,
        agent=row.agent,
        originated_at=row.originated_at,
        ringing_at=row.ringing_at,
        answered_at=row.answered_at,
        connected_at=row.connected_at,
        hungup_at=row.hungup_at,
        result=CallResult(row.result) if row.result else None,
        cause=row.cause,
        disposition=row.disposition,
    )


def task_type(value: str) -> TaskType:
    return TaskType(value)
