"""Campaigns: definitions (create, change, schedule, tasks, taskflow rules), status, overview.

A change is validated as a whole campaign definition (``CampaignSpec``) before the store sees
it, so a rule pointing at a removed task is a 422 naming ``rules.N.to``; what the stored data
does not allow (removing a task that still holds contacts) is a 409. A definition laxer than
the daemon's ``[compliance]`` rules is stored held to them (the response's ``definition`` shows
the values in force, ``tightened`` what was changed, and a warning is logged). A campaign
stored laxer all the same (``dialerd campaign create --db``, a floor made stricter since) is
shown as the engine dials it: ``definition`` held to the floor, ``compliance_floor`` each value
it changed (``{"key": {"stored": ..., "applied": ...}}``). After a change the engine is asked
to reload; the response says whether it did.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Body, Header, Response
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
    RuleListOut,
    ScheduleOut,
    TaskListOut,
)
from dialerd.api.schemas import CampaignStatusIn, campaign_view
from dialerd.domain.campaign_file import definition_digest
from dialerd.domain.campaign_spec import (
    CampaignSpec,
    RuleSpec,
    ScheduleSpec,
    TaskSpec,
    campaign_name_problem,
    named_fields,
)
from dialerd.domain.compliance import floor_changes, tighten
from dialerd.domain.model import Campaign
from dialerd.domain.selection import split_field, unknown_fields, unknown_fields_problem
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
    """The definition the engine dials by: the stored one held to the daemon's [compliance]
    floor, and under ``compliance_floor`` each value the floor changed (stored -> applied)."""
    stored = CampaignSpec.model_validate(campaign.settings)
    floor = ctx.compliance_floor()
    applied = tighten(stored, floor)[0] if floor is not None else stored
    return {
        **campaign_view(campaign),
        "definition": _dump(applied),
        "compliance_floor": floor_changes(stored, applied),
        "warnings": [
            {"key": u.key, "field": u.name, "closest": u.closest, "problem": u.problem}
            for u in await ctx.fields().warnings(campaign)
        ],
    }


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
    """Check, hold to the floor, store a new campaign and reload."""
    _check_task_settings(spec)
    spec, notes = _held_to_floor(ctx, spec)
    with conflict_on_invalid_change(), _queue_taken():
        campaign = await ctx.store.create_campaign(spec, ctx.clock.now())
    return {
        **await _detail(ctx, campaign),
        "tightened": notes,
        "engine_reloaded": await _reload(ctx),
    }


Change = Callable[[CampaignSpec], CampaignSpec]


def _custom_names(named: list[tuple[str, str]]) -> set[str]:
    return {name for _, name in named if split_field(name)[0]}


def _sent_names(filters: object, sort: object) -> set[str]:
    """The custom field names a change's ``filter`` and ``sort`` (as sent) give: only when one
    is new to the campaign are the contacts' fields read to check it (that reads every
    contact)."""
    named = [] if not isinstance(filters, list) else named_fields({"filter": filters})
    if isinstance(sort, dict):
        named += named_fields({"sort": sort})
    return _custom_names(named)


async def _contact_fields(ctx: Ctx, campaign: Campaign, given: set[str]) -> set[str] | None:
    """The custom fields of the campaign's contacts, to check the field names of a ``filter``
    or ``sort`` the change brings; None: nothing to check (no custom field name new to the
    campaign in the change, or no contacts yet whose fields a name could be checked against)."""
    if not given - _custom_names(named_fields(campaign.settings)):
        return None
    if await ctx.store.count_contacts(campaign.id) == 0:
        return None
    return await ctx.store.custom_field_names(campaign.id)


def _check_field_names(current: CampaignSpec, new: CampaignSpec, known: set[str]) -> None:
    """A filter condition on a field no contact has leaves the campaign nobody to dial, a sort
    on one dials it in id order, with no error anywhere: 422 naming it and the closest known
    name. Only names the change adds are checked, so a definition stored before can still be
    changed around."""
    before = {f.field for f in current.filter}
    fields = [f.field for f in new.filter]
    added = [f for f in fields if f not in before]
    problem = unknown_fields_problem(added, known)
    if problem is not None:
        raise ApiError(
            422, problem, f"filter.{fields.index(unknown_fields(added, known)[0])}.field"
        )
    if new.sort.field != current.sort.field:
        problem = unknown_fields_problem([new.sort.field], known)
        if problem is not None:
            raise ApiError(422, problem, "sort.field")


IfMatch = Annotated[
    str | None,
    Header(
        alias="If-Match",
        description="the ETag of a GET: the change applies only if nobody changed the"
        " campaign since (412 otherwise)",
    ),
]


def etag(settings: dict[str, Any]) -> str:
    """The stored definition's version, for ``If-Match`` (a strong ETag)."""
    return f'"{definition_digest(CampaignSpec.model_validate(settings))}"'


