"""Agents: list and state (from the store), login/logout/pause, dispositions, preview.

Everything an agent does goes to the engine, which owns the agent's state machine and the
attempt in progress; the API only checks who may act for whom and the shape of the request.
"""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import APIRouter, Response

from dialerd.api.context import AgentActor, ApiContext, Ctx, Reader
from dialerd.api.errors import ENGINE_RESPONSES, ERROR_RESPONSES, ApiError
from dialerd.api.models_out import (
    AgentActionOut,
    AgentList,
    AgentOut,
    DispositionOut,
)
from dialerd.api.schemas import DispositionIn, LoginIn, PauseIn, PreviewIn, plain
from dialerd.domain.model import Agent
from dialerd.engine import DispositionTaken

log = structlog.get_logger(__name__)

router = APIRouter(
    prefix="/api/v1", tags=["agents"], responses={**ERROR_RESPONSES, **ENGINE_RESPONSES}
)


def _agent_view(a: Agent) -> dict[str, Any]:
    return {
        "name": a.name,
        "interface": a.interface,
        "campaigns": list(a.campaigns),
        "skills": list(a.skills),
        "state": a.state.value,
    }


def _agent_row(a: Agent, live: dict[str, Any]) -> dict[str, Any]:
    """The stored agent with the engine's view (``live``); ``unknown_since`` is the engine's
    (the store keeps the state last seen, not whether it is current)."""
    view = live.get(a.name)
    since = view.get("unknown_since") if isinstance(view, dict) else None
    return {**_agent_view(a), "unknown_since": since, "live": view}


def _done(agent: str, action: str, result: object) -> dict[str, Any]:
    return {"agent": agent, "action": action, "result": plain(result)}


async def _live(ctx: ApiContext) -> dict[str, Any]:
    """The engine's own view of each agent (server, queues, pause reason), when it runs."""
    if ctx.engine is None:
        return {}
    try:
        status = plain(await ctx.call_engine("status"))
    except Exception as exc:  # the stored state is still worth showing
        log.warning("api.engine_status_failed", error=repr(exc))
        return {}
    agents = status.get("agents", []) if isinstance(status, dict) else []
    return {a["name"]: a for a in agents if isinstance(a, dict) and "name" in a}


@router.get("/agents", response_model=AgentList, summary="All agents with their state")
async def list_agents(ctx: Ctx, _: Reader) -> dict[str, Any]:
    live = await _live(ctx)
    return {"agents": [_agent_row(a, live) for a in await ctx.store.agents()]}


@router.get("/agents/{agent}", response_model=AgentOut, summary="One agent's state")
async def get_agent(ctx: Ctx, _: Reader, agent: str) -> dict[str, Any]:
    for a in await ctx.store.agents():
        if a.name == agent:
            return _agent_row(a, await _live(ctx))
    raise ApiError(404, f"no agent {agent!r}", "agent")


@router.post(
    "/agents/{agent}/login",
    response_model=AgentActionOut,
    summary="Log the agent into its campaigns' queues",
)
async def login(ctx: Ctx, _: AgentActor, agent: str, body: LoginIn | None = None) -> dict[str, Any]:
    campaign = body.campaign if body is not None else None
    return _done(agent, "login", await ctx.call_engine("agent_login", agent, campaign))


@router.post("/agents/{agent}/logout", response_model=AgentActionOut, summary="Log the agent out")
async def logout(
    ctx: Ctx, _: AgentActor, agent: str, body: LoginIn | None = None
) -> dict[str, Any]:
    campaign = body.campaign if body is not None else None
    return _done(agent, "logout", await ctx.call_engine("agent_logout", agent, campaign))


@router.post(
    "/agents/{agent}/pause",
    response_model=AgentActionOut,
    summary="Pause the agent (no calls), with a reason",
)
async def pause(ctx: Ctx, _: AgentActor, agent: str, body: PauseIn | None = None) -> dict[str, Any]:
    reason = body.reason if body is not None else None
    return _done(agent, "pause", await ctx.call_engine("agent_pause", agent, True, reason))


@router.post(
    "/agents/{agent}/unpause", response_model=AgentActionOut, summary="End the agent's pause"
)
async def unpause(ctx: Ctx, _: AgentActor, agent: str) -> dict[str, Any]:
    return _done(agent, "unpause", await ctx.call_engine("agent_pause", agent, False, None))


#: Why a disposition is answered 202 (the body's ``detail``).
QUEUED_DETAIL = (
    "the database is unavailable: the disposition is taken and kept by the daemon and "
    "written once the database is back; do not send it again"
)


@router.post(
    "/agents/{agent}/disposition",
    response_model=DispositionOut,
    summary="The agent's result for its current call",
    responses={
        202: {
            "model": DispositionOut,
            "description": (
                "taken, not stored yet: the database is unavailable (or did not answer in "
                "time); the daemon keeps the disposition and writes it once the database is "
                "back (``written``: ``queued``). Do not send it again: a second disposition "
                "for the call is refused (409)"
            ),
        }
    },
)
async def disposition(
    ctx: Ctx, _: AgentActor, agent: str, body: DispositionIn, response: Response
) -> dict[str, Any]:
    """200 once the disposition is written (``written``: ``stored``) or while the call
    goes on (``at_call_end``: written with its outcome); 202 while the database is away.

    Why 202 and not 503: the agent's disposition is checked against the call the daemon
    holds and kept on it, so it is not lost and must not be sent again; a 503 would ask the
    desktop to retry what is already done (the retry would be refused as a second
    disposition), and holding the request until the database is back would leave the
    agent's screen hanging through the outage.
    """
    result = await ctx.call_engine(
        "disposition",
        agent,
        body.status,
        body.status_detail,
        body.note,
        body.callback_at,
        body.attempt_id,
    )
    if not isinstance(result, DispositionTaken):
        return _done(agent, "disposition", result)
    out = {**_done(agent, "disposition", result.attempt_id), "written": result.state.value}
    if result.queued:
        response.status_code = 202
        out["detail"] = QUEUED_DETAIL
    return out


@router.post(
    "/agents/{agent}/preview/accept",
    response_model=AgentActionOut,
    summary="Dial the previewed contact",
)
async def preview_accept(ctx: Ctx, _: AgentActor, agent: str, body: PreviewIn) -> dict[str, Any]:
    result = await ctx.call_engine("preview_accept", agent, body.contact_id)
    return _done(agent, "preview_accept", result)


@router.post(
    "/agents/{agent}/preview/skip",
    response_model=AgentActionOut,
    summary="Skip the previewed contact",
)
async def preview_skip(ctx: Ctx, _: AgentActor, agent: str, body: PreviewIn) -> dict[str, Any]:
    result = await ctx.call_engine("preview_skip", agent, body.contact_id)
    return _done(agent, "preview_skip", result)
