"""Agent work: the lead work queue, reserve/release, notes, close, call (preview accept).

Closing a lead finishes its contact: open in a call task, it gets its final status from the
closing note (``dialerd.taskflow.leads``) in the same transaction, so it never goes back to
the dialer's pool.

Who acts: an agent token always acts as its own agent, and only on leads of the campaigns its
agent works (``Agent.works``; 403 otherwise, reading stays open); admin and supervisor tokens
name the agent in the body (``agent``) and may release any hold. A lead held by someone else
answers 409 with the holder in the message, so the agent's screen can say who has it.
"""

from __future__ import annotations

from contextlib import suppress
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from dialerd.api.auth import Permission, Principal, Role
from dialerd.api.context import ApiContext, Ctx, Reader, StatusSetter, authenticate
from dialerd.api.errors import ENGINE_RESPONSES, ERROR_RESPONSES, ApiError
from dialerd.api.models_out import (
    LeadCallOut,
    LeadDetailOut,
    LeadListOut,
    LeadOut,
    LeadSearchOut,
    NextLeadOut,
    NoteWrittenOut,
    PredefinedNotesOut,
)
from dialerd.api.schemas import plain
from dialerd.domain.agentwork import Lead, LeadNote, LeadState, PredefinedNote, ResultClass
from dialerd.domain.changes import Transition
from dialerd.domain.clock import iso_utc
from dialerd.domain.model import Contact
from dialerd.store import agentwork as work
from dialerd.taskflow.classify import Classifier, RulesClassifier
from dialerd.taskflow.leads import close_transition

router = APIRouter(prefix="/api/v1", tags=["agent work"], responses=ERROR_RESPONSES)


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AgentIn(_Body):
    agent: str | None = Field(None, description="required for admin/supervisor tokens")


class NoteIn(_Body):
    agent: str | None = Field(None, description="required for admin/supervisor tokens")
    text: str | None = Field(None, max_length=10_000)
    predefined: str | None = Field(None, description="key of a predefined note of the campaign")
    result_label: str | None = Field(None, max_length=100)
    close: bool = False


class PredefinedIn(_Body):
    key: str = Field(min_length=1, max_length=100)
    text: str = Field(min_length=1)
    result_label: str = Field(min_length=1, max_length=100)
    result_class: ResultClass = ResultClass.UNCLASSIFIED
    closes: bool = False


class PredefinedListIn(_Body):
    notes: list[PredefinedIn]


def classifier_of(request: Request) -> Classifier:
    found = getattr(request.app.state, "classifier", None)
    return found if found is not None else RulesClassifier()


Principal_ = Annotated[Principal, Depends(authenticate)]


def acting_agent(principal: Principal, named: str | None) -> str:
    """The agent a request acts for (agent tokens: their own; others: the one named)."""
    if not principal.may(Permission.AGENT_OPS):
        raise ApiError(403, f"role {principal.role.value!r} may not act for agents")
    if principal.role is Role.AGENT:
        if named is not None and named != principal.agent:
            raise ApiError(403, f"this token acts only for agent {principal.agent!r}", "agent")
        assert principal.agent is not None
        return principal.agent
    if not named:
        raise ApiError(422, "name the agent this request acts for", "agent")
    return named


async def require_member(ctx: ApiContext, principal: Principal, campaign_id: int) -> None:
    """An agent token works only leads of its agent's campaigns (``Agent.works``: named
    campaigns, skills, or every campaign); reading lists stays open to every role. Admins and
    supervisors acting for an agent may hand it any campaign's lead."""
    if principal.role is not Role.AGENT:
        return
    name = principal.agent
    camp = await ctx.store.get_campaign(campaign_id)
    spec = await ctx.store.campaign_spec(campaign_id)
    agent = next((a for a in await ctx.store.agents() if a.name == name), None)
    if agent is None or not agent.works(camp.name, spec.queue_name):
        raise ApiError(403, f"agent {name!r} does not work campaign {camp.name!r}", "campaign")


async def require_member_for_lead(ctx: ApiContext, principal: Principal, contact_id: int) -> None:
    """:func:`require_member` for the campaign of a lead (404 for an unknown contact)."""
    if principal.role is Role.AGENT:
        await require_member(ctx, principal, (await ctx.store.get_contact(contact_id)).campaign_id)


def note_view(n: LeadNote | None) -> dict[str, Any] | None:
    if n is None:
        return None
    return {
        "id": n.id,
        "agent": n.agent,
        "at": iso_utc(n.at),
        "text": n.text,
        "predefined": n.predefined_key,
        "result_label": n.result_label,
        "result_class": n.result_class.value,
        "closes": n.closes,
    }


