"""Status changes by hand: the taskflow rules they trigger, for the store to persist.

A status set through the API (``PATCH``, bulk edit) or ``dialerd edit`` is a status change
like an agent's disposition or a closed lead, so the campaign's rules move the contact on
(DESIGN.md: "Applied when a contact's status changes"); before, such contacts stayed in their
call task as success/declined and their later steps (export, webhook, e-mail) never ran. The
decision is :func:`dialerd.taskflow.decide.status_moves`; ``Store.bulk_edit`` and
``lookup.change_contact`` write it with the status, in one transaction.

A number put on the do-not-call list closes its open contacts as ``failed``/``$dnc``: a
status change too, so the rules for ``$dnc`` apply (:func:`add_dnc`); before, the contacts
stayed closed in their call task and a ``$dnc`` rule never ran for them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from dialerd.domain.changes import DncAdded, RuleMove
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


async def dnc_moves(store: Store, campaign_id: int | None, now: datetime) -> dict[int, RuleMove]:
    """Per task id, where the taskflow rules send a contact that a do-not-call entry closes
    as ``failed``/``$dnc``: of ``campaign_id``'s tasks, or of every campaign's for the global
    list. The same decision the engine's ``transition_for`` makes for a number it finds
    listed before dialing (``rule_move``), so a ``$dnc`` rule (to a review task, an export,
    a webhook to the CRM) applies however the number came onto the list."""
    ids = [campaign_id] if campaign_id is not None else [c.id for c in await store.list_campaigns()]
    out: dict[int, RuleMove] = {}
    for cid in ids:
        tasks = await store.tasks(cid)
        rules = await store.rules(cid)
        out.update(
            status_moves(
                {t.name: t.id for t in tasks}, rules, Status.FAILED, StatusDetail.DNC.value, now
            )
        )
    return out


async def add_dnc(
    store: Store,
    numbers: Sequence[str],
    actor: str,
    now: datetime,
    *,
    campaign_id: int | None = None,
    note: str | None = None,
) -> DncAdded:
    """Put ``numbers`` (E.164) on the global or a campaign's do-not-call list: the open
    contacts of call tasks with them are closed as ``failed``/``$dnc`` and moved on by the
    campaign's taskflow rules (:func:`dnc_moves`), in one transaction (``Store.add_dnc``).
    The API and ``dialerd dnc add/import`` both add numbers through here."""
    moves = await dnc_moves(store, campaign_id, now) if numbers else {}
    return await store.add_dnc(numbers, actor, now, campaign_id=campaign_id, note=note, moves=moves)
