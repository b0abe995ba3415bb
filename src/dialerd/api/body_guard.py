"""Refuses a request before its body is read: no token (401), no right to upload (403), an
upload or a JSON body larger than its limit (413).

FastAPI reads and parses a body (Starlette spools a multipart file to the temporary directory)
before it runs any dependency, so the token check of a handler comes after the whole body has
arrived. Without this guard anyone who reaches the port could stream gigabytes into ``/tmp`` (or
into memory, for a JSON body) and only then be told 401. The guard answers from the headers
alone, and counts the bytes of a body while they arrive: a ``Content-Length`` over the limit
is refused at once, a chunked body as soon as it passes the limit, and nothing more is read.

A token does not make a body harmless: FastAPI reads a JSON body whole into memory and parses
it into Python objects several times its size, so one caller with a valid token (or a client
bug) could send gigabytes to ``POST .../contacts``. Bodies other than uploads are held to
``[api] max_json_body`` (4 MiB by default; the largest lists the other operations take, 100,000
ids or numbers, are about 3 MB), and ``POST .../contacts/batch``, whose 10,000 contacts may
carry custom fields, to ``[api] max_json_batch_body`` (32 MiB).
"""

from __future__ import annotations

import re

from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dialerd.api.auth import Permission, Principal
from dialerd.api.context import MISSING_TOKEN, UNKNOWN_TOKEN, ApiContext, forbidden
from dialerd.api.errors import ApiError, error_body

#: Requests that may carry a body; reads (GET, HEAD) are checked by the handlers as before.
_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_UPLOAD = re.compile(r"^/api/v1/campaigns/[^/]+/imports/?$")
_BATCH = re.compile(r"^/api/v1/campaigns/[^/]+/contacts/batch/?$")
#: Room for the multipart envelope and the form fields (mapping, mode, ...) beside the file.
FORM_ALLOWANCE = 1 << 20


def size_text(limit: int) -> str:
    """``1073741824`` -> ``"1024 MiB"``; small limits in bytes."""
    return f"{limit / (1 << 20):g} MiB" if limit >= 1 << 20 else f"{limit} bytes"


class _Refused(Exception):
    def __init__(self, error: ApiError) -> None:
        super().__init__(error.message)
        self.error = error


def _principal(scope: Scope, ctx: ApiContext) -> Principal:
    header = ""
    for key, value in scope.get("headers", ()):
        if key == b"authorization":
            header = value.decode("latin-1")
            break
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _Refused(ApiError(401, MISSING_TOKEN))
    principal = ctx.tokens.principal(token.strip())
    if principal is None:
        raise _Refused(ApiError(401, UNKNOWN_TOKEN))
    return principal


def _content_length(scope: Scope) -> int | None:
    for key, value in scope.get("headers", ()):
        if key == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _json_too_large(limit: int, key: str) -> ApiError:
    return ApiError(
        413,
        f"the request body is larger than the limit of {size_text(limit)} ([api] {key})",
        "body",
    )


class BodyGuard:
    """ASGI middleware; see the module docstring. ``ctx`` gives the tokens and the limit."""

    def __init__(self, app: ASGIApp, ctx: ApiContext) -> None:
        self.app = app
        self.ctx = ctx

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not path.startswith("/api/") or scope.get("method") not in _WRITES:
            await self.app(scope, receive, send)
            return
        upload = scope["method"] == "POST" and _UPLOAD.match(path) is not None
        if upload:
            limit = self.ctx.max_upload_bytes + FORM_ALLOWANCE
            too_large = self._upload_too_large()
        else:
            batch = scope["method"] == "POST" and _BATCH.match(path) is not None
            limit = self.ctx.max_json_batch_bytes if batch else self.ctx.max_json_bytes
            too_large = _json_too_large(limit, "max_json_batch_body" if batch else "max_json_body")
        try:
            principal = _principal(scope, self.ctx)
            scope.setdefault("state", {})["principal"] = principal  # for the access log
            if upload and not principal.may(Permission.IMPORTS):
                raise _Refused(forbidden(principal, Permission.IMPORTS))
            length = _content_length(scope)
            if length is not None and length > limit:
                raise _Refused(too_large)
        except _Refused as refused:
            await self._answer(refused.error, scope, receive, send)
            return
        await self._counted(scope, receive, send, limit, too_large)

    def _upload_too_large(self) -> ApiError:
        limit = self.ctx.max_upload_bytes
        return ApiError(413, f"the upload is larger than the limit of {size_text(limit)}", "file")

    async def _answer(self, error: ApiError, scope: Scope, receive: Receive, send: Send) -> None:
        headers = {"WWW-Authenticate": "Bearer"} if error.status == 401 else None
        # Connection: close, since the unread body still stands between us and a next request
        headers = {**(headers or {}), "Connection": "close"}
        response = JSONResponse(
            error_body(error.message, error.field), status_code=error.status, headers=headers
        )
        await response(scope, receive, send)

    async def _counted(
        self, scope: Scope, receive: Receive, send: Send, limit: int, too_large: ApiError
    ) -> None:
        """Pass the body on while it stays within ``limit``; past it, answer 413 and tell the
        app the client went away, so it stops reading (its own answer is dropped)."""
        received = 0
        refused = False
        started = False

        async def counting_receive() -> Message:
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    refused = True
                    if not started:
                        await self._answer(too_large, scope, receive, send)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refused:
                return  # the 413 has been sent
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        await self.app(scope, counting_receive, guarded_send)
