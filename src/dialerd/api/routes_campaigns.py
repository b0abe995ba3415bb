"""Campaigns: definitions (create, change, schedule, tasks, taskflow rules), status, overview.

A change is validated as a whole campaign definition (``CampaignSpec``) before the store sees
it, so a rule pointing at a removed task is a 422 naming ``rules.N.to``; what the stored data
does not allow (removing a task that still holds contacts) is a 409. A definition laxer than
the daemon's ``[compliance]`` rules is stored held to them (the response's ``definition`` shows
the values in force, ``tightened`` what was changed, and a warning is logged). After a change the
engine is asked to reload; the response says whether it did.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import structlog
from fastapi import APIRouter, Body
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dialerd.api.context import Ctx, Designer, Reader, StatusSetter
from dialerd.api.errors import (
    ERROR_RESPONSES,
    ApiError,
    conflict_on_invalid_change,
    from_validation,
)
from dialerd.api.models_out import (
    CampaignDetail,
    CampaignList,
    CampaignStatusOut,
    OverviewOut,
)
from dialerd.api.schemas import CampaignStatusIn, campaign_view
from dialerd.domain.campaign_spec import (
    CampaignSpec,
    RuleSpec,
    ScheduleSpec,
    TaskSpec,
    campaign_name_problem,
)
from dialerd.domain.compliance import tighten
from dialerd.domain.model import Campaign
from dialerd.store import QueueInUse, Store
from dialerd.taskflow.tasks import check_tasks

log = structlog.get_logger(__name__)

router = APIRouter(prefix="/api/v1/campaigns", tags=["campaigns"], responses=ERROR_RESPONSES)


class TasksIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tasks: list[TaskSpec] = Field(min_length=1)


class RulesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rules: list[RuleSpec]


def _dump(spec: CampaignSpec) -> dict[str, Any]:
    return spec.model_dump(mode="json", by_alias=True)


def revised(spec: CampaignSpec, changes: dict[str, Any]) -> CampaignSpec:
    """The definition with top-level keys replaced, validated as a whole."""
    data = _dump(spec)
    data.update(changes)
    try:
        return CampaignSpec.model_validate(data)
    except ValidationError as exc:
        raise from_validation(exc) from None


def _merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


async def _spec(store: Store, campaign: Campaign) -> CampaignSpec:
    return await store.campaign_spec(campaign.id)


async def _detail(ctx: Ctx, campaign: Campaign) -> dict[str, Any]:
    spec = CampaignSpec.model_validate(campaign.settings)
    return {**campaign_view(campaign), "definition": _dump(spec)}


async def _reload(ctx: Ctx) -> bool | None:
    if ctx.engine is None:
        return None
    try:
        await ctx.call_engine("reload")
    except Exception as exc:  # the change is stored; a failed reload must not hide that
        log.warning("api.engine_reload_failed", error=repr(exc))
        return False
    return True


def _check_task_settings(spec: CampaignSpec) -> None:
    """Refuse what ``dialerd check-config`` refuses in a file: a task whose settings cannot run
    would otherwise be stored and only show as an error in the log."""
    problems = check_tasks(spec, secrets=True)
    if problems:
        raise ApiError(422, "; ".join(problems), "tasks")


def _held_to_floor(ctx: Ctx, spec: CampaignSpec) -> tuple[CampaignSpec, list[str]]:
    """The definition held to the daemon's [compliance] floor, and what that changed."""
    floor = ctx.compliance_floor()
    if floor is None:
        return spec, []
    held, notes = tighten(spec, floor)
    if notes:
        log.warning("api.campaign_tightened", campaign=spec.name, changes=notes)
    return held, notes


@contextmanager
def _queue_taken() -> Iterator[None]:
    """Another campaign has the queue: 409 naming it, on the ``queue`` field."""
    try:
        yield
    except QueueInUse as exc:
        raise ApiError(409, str(exc), "queue") from None


async def _store_change(ctx: Ctx, spec: CampaignSpec, *, create: bool = False) -> dict[str, Any]:
    """Check, hold to the floor, store (a new campaign or a changed one) and reload."""
    _check_task_settings(spec)
    spec, notes = _held_to_floor(ctx, spec)
    store = ctx.store.create_campaign if create else ctx.store.update_campaign
    with conflict_on_invalid_change(), _queue_taken():
        campaign = await store(spec, ctx.clock.now())
    return {
        **await _detail(ctx, campaign),
        "tightened": notes,
        "engine_reloaded": await _reload(ctx),
    }


@router.get("", response_model=CampaignList, summary="List campaigns")
async def list_campaigns(ctx: Ctx, _: Reader) -> dict[str, Any]:
    return {"campaigns": [campaign_view(c) for c in await ctx.store.list_campaigns()]}


@router.post(
    "",
    status_code=201,
    response_model=CampaignDetail,
    summary="Create a campaign from its definition",
)
async def create_campaign(ctx: Ctx, _: Designer, spec: CampaignSpec) -> dict[str, Any]:
    problem = campaign_name_problem(spec.name)  # the store refuses it too; this names the field
    if problem is not None:
        raise ApiError(422, problem, "name")
    return await _store_change(ctx, spec, create=True)


@router.get("/{campaign}", response_model=CampaignDetail, summary="A campaign and its definition")
async def get_campaign(ctx: Ctx, _: Reader, campaign: str) -> dict[str, Any]:
    return await _detail(ctx, await ctx.campaign(campaign))


