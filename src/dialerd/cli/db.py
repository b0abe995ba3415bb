"""Shared plumbing of the commands that use the store: ``--db``, opening, errors, output.

Store errors become one clear line (:class:`CliError`) with a distinct exit code: an
unmigrated database says what to run (EX_CONFIG), a missing campaign/contact is EX_NOINPUT,
a change the data does not allow is EX_DATAERR, an unreachable database EX_UNAVAILABLE.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import asdict, is_dataclass
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Any

from dialerd.cli.errors import (
    EX_CONFIG,
    EX_DATAERR,
    EX_NOINPUT,
    EX_UNAVAILABLE,
    EX_USAGE,
    CliError,
)

if TYPE_CHECKING:
    from dialerd.store import Store

# The store (SQLAlchemy, Alembic) is imported only when a command runs, so that building the
# parser for every command stays quick.


def add_db_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--db",
        metavar="URL",
        help="database URL (default: $DIALERD_DB or sqlite+aiosqlite:///./var/dialerd.sqlite)",
    )


def add_json_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print the result as JSON")


def db_url(args: argparse.Namespace) -> str:
    from dialerd.store import default_url

    return str(getattr(args, "db", None) or default_url())


def actor(args: argparse.Namespace) -> str:
    explicit = getattr(args, "actor", None)
    if explicit:
        return str(explicit)
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def store_error(exc: Exception) -> CliError:
    from dialerd.store import (
        AlreadyExists,
        InvalidChange,
        NotFound,
        SchemaNotCurrent,
        StaleContact,
        StoreUnavailable,
    )

    if isinstance(exc, SchemaNotCurrent):
        return CliError(str(exc), EX_CONFIG)
    if isinstance(exc, NotFound):
        return CliError(str(exc), EX_NOINPUT)
    if isinstance(exc, AlreadyExists | InvalidChange | StaleContact):
        return CliError(str(exc), EX_DATAERR)
    if isinstance(exc, StoreUnavailable):
        return CliError(str(exc), EX_UNAVAILABLE)
    if isinstance(exc, ValueError):
        return CliError(str(exc), EX_USAGE)
    return CliError(str(exc), EX_DATAERR)


@asynccontextmanager
async def open_store(args: argparse.Namespace) -> AsyncIterator[Store]:
    """The migrated store named by ``--db``; store errors leave as one-line CliErrors."""
    from dialerd.store import Store, StoreError

    url = db_url(args)
    try:
        store = await Store.open(url)
    except (StoreError, ValueError) as exc:
        raise store_error(exc) from None
    try:
        yield store
    except StoreError as exc:
        raise store_error(exc) from None
    finally:
        await store.close()


def _plain(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return _plain(asdict(value))
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v) for v in value]
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def write_json(value: Any) -> None:
    sys.stdout.write(json.dumps(_plain(value), indent=2, ensure_ascii=False, default=str) + "\n")


def write_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    text = [[("" if c is None else str(c)) for c in r] for r in rows]
    widths = [len(h) for h in headers]
    for r in text:
        widths = [max(w, len(c)) for w, c in zip(widths, r, strict=True)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()
    out = [line, "  ".join("-" * w for w in widths)]
    for r in text:
        out.append("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    sys.stdout.write("\n".join(out) + "\n")


def when(value: datetime | None) -> str:
    return "" if value is None else value.strftime("%Y-%m-%d %H:%M:%S UTC")
