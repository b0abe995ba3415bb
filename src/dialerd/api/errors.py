"""One error shape for every failure: ``{"error": message, "field": dotted field or null}``.

Clients (agent desktops, CRM connectors, scripts) handle one shape, and a validation error names
the field to fix (``tasks.1.type``, ``contacts.3.phone``, ``query.limit``). Errors of the layers
below map to status codes here, so handlers never pick codes for store errors themselves:

=========================== ====== =============================================
error                       status meaning
=========================== ====== =============================================
request body/query invalid  422    the field names the offending key (an unknown
                                   query parameter too, see ``dialerd.api.strict``)
body not JSON               415    Content-Type other than application/json
body too large              413    past ``[api] max_json_body`` (``body_guard``)
store ``NotFound``          404    campaign, task, contact, agent unknown
``LookupError`` (engine)    404    e.g. unknown agent or attempt
store ``AlreadyExists``     409    name taken
store ``StaleContact``      409    the contact changed meanwhile
store ``ContactInCall``     409    its number or status cannot change during its
                                   call; the field names the refused change
store ``InvalidChange``     422    handlers re-map to 409 where it is a conflict
engine ``UnknownAgent``,    404
``UnknownCampaign``
engine ``NoSuchCall``,      409    nothing waits for this disposition / preview
``NoSuchPreview``,
``AgentNotEligible``
engine ``Invalid*``         422    e.g. ``InvalidDisposition``
engine ``EngineNotRunning`` 503    starting or stopping: retry later
other ``EngineError``       409
``PermissionError``         403
``ValueError``              422
anything else               500    logged with its traceback, message generic
=========================== ====== =============================================
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dialerd.engine import errors as engine_errors
from dialerd.store.errors import (
    AlreadyExists,
    ContactInCall,
    InvalidChange,
    NotFound,
    StaleContact,
)

log = structlog.get_logger(__name__)

_LOCATIONS = {"body", "query", "path", "header", "cookie"}


class ErrorItem(BaseModel):
    """One of several problems of one request."""

    error: str
    field: str | None = None


class ErrorOut(BaseModel):
    """The body of every error response. ``error`` and ``field`` are the first problem; a
    request with several (e.g. a body with two bad keys) lists them all in ``errors``."""

    error: str
    field: str | None = None
    errors: list[ErrorItem] | None = Field(
        None, description="every problem, when there is more than one (the first is above)"
    )


#: Error responses every API route may give (for the OpenAPI document).
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "missing or unknown bearer token"},
    403: {"model": ErrorOut, "description": "the token's role may not do this"},
    404: {"model": ErrorOut, "description": "campaign, contact, agent ... not found"},
    409: {"model": ErrorOut, "description": "conflicts with the stored data"},
    422: {"model": ErrorOut, "description": "invalid request; field names what to fix"},
}
#: Declared, besides those, on operations that take a JSON body (see ``declare_errors``).
JSON_BODY_RESPONSES: dict[int | str, dict[str, Any]] = {
    415: {"model": ErrorOut, "description": "the body is not JSON (Content-Type)"},
    413: {
        "model": ErrorOut,
        "description": "the body is larger than [api] max_json_body (max_json_batch_body for"
        " a batch of contacts)",
    },
}
#: Declared on operations that ask the engine (agents, dispositions, preview, lead calls).
ENGINE_RESPONSES: dict[int | str, dict[str, Any]] = {
    503: {"model": ErrorOut, "description": "the engine is not running (starting or stopping)"},
}


class ApiError(Exception):
    """An error a handler raises on purpose, with its status code and the field at fault."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field


def error_body(message: str, field: str | None = None) -> dict[str, Any]:
    return {"error": message, "field": field}


def dotted(loc: Sequence[int | str], prefix: str | None = None) -> str | None:
    """``("body", "tasks", 1, "type")`` -> ``"tasks.1.type"``; query/path keep their kind."""
    parts = [str(p) for p in loc]
    if parts and parts[0] == "body":
        parts = parts[1:]
    if prefix:
        parts = [prefix, *parts]
    return ".".join(parts) or None


def _message(err: Any) -> str:
    kind = err.get("type", "")
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "is required"
    msg = str(err.get("msg", "invalid value"))
    return msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")


_FIELD_IN_MESSAGE = re.compile(r"^([A-Za-z_]\w*(?:\.\w+)*): (.+)$", re.DOTALL)


