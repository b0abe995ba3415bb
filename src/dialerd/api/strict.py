"""Checks every ``/api/`` request makes before its handler runs, where FastAPI is lax.

Bodies already refuse unknown keys; the query string did not (``?page=2`` silently answered
page 1), so a misspelt parameter looked like a filter that matched. Integers had no upper
bound, so a huge one reached the database and came back as a driver message naming another
field. A query value with control characters (``email=%00``) matched every contact. A JSON
body sent as another content type was read as no object at all. Here, before the handler:

- an unknown query parameter is 422 naming it (``query.page``);
- a control character in a query value is 422 naming the parameter;
- an integer query or path parameter beyond the 64-bit range the store keeps is 422 naming
  it, except a contact id in the path: no such contact exists, so 404;
- a body sent to an operation that takes JSON with a content type that is not JSON is 415.
"""

from __future__ import annotations

import types
import typing
from typing import Any

from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from dialerd.api.errors import ApiError

#: The largest id or count the store keeps (a signed 64-bit integer).
MAX_INT = 2**63 - 1
_CONTROL = frozenset(chr(c) for c in [*range(32), 127])


class _RouteParams:
    """What one operation takes, worked out once per route."""

    def __init__(self, route: APIRoute) -> None:
        query, path = _walk(route.dependant)
        self.query = {p.alias for p in query}
        self.int_query = {p.alias for p in query if _takes_int(p.field_info)}
        self.int_path = {p.alias for p in path if _takes_int(p.field_info)}
        body = route.body_field
        self.json_body = body is not None and not _is_form(body.field_info)


def _walk(dependant: Dependant) -> tuple[list[Any], list[Any]]:
    """The query and path parameters of an operation and of all its dependencies."""
    query, path = list(dependant.query_params), list(dependant.path_params)
    for sub in dependant.dependencies:
        q, p = _walk(sub)
        query.extend(q)
        path.extend(p)
    return query, path


def _takes_int(info: Any) -> bool:
    annotation = getattr(info, "annotation", None)
    if annotation is int:
        return True
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(annotation)
        return int in args and not ({str, float} & set(args))
    return False


def _is_form(info: Any) -> bool:
    from fastapi.params import Form

    return isinstance(info, Form)


_cache: dict[int, _RouteParams] = {}


def _params(route: APIRoute) -> _RouteParams:
    found = _cache.get(id(route))
    if found is None:
        found = _cache[id(route)] = _RouteParams(route)
    return found


def _too_large(raw: str) -> bool:
    text = raw.strip().lstrip("+-")
    return text.isdigit() and int(text) > MAX_INT


def check_request(request: Request) -> None:
    """An app-wide dependency (see :func:`dialerd.api.app.build_app`)."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or not request.url.path.startswith("/api/"):
        return
    params = _params(route)
    for name, value in request.query_params.multi_items():
        if name not in params.query:
            known = ", ".join(sorted(params.query)) or "none"
            raise ApiError(
                422,
                f"unknown query parameter {name!r} (this operation takes: {known})",
                f"query.{name}",
            )
        if any(c in _CONTROL for c in value):
            raise ApiError(422, "must not contain control characters", f"query.{name}")
        if name in params.int_query and _too_large(value):
            raise ApiError(422, f"must be at most {MAX_INT}", f"query.{name}")
    for name, value in request.path_params.items():
        if name in params.int_path and isinstance(value, str) and _too_large(value):
            if name == "contact_id":
                raise ApiError(404, f"no contact {value}", "contact_id")
            raise ApiError(422, f"must be at most {MAX_INT}", f"path.{name}")
    if params.json_body and _has_body(request):
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind and kind != "application/json" and not kind.endswith("+json"):
            raise ApiError(
                415, f"the body must be JSON (Content-Type: application/json), not {kind}", "body"
            )


def _has_body(request: Request) -> bool:
    length = request.headers.get("content-length")
    if length is not None:
        return length.strip() not in ("", "0")
    return "transfer-encoding" in request.headers
