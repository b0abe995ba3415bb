"""The FastAPI application of dialerd's REST API (OpenAPI at ``/docs``).

Built by the daemon (or a test) around an open store, the engine, a clock and the configured
tokens; it holds no state of its own, so the same store serves the CLI and the API alike.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.responses import Response
from prometheus_client import CollectorRegistry

import dialerd
from dialerd.api import (
    routes_agents,
    routes_campaigns,
    routes_contacts,
    routes_dnc,
    routes_exports,
    routes_imports,
    routes_reports,
    routes_system,
    routes_work,
)
from dialerd.api.access_log import AccessLog
from dialerd.api.auth import TokenGrant, TokenTable
from dialerd.api.body_guard import BodyGuard
from dialerd.api.context import ApiContext
from dialerd.api.engine_control import EngineControl
from dialerd.api.errors import JSON_BODY_RESPONSES, install_error_handlers
from dialerd.api.health import HealthChecks
from dialerd.api.strict import check_request
from dialerd.domain.clock import Clock, SystemClock
from dialerd.domain.compliance import ComplianceFloor
from dialerd.engine.field_check import FieldCheck
from dialerd.store import Store
from dialerd.taskflow.classify import Classifier

_DESCRIPTION = """\
Campaigns, contacts, imports, agents, dispositions and the do-not-call list of a dialerd daemon.

Authenticate with `Authorization: Bearer TOKEN` (tokens and roles in the `[api]` section of the
configuration). Errors are `{"error": message, "field": dotted.field or null}`.
"""


def build_app(
    store: Store,
    *,
    tokens: Iterable[TokenGrant],
    engine: EngineControl | None = None,
    clock: Clock | None = None,
    registry: CollectorRegistry | None = None,
    serve_metrics: bool = True,
    health: HealthChecks | None = None,
    region: str = "DE",
    max_upload_bytes: int = 1 << 30,
    max_json_bytes: int = 4 << 20,
    max_json_batch_bytes: int = 32 << 20,
    classifier: Classifier | None = None,
    compliance: ComplianceFloor | Callable[[], ComplianceFloor | None] | None = None,
    field_check: FieldCheck | None = None,
) -> FastAPI:
    """The API app. ``/metrics`` is served from ``registry`` when ``serve_metrics`` (set it
    ``False`` when metrics have their own listener, see :func:`build_metrics_app`). ``region``
    is the default country of numbers written without ``+``; an uploaded import file larger
    than ``max_upload_bytes`` is refused (413) while it arrives (:mod:`dialerd.api.body_guard`),
    and so is another body larger than ``max_json_bytes`` (``max_json_batch_bytes`` for a batch
    of contacts).
    ``compliance`` is the daemon's floor (or a function returning the current one): campaigns
    created or changed through the API are stored held to it. ``field_check``: the daemon's
    check of campaign filter/sort field names, whose warnings a campaign's GET lists."""
    checks = health or HealthChecks()
    if checks.store_ping is None:
        checks = dataclasses.replace(checks, store_ping=store.list_campaigns)
    if checks.store_writes is None:
        checks = dataclasses.replace(checks, store_writes=lambda: store.writes.failing)
    app = FastAPI(
        title="dialerd",
        version=dialerd.__version__,
        description=_DESCRIPTION,
        docs_url="/docs",
        redoc_url=None,
        dependencies=[Depends(check_request)],  # unknown query parameters etc.: dialerd.api.strict
    )
    app.state.dialerd = ApiContext(
        store=store,
        tokens=TokenTable(tokens),
        clock=clock or SystemClock(),
        engine=engine,
        region=region,
        health=checks,
        registry=registry,
        max_upload_bytes=max_upload_bytes,
        max_json_bytes=max_json_bytes,
        max_json_batch_bytes=max_json_batch_bytes,
        compliance=compliance,
        field_check=field_check,
    )
    install_error_handlers(app)
    app.add_middleware(BodyGuard, ctx=app.state.dialerd)  # inside the access log: logs 401/413
    app.add_middleware(AccessLog)
    app.include_router(routes_system.router)
    app.include_router(routes_campaigns.router)
    app.include_router(routes_contacts.router)
    app.include_router(routes_imports.router)
    app.include_router(routes_agents.router)
    app.include_router(routes_dnc.router)
    app.include_router(routes_work.router)
    app.include_router(routes_reports.router)
    app.include_router(routes_exports.router)
    _declare_body_errors(app)
    app.state.classifier = classifier  # free-text notes; None: the offline rules
    if registry is not None and serve_metrics:
        _add_metrics(app, registry)
    return app


def _declare_body_errors(app: FastAPI) -> None:
    """OpenAPI: operations that take a JSON body may answer 415 (``dialerd.api.strict``) and
    413 (``dialerd.api.body_guard``)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        cached = app.openapi_schema is not None
        schema = generate()  # cached by FastAPI after the first call
        if not cached:
            for operations in schema.get("paths", {}).values():
                for operation in operations.values():
                    content = operation.get("requestBody", {}).get("content", {})
                    if "application/json" in content:
                        answers = operation.setdefault("responses", {})
                        answers.setdefault("415", _NOT_JSON)
                        answers.setdefault("413", _TOO_LARGE)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


_ERROR_OUT = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}}
_NOT_JSON = {"description": JSON_BODY_RESPONSES[415]["description"], "content": _ERROR_OUT}
_TOO_LARGE = {"description": JSON_BODY_RESPONSES[413]["description"], "content": _ERROR_OUT}


def build_metrics_app(registry: CollectorRegistry) -> FastAPI:
    """A tiny app serving only ``/metrics``, for a separate metrics listener."""
    app = FastAPI(title="dialerd metrics", docs_url=None, redoc_url=None, openapi_url=None)
    install_error_handlers(app)  # the same {"error", "field"} shape as the API, e.g. for a 404
    _add_metrics(app, registry)
    return app


def _add_metrics(app: FastAPI, registry: CollectorRegistry) -> None:
    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return routes_system.metrics_response(registry)