def _item(err: Any, prefix: str | None) -> dict[str, Any]:
    """Model-level checks (cross-references) report their field inside the message."""
    if err.get("type") == "json_invalid":
        # FastAPI puts the character offset where the field goes: ("body", 14)
        loc = err.get("loc", ())
        where = f" at character {loc[1]}" if len(loc) > 1 else ""
        reason = (err.get("ctx") or {}).get("error", "")
        return error_body(f"not valid JSON{where}" + (f": {reason}" if reason else ""), "body")
    message = _message(err)
    field = dotted(err.get("loc", ()), prefix)
    if field is None or field == prefix:
        m = _FIELD_IN_MESSAGE.match(message)
        if m:
            inner = m.group(1)
            field, message = (f"{prefix}.{inner}" if prefix else inner), m.group(2)
    return error_body(message, field)


def validation_error(
    errors: Sequence[Any], prefix: str | None = None, status: int = 422
) -> JSONResponse:
    items = [_item(e, prefix) for e in errors]
    if not items:
        items = [error_body("invalid request")]
    body = dict(items[0])
    if len(items) > 1:
        body["errors"] = items
    return JSONResponse(body, status_code=status)


def from_validation(exc: ValidationError, prefix: str | None = None) -> ApiError:
    """A pydantic error raised inside a handler (e.g. a changed campaign definition)."""
    errors = exc.errors()
    first = _item(errors[0] if errors else {"msg": "invalid value", "loc": ()}, prefix)
    return ApiError(422, first["error"], first["field"])


@contextmanager
def conflict_on_invalid_change(field: str | None = None) -> Iterator[None]:
    """Where ``InvalidChange`` means "the data does not allow it now" (409), not bad input."""
    try:
        yield
    except InvalidChange as exc:
        raise ApiError(409, str(exc), field) from None


@contextmanager
def field_of_invalid_change(field: str) -> Iterator[None]:
    """Name the request field an ``InvalidChange`` is about (e.g. an unknown task)."""
    try:
        yield
    except InvalidChange as exc:
        raise ApiError(422, str(exc), field) from None


def _status_of(exc: Exception) -> int:
    if isinstance(exc, engine_errors.EngineError):
        if isinstance(exc, engine_errors.EngineNotRunning):
            return 503
        if isinstance(exc, engine_errors.UnknownAgent | engine_errors.UnknownCampaign):
            return 404
        if type(exc).__name__.startswith("Invalid"):
            return 422
        return 409
    if isinstance(exc, NotFound | LookupError):
        return 404
    if isinstance(exc, AlreadyExists | StaleContact | ContactInCall):
        return 409
    if isinstance(exc, PermissionError):
        return 403
    if isinstance(exc, InvalidChange | ValueError):
        return 422
    return 500


def install_error_handlers(app: FastAPI) -> None:
    async def on_api_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return JSONResponse(
            error_body(exc.message, exc.field), status_code=exc.status, headers=headers
        )

    async def on_validation(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return validation_error(exc.errors())

    async def on_http(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        return JSONResponse(
            error_body(str(exc.detail)), status_code=exc.status_code, headers=exc.headers
        )

    async def on_layer_error(request: Request, exc: Exception) -> JSONResponse:
        status = _status_of(exc)
        if status == 500:
            raise exc
        field = exc.field if isinstance(exc, ContactInCall) else None
        return JSONResponse(error_body(str(exc) or type(exc).__name__, field), status_code=status)

    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    kinds: tuple[type[Exception], ...] = (
        engine_errors.EngineError,
        NotFound,
        AlreadyExists,
        StaleContact,
        ContactInCall,
        InvalidChange,
        LookupError,
        PermissionError,
        ValueError,
    )
    for kind in kinds:
        app.add_exception_handler(kind, on_layer_error)
    app.add_middleware(CatchAll)


INTERNAL_ERROR = "internal error (see the daemon's log)"


class CatchAll:
    """Turns an unexpected exception into the JSON 500 (logged once, with its traceback),
    instead of Starlette's plain-text 500 followed by a re-raise into the server."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception as exc:
            log.error(
                "api.unhandled",
                method=scope.get("method"),
                path=scope.get("path"),
                error=repr(exc),
                exc_info=exc,
            )
            if started:
                raise
            response = JSONResponse(error_body(INTERNAL_ERROR), status_code=500)
            await response(scope, receive, send)
