"""The do-not-call list: global or per campaign. Numbers are normalised to E.164 first, so a
number is found however it was written."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from dialerd.api.context import ApiContext, Ctx, DncAdder, DncRemover, Reader
from dialerd.api.errors import ERROR_RESPONSES, ApiError
from dialerd.api.models_out import (
    DncAdded,
    DncCheck,
    DncPage,
)
from dialerd.api.schemas import DncAdd
from dialerd.domain.phone import InvalidPhone, normalize_phone
from dialerd.store import lookup
from dialerd.taskflow.manual import add_dnc

router = APIRouter(prefix="/api/v1/dnc", tags=["do-not-call"], responses=ERROR_RESPONSES)


def _number(ctx: ApiContext, raw: str, field: str) -> str:
    try:
        return normalize_phone(raw, ctx.region)
    except InvalidPhone as exc:
        raise ApiError(422, f"{raw!r}: {exc}", field) from None


async def _scope(ctx: ApiContext, campaign: str | None) -> tuple[int | None, str | None]:
    if campaign is None:
        return None, None
    found = await ctx.campaign(campaign)
    return found.id, found.name


@router.get(
    "", response_model=DncPage, summary="List the numbers of the global or a campaign's list"
)
async def list_numbers(
    ctx: Ctx,
    _: Reader,
    campaign: str | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    campaign_id, name = await _scope(ctx, campaign)
    entries, total = await lookup.list_dnc(ctx.store, campaign_id, limit=limit, offset=offset)
    return {"campaign": name, "total": total, "limit": limit, "offset": offset, "numbers": entries}


@router.post(
    "",
    response_model=DncAdded,
    summary="Add numbers (open contacts with them become failed / $dnc; $dnc rules apply)",
)
async def add_numbers(ctx: Ctx, who: DncAdder, body: DncAdd) -> dict[str, Any]:
    numbers = [_number(ctx, raw, f"phones.{i}") for i, raw in enumerate(body.phones)]
    campaign_id, name = await _scope(ctx, body.campaign)
    # Taken at once, also for a contact in a call (the callee may ask during it): the store
    # closes it (and the taskflow's $dnc rules move it on); the call's outcome will not
    # reopen it.
    done = await add_dnc(
        ctx.store, numbers, who.actor, ctx.clock.now(), campaign_id=campaign_id, note=body.note
    )
    return {
        "campaign": name,
        "added": done.added,
        "already_listed": len(set(numbers)) - done.added,
        "contacts_closed": done.closed,
        "in_call": list(done.in_call),
    }


@router.get(
    "/{phone}",
    response_model=DncCheck,
    summary="Is this number on the global (or the campaign's) list?",
)
async def check(ctx: Ctx, _: Reader, phone: str, campaign: str | None = None) -> dict[str, Any]:
    number = _number(ctx, phone, "phone")
    campaign_id, name = await _scope(ctx, campaign)
    return {
        "phone": number,
        "campaign": name,
        "dnc": await ctx.store.is_dnc(number, campaign_id),
    }


@router.delete("/{phone}", status_code=204, summary="Remove a number from one list")
async def remove(ctx: Ctx, _: DncRemover, phone: str, campaign: str | None = None) -> Response:
    number = _number(ctx, phone, "phone")
    campaign_id, _name = await _scope(ctx, campaign)
    if not await ctx.store.remove_dnc(number, campaign_id):
        where = "the global list" if campaign_id is None else f"campaign {_name!r}'s list"
        raise ApiError(404, f"{number} is not on {where}", "phone")
    return Response(status_code=204)
