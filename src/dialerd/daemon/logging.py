"""structlog set-up for the daemon.

JSON lines on stdout when it is not a terminal (under systemd, journald stores them), a
readable console format on a terminal. Ids bound with :func:`bind_ids` (campaign, contact,
attempt, agent) ride along on every line logged in that asyncio context, so one call's lines can
be found with one query. The standard library's loggers (uvicorn, aiomqtt, alembic) go through
the same renderer, so the journal holds one format.

Secrets must never reach a log: a processor masks values of keys that look like secrets and
passwords inside URLs, whatever a caller passes.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Literal, TextIO

import structlog
from pydantic import SecretBytes, SecretStr
from structlog.types import EventDict, Processor, WrappedLogger

REDACTED = "***"
_SECRET_KEY = re.compile(
    r"(secret|password|passwd|token|authorization|api[_-]?key|credential)", re.IGNORECASE
)
#: Keys that look secret but hold a name (the access log's ``token_name``: which configured
#: token made a request); their values are still scanned like any other value.
_NAME_KEYS = frozenset({"token_name"})
_URL_PASSWORD = re.compile(r"(://[^:/@\s]*):[^@\s]*@")
_BEARER = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+")

ID_KEYS = ("campaign", "contact", "attempt", "agent")
CALLS_LOGGER = "dialerd.calls"
"""The logger of the line per finished call (``[logging] calls``)."""


def _redact_value(value: Any, depth: int = 0) -> Any:
    if isinstance(value, SecretStr | SecretBytes):
        return REDACTED
    if isinstance(value, str):
        if "://" in value:
            value = _URL_PASSWORD.sub(r"\1:" + REDACTED + "@", value)
        if "earer" in value:
            value = _BEARER.sub(r"\1" + REDACTED, value)
        return value
    if depth < 4 and isinstance(value, Mapping):
        return {
            k: REDACTED if _is_secret_key(k) else _redact_value(v, depth + 1)
            for k, v in value.items()
        }
    if depth < 4 and isinstance(value, list | tuple):
        return type(value)(_redact_value(v, depth + 1) for v in value)
    return value


def _is_secret_key(key: object) -> bool:
    return isinstance(key, str) and key not in _NAME_KEYS and bool(_SECRET_KEY.search(key))


def redact_secrets(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """Mask secret-looking keys and passwords in URLs, at any nesting a log call uses."""
    for key, value in list(event_dict.items()):
        if _is_secret_key(key) and value is not None:
            event_dict[key] = REDACTED
        else:
            event_dict[key] = _redact_value(value)
    return event_dict


def _processors(timestamps: bool) -> list[Processor]:
    chain: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
    ]
    if timestamps:
        chain.append(structlog.processors.TimeStamper(fmt="iso", utc=True))
    chain += [
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
        redact_secrets,
    ]
    return chain


def configure_logging(
    level: str = "info",
    fmt: Literal["auto", "json", "console"] = "auto",
    stream: TextIO | None = None,
    *,
    calls: bool = True,
) -> Literal["json", "console"]:
    """Install the daemon's logging; returns the format chosen (``auto`` resolved).

    Timestamps are left out of JSON under journald (``JOURNAL_STREAM`` set), which stamps every
    line itself; elsewhere they are ISO 8601 UTC. ``calls=False`` ([logging] calls) keeps the
    line per finished call (logger ``dialerd.calls``) out, its warnings in.
    """
    import os

    out = stream or sys.stdout
    chosen: Literal["json", "console"]
    if fmt == "auto":
        chosen = "console" if out.isatty() else "json"
    else:
        chosen = fmt
    timestamps = not (chosen == "json" and os.environ.get("JOURNAL_STREAM"))
    renderer: Processor
    if chosen == "json":
        renderer = structlog.processors.JSONRenderer(default=_json_default)
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=out.isatty())
    shared = _processors(timestamps)
    numeric = logging.getLevelNamesMapping()[level.upper()]

    structlog.configure(
        processors=[
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(numeric)
    # Chatty libraries: their INFO lines are not the operator's business.
    for name in ("aiomqtt", "panoramisk", "uvicorn.access", "aiosqlite", "asyncio"):
        logging.getLogger(name).setLevel(max(numeric, logging.WARNING))
    logging.getLogger(CALLS_LOGGER).setLevel(numeric if calls else max(numeric, logging.WARNING))
    return chosen


def _json_default(value: Any) -> Any:
    return str(value)


def bind_ids(**ids: object) -> None:
    """Bind campaign/contact/attempt/agent ids for the rest of this asyncio context."""
    structlog.contextvars.bind_contextvars(**{k: v for k, v in ids.items() if v is not None})


@contextmanager
def bound_ids(**ids: object) -> Iterator[None]:
    """Bind ids for one block (one attempt's handling) and restore the previous ones after."""
    with structlog.contextvars.bound_contextvars(**{k: v for k, v in ids.items() if v is not None}):
        yield
