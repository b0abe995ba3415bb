"""Status changes by hand: the taskflow rules they trigger, for the store to persist.

A status set through the API (``PATCH``, bulk edit) or ``dialerd edit`` is a status change
like an agent's disposition or a closed lead, so the campaign's rules move the contact on
(DESIGN.md: "Applied when a contact's status changes"); before, such contacts stayed in their
call task as success/declined and their later steps (export, webhook, e-mail) never ran. The
decision is :func:`dialerd.taskflow.decide.status_moves`; ``Store.bulk_edit`` and
``lookup.change_contact`` write it with the status, in one transaction.
"""

from __future__ import annotations

from datetime import datetime

from dialerd.domain.changes import RuleMove
from dialerd.domain.enums import Status, StatusDetail
from dialerd.store import Store
from dialerd.taskflow.decide import status_moves


async def manual_status_moves(
    store: Store,
    campaign_id: int,
    status: Status | None,
    status_detail: str | None,
    now: datetime,
) -> dict[int, RuleMove] | None:
    """The rule moves of a status change by hand (``None`` when no status is set: fields or a
    detail alone change no status, and no rule applies)."""
    if status is None:
        return None
    tasks = await store.tasks(campaign_id)
    rules = await store.rules(campaign_id)
    detail = status_detail or StatusDetail.NONE.value  # what the edit sets
    return status_moves({t.name: t.id for t in tasks}, rules, status, detail, now)
