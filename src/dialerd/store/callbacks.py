"""Due personal callbacks per agent (``open`` + ``$follow_up_personal``).

The engine asks this before leasing for one agent, so that in progressive, power and predictive
modes it reserves an agent only when a callback booked for that agent is really due, instead of
leasing (and releasing) on every tick. Also what status shows: callbacks waiting for an agent
who is not there.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, or_, select

from dialerd.domain.enums import Status, StatusDetail
from dialerd.store.models import ContactRow
from dialerd.store.store import Store


async def due_callbacks(store: Store, campaign_id: int, now: datetime) -> dict[str, int]:
    """Agent name -> number of personal callbacks of the campaign due at ``now``, not leased."""
    c = ContactRow
    async with store.read() as s:
        rows = await s.execute(
            select(c.follow_up_agent, func.count())
            .where(
                c.campaign_id == campaign_id,
                c.status == Status.OPEN.value,
                c.status_detail == StatusDetail.FOLLOW_UP_PERSONAL.value,
                c.follow_up_agent.is_not(None),
                c.pending_task_id.is_(None),
                or_(c.due_at.is_(None), c.due_at <= now),
                or_(c.lease_expires_at.is_(None), c.lease_expires_at <= now),
            )
            .group_by(c.follow_up_agent)
        )
        return {str(agent): int(n) for agent, n in rows.all()}
