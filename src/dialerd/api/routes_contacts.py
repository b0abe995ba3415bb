"""Contacts: add (single and batch, idempotent by ``external_id``), change, delete, get,
search, move (one or a filtered set), bulk edit, history and attempts.

Phone numbers are normalised to E.164 here (with the API's default region for numbers written
without ``+``), so the same number written two ways is one number in the store. A search by phone
takes any part of a number: a full number (in any notation) is matched exactly, anything else as
a run of digits without leading zeros (``030 1234`` finds ``+49301234...``).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import ValidationError

from dialerd.api.context import ApiContext, ContactWriter, Ctx, Reader
from dialerd.api.errors import (
    ERROR_RESPONSES,
    ApiError,
    dotted,
    field_of_invalid_change,
)
from dialerd.api.models_out import (
    AttemptList,
    BatchOut,
    ContactAdded,
    ContactOut,
    ContactPage,
    EditedOut,
    HistoryList,
    MovedOut,
)
from dialerd.api.schemas import (
    BulkEdit,
    ContactAdd,
    ContactBatch,
    ContactChange,
    ContactIn,
    MoveMany,
    MoveOne,
    contact_view,
    history_view,
)
from dialerd.domain.changes import NewContact
from dialerd.domain.enums import Status
from dialerd.domain.lookup import AddResult
from dialerd.domain.model import Campaign, Contact
from dialerd.domain.phone import InvalidPhone, PhoneNormalizer
from dialerd.domain.selection import (
    STANDARD_FIELDS,
    Condition,
    ContactSelection,
    SortOrder,
    split_field,
    unknown_fields,
    unknown_fields_problem,
)
from dialerd.store import DuplicateValue, lookup
from dialerd.taskflow.manual import dnc_moves, manual_status_moves

router = APIRouter(
    prefix="/api/v1/campaigns/{campaign}/contacts", tags=["contacts"], responses=ERROR_RESPONSES
)

_STANDARD_EDIT = ("first_name", "last_name", "company", "email", "external_id", "list_name")
_CONFIRM_ALL = 'an empty filter selects every contact: confirm with "all": true'
_normalizers: dict[str, PhoneNormalizer] = {}


def _phone(ctx: ApiContext, raw: str, field: str = "phone") -> tuple[str, str | None]:
    normalizer = _normalizers.get(ctx.region)
    if normalizer is None:
        normalizer = _normalizers[ctx.region] = PhoneNormalizer(ctx.region)
    try:
        return normalizer.normalize(raw)
    except InvalidPhone as exc:
        raise ApiError(422, f"{raw!r}: {exc}", field) from None


@contextlib.contextmanager
def _conflict_on(prefix: str = "") -> Iterator[None]:
    """A value another contact of the campaign has (phone, external_id): 409 naming it, as
    adding such a contact answers."""
    try:
        yield
    except DuplicateValue as exc:
        raise ApiError(409, str(exc), prefix + exc.field) from None


def _new_contact(ctx: ApiContext, body: ContactIn, prefix: str = "") -> NewContact:
    phone: str | None = None
    zone: str | None = None
    if body.phone:
        phone, zone = _phone(ctx, body.phone, f"{prefix}phone")
    return NewContact(
        phone=phone,
        first_name=body.first_name,
        last_name=body.last_name,
        company=body.company,
        email=body.email,
        timezone=body.timezone or zone,
        external_id=body.external_id,
        list_name=body.list_name,
        fields=dict(body.fields),
        due_at=body.due_at,
    )


async def _task_names(ctx: ApiContext, campaign_id: int) -> dict[int, str]:
    return {t.id: t.name for t in await ctx.store.tasks(campaign_id)}


async def _contact(ctx: ApiContext, campaign: Campaign, contact_id: int) -> Contact:
    contact = await ctx.store.get_contact(contact_id)
    if contact.campaign_id != campaign.id:
        raise ApiError(404, f"no contact {contact_id} in campaign {campaign.name!r}")
    return contact


async def _view(ctx: ApiContext, campaign: Campaign, contact_id: int) -> dict[str, Any]:
    contact = await _contact(ctx, campaign, contact_id)
    return contact_view(contact, await _task_names(ctx, campaign.id))


def _sort(sort: str) -> SortOrder:
    descending = sort.startswith("-")
    name = sort.lstrip("-+")
    if name not in STANDARD_FIELDS and (not name.startswith("fields.") or name == "fields."):
        raise ApiError(
            422, f"cannot sort by {name!r} (a contact field or fields.NAME)", "query.sort"
        )
    return SortOrder(name, descending)


async def check_condition_fields(
    ctx: ApiContext, campaign_id: int, fields: list[str], where: str
) -> None:
    """A condition on a field no contact of the campaign has selects nobody, silently: 422
    naming the field (``where.N.field``) and the closest known name, as an export column."""
    custom = [f for f in fields if split_field(f)[0]]
    if not custom:
        return
    known = await ctx.store.custom_field_names(campaign_id)
    problem = unknown_fields_problem(custom, known)
    if problem is not None:
        first = unknown_fields(custom, known)[0]
        raise ApiError(422, problem, f"{where}.{fields.index(first)}.field")


# -- collection -------------------------------------------------------------------------------


@router.post(
    "",
    status_code=201,
    response_model=ContactAdded,
    summary="Add one contact (idempotent by external_id)",
)
async def add_contact(
    ctx: Ctx, _: ContactWriter, campaign: str, body: ContactAdd, response: Response
) -> dict[str, Any]:
    current = await ctx.campaign(campaign)
    new = _new_contact(ctx, body)
    with field_of_invalid_change("task"):
        (outcome,) = await lookup.add_contacts_idempotent(
            ctx.store, current.id, [new], ctx.clock.now(), task=body.task
        )
    if outcome.result is AddResult.DUPLICATE_PHONE:
        raise ApiError(
            409,
            f"{new.phone} is already contact {outcome.contact_id} of this campaign",
            "phone",
        )
    if outcome.result is AddResult.EXISTS:
        response.status_code = 200
    return {
        "result": outcome.result.value,
        "contact": await _view(ctx, current, outcome.contact_id),
    }


@router.post(
    "/batch", response_model=BatchOut, summary="Add many contacts; each reported on its own"
)
async def add_batch(
    ctx: Ctx, _: ContactWriter, campaign: str, body: ContactBatch
) -> dict[str, Any]:
    current = await ctx.campaign(campaign)
    results: list[dict[str, Any]] = [{} for _ in body.contacts]
    good: list[tuple[int, NewContact]] = []
    for i, raw in enumerate(body.contacts):
        prefix = f"contacts.{i}."
        try:
            item = ContactIn.model_validate(raw)
            good.append((i, _new_contact(ctx, item, prefix)))
        except ValidationError as exc:
            err = exc.errors()[0]
            field = dotted(err["loc"], f"contacts.{i}")
            message = str(err["msg"]).removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                message = "unknown key"
            results[i] = {"index": i, "result": "invalid", "error": message, "field": field}
        except ApiError as exc:
            results[i] = {"index": i, "result": "invalid", "error": exc.message, "field": exc.field}
    if good:
        with field_of_invalid_change("task"):
            outcomes = await lookup.add_contacts_idempotent(
                ctx.store, current.id, [n for _, n in good], ctx.clock.now(), task=body.task
            )
        for (i, _n), outcome in zip(good, outcomes, strict=True):
            results[i] = {
                "index": i,
                "result": outcome.result.value,
                "contact_id": outcome.contact_id,
            }
    counts = {r.value: 0 for r in AddResult} | {"invalid": 0}
    for r in results:
        counts[r["result"]] += 1
    return {**counts, "results": results}


@router.get(
    "",
    response_model=ContactPage,
    summary="Search contacts (parts of name, e-mail, phone; filters)",
)
async def search(
    ctx: Ctx,
    _: Reader,
    campaign: str,
    name: Annotated[str | None, Query(max_length=200)] = None,
    email: Annotated[str | None, Query(max_length=300)] = None,
    phone: Annotated[str | None, Query(max_length=64)] = None,
    task: str | None = None,
    status: Status | None = None,
    status_detail: str | None = None,
    list_name: str | None = None,
    external_id: str | None = None,
    waiting: Annotated[
        bool | None, Query(description="true: waiting on a delayed taskflow rule")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
    after: Annotated[
        int | None,
        Query(
            ge=0,
            description="the page after this contact id (the previous page's next_after): "
            "stable while contacts enter or leave the filter, which offset pages are not; "
            "only with the id order and no offset",
        ),
    ] = None,
    sort: str = "id",
) -> dict[str, Any]:
    current = await ctx.campaign(campaign)
    order = _sort(sort)
    if after is not None and (order != SortOrder() or offset):
        raise ApiError(422, "after pages in the id order: no sort and no offset", "query.after")
    phone_exact: str | None = None
    digits: str | None = None
    if phone:
        with contextlib.suppress(ApiError):
            phone_exact = _phone(ctx, phone)[0]
        digits = re.sub(r"\D", "", phone).lstrip("0") or None
        if digits is None and phone_exact is None:
            raise ApiError(422, f"{phone!r} has no digits to search for", "query.phone")
    conditions: tuple[Condition, ...] = ()
    if external_id is not None:
        conditions = (Condition("external_id", "eq", external_id),)
    selection = ContactSelection(
        task=task,
        status=status,
        status_detail=status_detail,
        list_name=list_name,
        conditions=conditions,
        waiting=waiting,
    )
    with field_of_invalid_change("query.task"):
        found, total = await lookup.search_contacts(
            ctx.store,
            current.id,
            selection,
            name=name or None,
            email=email or None,
            phone_exact=phone_exact,
            phone_digits=digits,
            limit=limit,
            offset=offset,
            order=order,
            after=after,
        )
    names = await _task_names(ctx, current.id)
    more = len(found) == limit and order == SortOrder()
    return {
        "total": total,
        "limit": limit,
        "offset": offset,
        "next_after": found[-1].id if more else None,
        "contacts": [contact_view(c, names) for c in found],
    }


@router.post(
    "/move",
    response_model=MovedOut,
    summary="Move a filtered set of contacts into a task (as open)",
)
async def move_many(ctx: Ctx, who: ContactWriter, campaign: str, body: MoveMany) -> dict[str, Any]:
    """Contacts of the set in a call right now (being dialled, ringing, connected, in wrap-up
    or on preview offer) are left where they are and counted in ``skipped_in_call`` (the
    first ten in ``in_call``): their call decides them. The others are moved."""
    current = await ctx.campaign(campaign)
    if body.filter.is_empty and not body.filter.all:
        raise ApiError(
            422, 'an empty filter selects every contact: confirm with "all": true', "filter"
        )
    await check_condition_fields(
        ctx, current.id, [c.field for c in body.filter.conditions], "filter.conditions"
    )
    with field_of_invalid_change("to_task"):
        done = await ctx.store.move(
            current.id,
            body.filter.selection(),
            body.to_task,
            who.actor,
            ctx.clock.now(),
            note=body.note,
        )
    return {
        "moved": done.changed,
        "skipped_in_call": done.skipped_in_call,
        "in_call": list(done.in_call),
    }


@router.post(
    "/bulk-edit",
    response_model=EditedOut,
    summary="Set fields and/or status of a filtered set of contacts",
)
async def bulk_edit(ctx: Ctx, who: ContactWriter, campaign: str, body: BulkEdit) -> dict[str, Any]:
    """With a status or status_detail, contacts of the set in a call (being dialled,
    ringing, connected, in wrap-up or on preview offer) are left as they were and counted in
    ``skipped_in_call`` (the first ten in ``in_call``): the call's outcome would be written
    over the edit or lost to it. The others are edited. Fields alone change at any time."""
    current = await ctx.campaign(campaign)
    if body.filter.is_empty and not body.filter.all:
        raise ApiError(
            422, 'an empty filter selects every contact: confirm with "all": true', "filter"
        )
    if not body.fields and body.status is None and body.status_detail is None:
        raise ApiError(422, "nothing to change: give fields and/or a status", "fields")
    await check_condition_fields(
        ctx, current.id, [c.field for c in body.filter.conditions], "filter.conditions"
    )
    now = ctx.clock.now()
    moves = await manual_status_moves(ctx.store, current.id, body.status, body.status_detail, now)
    with field_of_invalid_change("fields"), _conflict_on("fields."):
        done = await ctx.store.bulk_edit(
            current.id,
            body.filter.selection(),
            who.actor,
            now,
            fields=dict(body.fields) if body.fields else None,
            status=body.status,
            status_detail=body.status_detail,
            note=body.note,
            moves=moves,
        )
    return {
        "edited": done.changed,
        "skipped_in_call": done.skipped_in_call,
        "in_call": list(done.in_call),
    }


# -- one contact ------------------------------------------------------------------------------


@router.get("/{contact_id}", response_model=ContactOut, summary="One contact")
async def get_contact(ctx: Ctx, _: Reader, campaign: str, contact_id: int) -> dict[str, Any]:
    return await _view(ctx, await ctx.campaign(campaign), contact_id)


@router.patch(
    "/{contact_id}", response_model=ContactOut, summary="Change a contact's fields and/or status"
)
async def change_contact(
    ctx: Ctx, who: ContactWriter, campaign: str, contact_id: int, body: ContactChange
) -> dict[str, Any]:
    """During the contact's call (being dialled, ringing, connected, in wrap-up or on preview
    offer) a new ``phone``, a ``status`` or a ``status_detail`` is refused, 409 naming the
    field, as DELETE is: the call's outcome is decided on the number dialed and the status
    the call started from. Names, e-mail, time zone, external_id, list_name and custom
    ``fields`` change at any time (an agent corrects them during the call)."""
    current = await ctx.campaign(campaign)
    contact = await _contact(ctx, current, contact_id)
    given = body.model_fields_set - {"note"}
    if not given:
        raise ApiError(422, "nothing to change", None)
    now = ctx.clock.now()
    # Check the number before writing anything, so a bad one changes nothing.
    phone, zone = _phone(ctx, body.phone) if body.phone else (None, None)
    fields: dict[str, Any] = {k: getattr(body, k) for k in _STANDARD_EDIT if k in given}
    if "timezone" in given and "phone" not in given:
        fields["timezone"] = body.timezone
    for key, value in (body.fields or {}).items():
        fields[f"fields.{key}"] = value
    new_phone = None
    if "phone" in given:
        new_phone = (phone, body.timezone if "timezone" in given else zone)
    # One transaction: a refused number or external_id leaves the contact as it was.
    moves = await manual_status_moves(ctx.store, current.id, body.status, body.status_detail, now)
    # a listed number closes the contact as failed/$dnc: the rules for $dnc move it on
    on_dnc = await dnc_moves(ctx.store, current.id, now) if new_phone is not None else None
    with field_of_invalid_change("fields"), _conflict_on():
        await lookup.change_contact(
            ctx.store,
            contact.id,
            who.actor,
            now,
            fields=fields or None,
            status=body.status,
            status_detail=body.status_detail,
            note=body.note,
            phone=new_phone,
            moves=moves,
            dnc_moves=on_dnc,
        )
    return await _view(ctx, current, contact.id)


@router.delete("/{contact_id}", status_code=204, summary="Delete a contact with its history")
async def delete_contact(ctx: Ctx, _: ContactWriter, campaign: str, contact_id: int) -> Response:
    """During the contact's call (being dialled, ringing, connected, in wrap-up or on preview
    offer) the delete is refused, 409 ``ContactInCall`` naming the contact and the attempt
    (field ``contact``), as a move or a status change of one contact is."""
    current = await ctx.campaign(campaign)
    contact = await _contact(ctx, current, contact_id)
    await lookup.delete_contact(ctx.store, contact.id, ctx.clock.now())
    return Response(status_code=204)


@router.post(
    "/{contact_id}/move",
    response_model=ContactOut,
    summary="Move one contact into a task (as open)",
)
async def move_one(
    ctx: Ctx, who: ContactWriter, campaign: str, contact_id: int, body: MoveOne
) -> dict[str, Any]:
    """During the contact's call (being dialled, ringing, connected, in wrap-up or on preview
    offer) the move is refused, 409 naming the contact and the attempt, as a status change
    is: the call's outcome would be refused as stale and lost (a retry never made, a callback
    or the agent's disposition dropped). Move it when the call has ended."""
    current = await ctx.campaign(campaign)
    contact = await _contact(ctx, current, contact_id)
    with field_of_invalid_change("to_task"):
        await ctx.store.move(
            current.id,
            ContactSelection(contact_ids=(contact.id,)),
            body.to_task,
            who.actor,
            ctx.clock.now(),
            note=body.note,
            refuse_in_call=True,
        )
    return await _view(ctx, current, contact.id)


@router.get(
    "/{contact_id}/history",
    response_model=HistoryList,
    summary="The contact's status history, oldest first",
)
async def history(ctx: Ctx, _: Reader, campaign: str, contact_id: int) -> dict[str, Any]:
    current = await ctx.campaign(campaign)
    contact = await _contact(ctx, current, contact_id)
    names = await _task_names(ctx, current.id)
    return {"history": [history_view(h, names) for h in await ctx.store.history(contact.id)]}


@router.get(
    "/{contact_id}/attempts",
    response_model=AttemptList,
    summary="The contact's call attempts, oldest first",
)
async def attempts(ctx: Ctx, _: Reader, campaign: str, contact_id: int) -> dict[str, Any]:
    current = await ctx.campaign(campaign)
    contact = await _contact(ctx, current, contact_id)
    return {"attempts": await ctx.store.attempts(contact.id)}
