"""``/healthz``, ``/metrics`` and the engine's status: what operators and Prometheus read.

``/healthz`` and ``/metrics`` need no token (probes and scrapers rarely carry one); neither
shows contact data. ``/api/v1/status`` does, so it needs a token.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from dialerd.api.context import Ctx, Reader
from dialerd.api.errors import ENGINE_RESPONSES, ERROR_RESPONSES
from dialerd.api.health import health_status, run_checks
from dialerd.api.models_out import EngineStatusOut, HealthOut
from dialerd.api.schemas import plain

router = APIRouter(tags=["system"])


@router.get(
    "/healthz",
    summary="200 when links, store and event loop are healthy (status 'degraded' when a queue"
    " is missing in Asterisk), else 503",
    response_model=HealthOut,
    responses={503: {"model": HealthOut, "description": "a check failed (the body says which)"}},
)
async def healthz(ctx: Ctx) -> JSONResponse:
    ok, report = await run_checks(ctx.health)
    return JSONResponse({"status": health_status(ok, report), "checks": report}, 200 if ok else 503)


@router.get(
    "/api/v1/status",
    summary="The engine's status: runners, calls, agents",
    response_model=EngineStatusOut,
    responses={**ERROR_RESPONSES, **ENGINE_RESPONSES},
)
async def status(ctx: Ctx, _: Reader) -> dict[str, Any]:
    return {"engine": plain(await ctx.call_engine("status"))}


def metrics_response(registry: CollectorRegistry) -> Response:
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