def _check_version(spec: CampaignSpec, if_match: str | None) -> None:
    if if_match is None or if_match.strip() == "*":
        return
    current = etag(_dump(spec))
    if current not in {tag.strip().removeprefix("W/") for tag in if_match.split(",")}:
        raise ApiError(
            412,
            "the campaign was changed since that version was read: read it again (GET) and"
            " apply the change to the new version",
            "If-Match",
        )


async def _apply_change(
    ctx: Ctx,
    campaign: str,
    change: Change,
    *,
    checked: bool = True,
    if_match: str | None = None,
    names_given: Collection[str] = (),
) -> tuple[Campaign, list[str]]:
    """Apply ``change`` to the stored definition inside the store's write transaction.

    The change is read, modified and written in one transaction (the campaign's row locked), so
    two changes at once to different keys both apply; reading it first and writing the whole
    definition back later undid the other change (a stop, even). ``checked``: refuse task
    settings that cannot run and hold the result to the [compliance] floor, as a file is.
    ``if_match``: the client's ETag; checked in the same transaction (412 if it is not current).
    ``names_given``: the custom field names the change's filter and sort give, checked
    against the contacts' fields when one is new to the campaign.
    """
    current = await ctx.campaign(campaign)
    known = await _contact_fields(ctx, current, set(names_given))
    notes: list[str] = []

    def apply(spec: CampaignSpec) -> CampaignSpec:
        _check_version(spec, if_match)
        new = change(spec)
        if known is not None:
            _check_field_names(spec, new, known)
        if not checked:
            return new
        _check_task_settings(new)
        held, tightened = _held_to_floor(ctx, new)
        notes[:] = tightened
        return held

    with conflict_on_invalid_change(), _queue_taken():
        updated = await ctx.store.change_campaign(current.id, apply, ctx.clock.now())
    return updated, notes


async def _changed(
    ctx: Ctx,
    campaign: str,
    change: Change,
    if_match: str | None,
    response: Response,
    *,
    names_given: set[str],
) -> dict[str, Any]:
    """Change a campaign's definition; the response of PUT and PATCH (with the new ETag)."""
    updated, notes = await _apply_change(
        ctx, campaign, change, if_match=if_match, names_given=names_given
    )
    response.headers["ETag"] = etag(updated.settings)
    return {
        **await _detail(ctx, updated),
        "tightened": notes,
        "engine_reloaded": await _reload(ctx),
    }


def _not_renamed(name: str, current: str) -> None:
    if name != current:
        raise ApiError(422, f"a campaign cannot be renamed (it is {current!r})", "name")


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
async def get_campaign(ctx: Ctx, _: Reader, campaign: str, response: Response) -> dict[str, Any]:
    """``ETag``: the stored definition's version, for a change sent with ``If-Match``."""
    current = await ctx.campaign(campaign)
    response.headers["ETag"] = etag(current.settings)
    return await _detail(ctx, current)


@router.put(
    "/{campaign}",
    response_model=CampaignDetail,
    summary="Replace a campaign's definition (the name stays)",
)
async def replace_campaign(
    ctx: Ctx,
    _: Designer,
    campaign: str,
    spec: CampaignSpec,
    response: Response,
    if_match: IfMatch = None,
) -> dict[str, Any]:
    def replace(current: CampaignSpec) -> CampaignSpec:
        _not_renamed(spec.name, current.name)
        return spec

    return await _changed(
        ctx,
        campaign,
        replace,
        if_match,
        response,
        names_given=_custom_names(spec.named_fields()),
    )


@router.patch(
    "/{campaign}",
    response_model=CampaignDetail,
    summary="Change parts of a campaign's definition (merge)",
)
async def patch_campaign(
    ctx: Ctx,
    _: Designer,
    campaign: str,
    response: Response,
    patch: dict[str, Any] = Body(...),
    if_match: IfMatch = None,
) -> dict[str, Any]:
    def merge(current: CampaignSpec) -> CampaignSpec:
        if "name" in patch:
            _not_renamed(patch["name"], current.name)
        try:
            return CampaignSpec.model_validate(_merge(_dump(current), patch))
        except ValidationError as exc:
            raise from_validation(exc) from None

    return await _changed(
        ctx,
        campaign,
        merge,
        if_match,
        response,
        names_given=_sent_names(patch.get("filter"), patch.get("sort")),
    )