def lead_view(lead: Lead) -> dict[str, Any]:
    c = lead.contact
    return {
        "contact_id": c.id,
        "campaign_id": c.campaign_id,
        "first_name": c.first_name,
        "last_name": c.last_name,
        "company": c.company,
        "phone": c.phone,
        "email": c.email,
        "status": c.status.value,
        "status_detail": c.status_detail,
        "attempts": c.attempts,
        "due_at": iso_utc(c.due_at) if c.due_at else None,
        "state": lead.state.value,
        "holder": lead.holder,
        "held_since": iso_utc(lead.held_since) if lead.held_since else None,
        "closed": lead.closed,
        "last_note": note_view(lead.last_note),
    }


def _conflict(exc: work.LeadHeld | work.LeadClosed | work.LeadBusy) -> ApiError:
    return ApiError(409, str(exc), "contact_id")


@router.get(
    "/campaigns/{campaign}/work/queue",
    response_model=LeadListOut,
    summary="The campaign's leads in working order",
)
async def queue(
    ctx: Ctx,
    _: Reader,
    campaign: str,
    state: LeadState | None = None,
    available_for: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    camp = await ctx.campaign(campaign)
    leads = await work.work_queue(
        ctx.store,
        camp.id,
        ctx.clock.now(),
        state=state,
        available_for=available_for,
        limit=limit,
        offset=offset,
    )
    return {"leads": [lead_view(x) for x in leads]}


@router.get(
    "/campaigns/{campaign}/work/search",
    response_model=LeadSearchOut,
    summary="Find leads by name, e-mail or phone",
)
async def search(
    ctx: Ctx,
    _: Reader,
    campaign: str,
    q: Annotated[str, Query(min_length=1, max_length=200, description="as the agent typed it")],
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
) -> dict[str, Any]:
    camp = await ctx.campaign(campaign)
    if not q.strip():
        raise ApiError(422, "type a name, e-mail or phone number", "query.q")
    leads, total = await work.search_leads(ctx.store, camp.id, q, limit=limit)
    return {
        "leads": [lead_view(x) for x in leads],
        "total": min(total, work.SEARCH_COUNT_CAP),
        "more": total > work.SEARCH_COUNT_CAP,
    }


@router.get(
    "/campaigns/{campaign}/work/next",
    response_model=NextLeadOut,
    summary="The next lead this agent may take",
)
async def next_lead(
    ctx: Ctx, principal: Principal_, campaign: str, agent: str | None = None
) -> dict[str, Any]:
    who = acting_agent(principal, agent)
    camp = await ctx.campaign(campaign)
    await require_member(ctx, principal, camp.id)
    lead = await work.next_lead(ctx.store, camp.id, who, ctx.clock.now())
    return {"agent": who, "lead": lead_view(lead) if lead is not None else None}


@router.get(
    "/campaigns/{campaign}/work/predefined-notes",
    response_model=PredefinedNotesOut,
    summary="Predefined notes",
)
async def get_predefined(ctx: Ctx, _: Reader, campaign: str) -> dict[str, Any]:
    camp = await ctx.campaign(campaign)
    return {"notes": [plain(n) for n in await work.predefined_notes(ctx.store, camp.id)]}


@router.put(
    "/campaigns/{campaign}/work/predefined-notes",
    response_model=PredefinedNotesOut,
    summary="Replace predefined notes",
)
async def put_predefined(
    ctx: Ctx, _: StatusSetter, campaign: str, body: PredefinedListIn
) -> dict[str, Any]:
    camp = await ctx.campaign(campaign)
    notes = [
        PredefinedNote(n.key, n.text, n.result_label, n.result_class, n.closes) for n in body.notes
    ]
    saved = await work.set_predefined_notes(ctx.store, camp.id, notes)
    return {"notes": [plain(n) for n in saved]}


@router.get(
    "/leads/{contact_id}",
    response_model=LeadDetailOut,
    summary="A lead: holder, closed flag, all notes",
)
async def get_lead(ctx: Ctx, _: Reader, contact_id: int) -> dict[str, Any]:
    lead = await work.get_lead(ctx.store, contact_id)
    notes = await work.lead_notes(ctx.store, contact_id)
    return {**lead_view(lead), "notes": [note_view(n) for n in notes]}


@router.post(
    "/leads/{contact_id}/reserve", response_model=LeadOut, summary="Hold the lead for the agent"
)
async def reserve(
    ctx: Ctx, principal: Principal_, contact_id: int, body: AgentIn | None = None
) -> dict[str, Any]:
    who = acting_agent(principal, body.agent if body else None)
    await require_member_for_lead(ctx, principal, contact_id)
    try:
        lead = await work.reserve(ctx.store, contact_id, who, ctx.clock.now())
    except (work.LeadHeld, work.LeadClosed, work.LeadBusy) as exc:
        raise _conflict(exc) from exc
    return lead_view(lead)


@router.post("/leads/{contact_id}/release", response_model=LeadOut, summary="Give the lead back")
async def release(
    ctx: Ctx, principal: Principal_, contact_id: int, body: AgentIn | None = None
) -> dict[str, Any]:
    named = body.agent if body else None
    # Supervisors and admins release whoever holds it; agents only their own hold.
    agent = None if principal.role in (Role.ADMIN, Role.SUPERVISOR) and not named else named
    if principal.role is Role.AGENT or principal.role is Role.READONLY:
        agent = acting_agent(principal, named)
    try:
        lead = await work.release(ctx.store, contact_id, agent)
    except work.LeadHeld as exc:
        raise ApiError(403, f"{exc}; only its agent or a supervisor releases it", "agent") from exc
    return lead_view(lead)


async def _write_note(
    ctx: Ctx, request: Request, principal: Principal, contact_id: int, body: NoteIn, close: bool
) -> dict[str, Any]:
    who = acting_agent(principal, body.agent)
    await require_member_for_lead(ctx, principal, contact_id)
    result_class = ResultClass.UNCLASSIFIED
    if body.predefined is None:
        if not body.text or not body.text.strip():
            raise ApiError(422, "write a text or pick a predefined note", "text")
        result_class = await classifier_of(request).classify(body.text)
    now = ctx.clock.now()
    finish = None
    if close or body.close or body.predefined is not None:  # a predefined note may close
        # Closing finishes the contact in its call task (taskflow.leads), with the note.
        contact = await ctx.store.get_contact(contact_id)
        tasks = await ctx.store.tasks(contact.campaign_id)
        rules = await ctx.store.rules(contact.campaign_id)

        def finish(c: Contact, n: LeadNote) -> Transition | None:
            return close_transition(c, n, tasks=tasks, rules=rules, now=now, actor=f"agent:{who}")

    try:
        note = await work.add_note(
            ctx.store,
            contact_id,
            who,
            now,
            text=body.text,
            predefined_key=body.predefined,
            result_label=body.result_label,
            result_class=result_class,
            close=close or body.close,
            finish=finish,
        )
    except (work.LeadHeld, work.LeadClosed) as exc:
        raise _conflict(exc) from exc
    lead = await work.get_lead(ctx.store, contact_id)
    return {"note": note_view(note), "lead": lead_view(lead)}


@router.post(
    "/leads/{contact_id}/notes",
    status_code=201,
    response_model=NoteWrittenOut,
    summary="Write a note (holds the lead)",
)
async def add_note(
    ctx: Ctx, request: Request, principal: Principal_, contact_id: int, body: NoteIn
) -> dict[str, Any]:
    return await _write_note(ctx, request, principal, contact_id, body, close=False)


@router.post(
    "/leads/{contact_id}/close",
    status_code=201,
    response_model=NoteWrittenOut,
    summary="Close the lead with a note",
)
async def close(
    ctx: Ctx, request: Request, principal: Principal_, contact_id: int, body: NoteIn
) -> dict[str, Any]:
    return await _write_note(ctx, request, principal, contact_id, body, close=True)


@router.post(
    "/leads/{contact_id}/call",
    response_model=LeadCallOut,
    summary="Hold the lead and dial it (preview accept)",
    responses=ENGINE_RESPONSES,
)
async def call(
    ctx: Ctx, principal: Principal_, contact_id: int, body: AgentIn | None = None
) -> dict[str, Any]:
    who = acting_agent(principal, body.agent if body else None)
    await require_member_for_lead(ctx, principal, contact_id)
    before = await work.get_lead(ctx.store, contact_id)
    if before.closed:
        raise _conflict(work.LeadClosed(contact_id))
    if before.holder is not None and before.holder != who:
        raise _conflict(work.LeadHeld(contact_id, before.holder))
    # The contact is on offer to this agent, so the dialer has it leased and a plain reserve
    # refuses it; the engine, whose lease it is, takes the hold for this agent and dials.
    try:
        attempt = await ctx.call_engine("preview_accept", who, contact_id, hold=True)
    except Exception:  # an engine refusal, answered by the API's error handlers
        # Not dialed (e.g. not on offer to this agent): a hold taken only for this call would
        # keep the contact from the dialer's pool until somebody noticed and released it.
        if before.holder is None:
            with suppress(work.LeadHeld):  # somebody else's hold is not ours to give back
                await work.release(ctx.store, contact_id, who)
        raise
    lead = await work.get_lead(ctx.store, contact_id)
    # attempt_id is the name the rest of the API and MQTT use; attempt stays for old clients
    return {"attempt_id": plain(attempt), "attempt": plain(attempt), "lead": lead_view(lead)}