@router.put(
    "/{campaign}",
    response_model=CampaignDetail,
    summary="Replace a campaign's definition (the name stays)",
)
async def replace_campaign(
    ctx: Ctx, _: Designer, campaign: str, spec: CampaignSpec
) -> dict[str, Any]:
    current = await ctx.campaign(campaign)
    if spec.name != current.name:
        raise ApiError(422, f"a campaign cannot be renamed (it is {current.name!r})", "name")
    return await _store_change(ctx, spec)


@router.patch(
    "/{campaign}",
    response_model=CampaignDetail,
    summary="Change parts of a campaign's definition (merge)",
)
async def patch_campaign(
    ctx: Ctx, _: Designer, campaign: str, patch: dict[str, Any] = Body(...)
) -> dict[str, Any]:
    current = await ctx.campaign(campaign)
    if "name" in patch and patch["name"] != current.name:
        raise ApiError(422, f"a campaign cannot be renamed (it is {current.name!r})", "name")
    data = _merge(_dump(await _spec(ctx.store, current)), patch)
    try:
        spec = CampaignSpec.model_validate(data)
    except ValidationError as exc:
        raise from_validation(exc) from None
    return await _store_change(ctx, spec)


@router.put(
    "/{campaign}/status",
    response_model=CampaignStatusOut,
    summary="Enable, disable or schedule (automatic) a campaign",
)
async def set_status(
    ctx: Ctx, _: StatusSetter, campaign: str, body: CampaignStatusIn
) -> dict[str, Any]:
    current = await ctx.campaign(campaign)
    spec = await _spec(ctx.store, current)
    schedule = spec.schedule.model_dump(mode="json", by_alias=True)
    try:
        ScheduleSpec.model_validate({**schedule, "status": body.status.value})
    except ValidationError as exc:
        raise from_validation(exc, "status") from None
    updated = await ctx.store.set_campaign_status(current.id, body.status, ctx.clock.now())
    return {**campaign_view(updated), "engine_reloaded": await _reload(ctx)}


@router.get("/{campaign}/schedule", summary="Status, weekly time periods and dates off")
async def get_schedule(ctx: Ctx, _: Reader, campaign: str) -> dict[str, Any]:
    spec = await _spec(ctx.store, await ctx.campaign(campaign))
    return spec.schedule.model_dump(mode="json", by_alias=True)


@router.put("/{campaign}/schedule", summary="Replace the time periods, dates off and status")
async def put_schedule(
    ctx: Ctx, _: Designer, campaign: str, schedule: ScheduleSpec
) -> dict[str, Any]:
    spec = await _spec(ctx.store, await ctx.campaign(campaign))
    new = revised(spec, {"schedule": schedule.model_dump(mode="json", by_alias=True)})
    await _store_change(ctx, new)
    return new.schedule.model_dump(mode="json", by_alias=True)


@router.get("/{campaign}/tasks", summary="The campaign's tasks in order, with ids")
async def get_tasks(ctx: Ctx, _: Reader, campaign: str) -> dict[str, Any]:
    current = await ctx.campaign(campaign)
    spec = await _spec(ctx.store, current)
    ids = {t.name: t.id for t in await ctx.store.tasks(current.id)}
    return {
        "start_task": spec.first_task,
        "tasks": [{"id": ids.get(t.name), **t.model_dump(mode="json")} for t in spec.tasks],
    }


@router.put("/{campaign}/tasks", summary="Replace the tasks (matched by name; contacts stay)")
async def put_tasks(ctx: Ctx, _: Designer, campaign: str, body: TasksIn) -> dict[str, Any]:
    spec = await _spec(ctx.store, await ctx.campaign(campaign))
    changes: dict[str, Any] = {"tasks": [t.model_dump(mode="json") for t in body.tasks]}
    if spec.start_task is not None and spec.start_task not in {t.name for t in body.tasks}:
        changes["start_task"] = None
    await _store_change(ctx, revised(spec, changes))
    return await get_tasks(ctx, _, campaign)


@router.get("/{campaign}/rules", summary="The taskflow rules")
async def get_rules(ctx: Ctx, _: Reader, campaign: str) -> dict[str, Any]:
    spec = await _spec(ctx.store, await ctx.campaign(campaign))
    return {"rules": [r.model_dump(mode="json", by_alias=True) for r in spec.rules]}


@router.put("/{campaign}/rules", summary="Replace the taskflow rules")
async def put_rules(ctx: Ctx, _: Designer, campaign: str, body: RulesIn) -> dict[str, Any]:
    spec = await _spec(ctx.store, await ctx.campaign(campaign))
    rules = [r.model_dump(mode="json", by_alias=True) for r in body.rules]
    new = revised(spec, {"rules": rules})
    await _store_change(ctx, new)
    return {"rules": rules}


@router.get(
    "/{campaign}/overview",
    response_model=OverviewOut,
    summary="Contacts per task x status x status_detail",
)
async def overview(ctx: Ctx, _: Reader, campaign: str) -> dict[str, Any]:
    current = await ctx.campaign(campaign)
    rows = await ctx.store.overview(current.id)
    return {
        "campaign": current.name,
        "total": sum(r.count for r in rows),
        "rows": [
            {
                "task": r.task,
                "status": r.status.value,
                "status_detail": r.status_detail,
                "count": r.count,
                "waiting_for": r.waiting_for,
                "next_due": r.next_due,
            }
            for r in rows
        ],
    }