@router.put(
    "/{campaign}/status",
    response_model=CampaignStatusOut,
    summary="Enable, disable or schedule (automatic) a campaign",
)
async def set_status(
    ctx: Ctx, _: StatusSetter, campaign: str, body: CampaignStatusIn, if_match: IfMatch = None
) -> dict[str, Any]:
    def with_status(current: CampaignSpec) -> CampaignSpec:
        schedule = current.schedule.model_dump(mode="json", by_alias=True)
        try:
            new = ScheduleSpec.model_validate({**schedule, "status": body.status.value})
        except ValidationError as exc:
            raise from_validation(exc, "status") from None
        return current.model_copy(update={"schedule": new})

    updated, _notes = await _apply_change(
        ctx, campaign, with_status, checked=False, if_match=if_match
    )
    return {**campaign_view(updated), "engine_reloaded": await _reload(ctx)}


@router.get(
    "/{campaign}/schedule",
    response_model=ScheduleOut,
    summary="Status, weekly time periods and dates off",
)
async def get_schedule(ctx: Ctx, _: Reader, campaign: str) -> dict[str, Any]:
    spec = await _spec(ctx.store, await ctx.campaign(campaign))
    return spec.schedule.model_dump(mode="json", by_alias=True)


@router.put(
    "/{campaign}/schedule",
    response_model=ScheduleOut,
    summary="Replace the time periods, dates off and status",
)
async def put_schedule(
    ctx: Ctx, _: Designer, campaign: str, schedule: ScheduleSpec
) -> dict[str, Any]:
    data = schedule.model_dump(mode="json", by_alias=True)
    updated, _notes = await _apply_change(
        ctx, campaign, lambda current: revised(current, {"schedule": data})
    )
    await _reload(ctx)
    return CampaignSpec.model_validate(updated.settings).schedule.model_dump(
        mode="json", by_alias=True
    )


@router.get(
    "/{campaign}/tasks",
    response_model=TaskListOut,
    summary="The campaign's tasks in order, with ids",
)
async def get_tasks(ctx: Ctx, _: Reader, campaign: str) -> dict[str, Any]:
    current = await ctx.campaign(campaign)
    spec = await _spec(ctx.store, current)
    ids = {t.name: t.id for t in await ctx.store.tasks(current.id)}
    return {
        "start_task": spec.first_task,
        "tasks": [{"id": ids.get(t.name), **t.model_dump(mode="json")} for t in spec.tasks],
    }


@router.put(
    "/{campaign}/tasks",
    response_model=TaskListOut,
    summary="Replace the tasks (matched by name; contacts stay)",
)
async def put_tasks(ctx: Ctx, _: Designer, campaign: str, body: TasksIn) -> dict[str, Any]:
    tasks = [t.model_dump(mode="json") for t in body.tasks]
    names = {t.name for t in body.tasks}

    def replace_tasks(current: CampaignSpec) -> CampaignSpec:
        changes: dict[str, Any] = {"tasks": tasks}
        if current.start_task is not None and current.start_task not in names:
            changes["start_task"] = None
        return revised(current, changes)

    await _apply_change(ctx, campaign, replace_tasks)
    await _reload(ctx)
    return await get_tasks(ctx, _, campaign)


@router.get("/{campaign}/rules", response_model=RuleListOut, summary="The taskflow rules")
async def get_rules(ctx: Ctx, _: Reader, campaign: str) -> dict[str, Any]:
    spec = await _spec(ctx.store, await ctx.campaign(campaign))
    return {"rules": [r.model_dump(mode="json", by_alias=True) for r in spec.rules]}


@router.put("/{campaign}/rules", response_model=RuleListOut, summary="Replace the taskflow rules")
async def put_rules(ctx: Ctx, _: Designer, campaign: str, body: RulesIn) -> dict[str, Any]:
    rules = [r.model_dump(mode="json", by_alias=True) for r in body.rules]
    await _apply_change(ctx, campaign, lambda current: revised(current, {"rules": rules}))
    await _reload(ctx)
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
