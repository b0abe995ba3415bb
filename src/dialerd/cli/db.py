"""Shared plumbing of the commands that use the store: ``--db``/``--config``, opening, errors,
output.

Every command that opens the store takes one of ``--db URL`` or ``--config FILE`` (the daemon's
configuration: its ``[store]`` URL and password, read exactly as the daemon reads them, also
from a systemd credential); with neither, ``$DIALERD_DB`` or ``./var/dialerd.sqlite``. Only
``dialerd migrate`` creates a database; the other commands never create a file.

Store errors become one clear line (:class:`CliError`) with a distinct exit code: an
unmigrated database says what to run (EX_CONFIG), a missing campaign/contact is EX_NOINPUT,
a change the data does not allow is EX_DATAERR, an unreachable database EX_UNAVAILABLE; a bad
configuration file is EX_CONFIG with one line per problem.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field, is_dataclass
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dialerd.cli.errors import (
    EX_CONFIG,
    EX_DATAERR,
    EX_NOINPUT,
    EX_TEMPFAIL,
    EX_UNAVAILABLE,
    EX_USAGE,
    CliError,
)
from dialerd.domain.clock import iso_utc

if TYPE_CHECKING:
    from dialerd.config import DaemonConfig
    from dialerd.store import Store

# The store (SQLAlchemy, Alembic) is imported only when a command runs, so that building the
# parser for every command stays quick.


def add_db_option(p: argparse.ArgumentParser) -> None:
    """``--db URL`` or ``--config FILE``: the one way every store command names its store."""
    where = p.add_mutually_exclusive_group()
    where.add_argument(
        "--db",
        metavar="URL",
        help="database URL (default: $DIALERD_DB or sqlite+aiosqlite:///./var/dialerd.sqlite)",
    )
    where.add_argument(
        "--config",
        metavar="FILE",
        type=Path,
        help="the daemon's configuration file: its [store] url and password (password_env, "
        "_file, _credential as the daemon reads them)",
    )


@dataclass(frozen=True, slots=True)
class StoreTarget:
    """The store a command opens: ``url`` holds the password (never show it), ``shown`` not."""

    url: str = field(repr=False)
    shown: str
    migrate: str
    """The command that migrates this store, for messages."""
    config: DaemonConfig | None = None


def store_target(args: argparse.Namespace) -> StoreTarget:
    """The store named by ``--config``, ``--db``, ``$DIALERD_DB`` or the default (loaded once)."""
    cached = getattr(args, "_store_target", None)
    if isinstance(cached, StoreTarget):
        return cached
    path = getattr(args, "config", None)
    if path is not None:
        from dialerd.config import ConfigError, load_store_config

        try:
            config = load_store_config(path)
        except ConfigError as exc:
            raise CliError(str(exc), EX_CONFIG) from None
        target = StoreTarget(
            config.store.dsn(),
            config.store.display_url(),
            f"dialerd migrate --config {path}",
            config,
        )
    else:
        from dialerd.store import default_url
        from dialerd.store.engine import display_url

        url = str(getattr(args, "db", None) or default_url())
        try:
            shown = display_url(url)
        except Exception:  # not a URL: opening it says so
            shown = url
        target = StoreTarget(url, shown, f"dialerd migrate --db {shown}")
    args._store_target = target
    return target


def daemon_config(args: argparse.Namespace) -> DaemonConfig | None:
    """The daemon's configuration given with ``--config`` (None with ``--db``)."""
    return store_target(args).config


def add_json_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print the result as JSON")


def db_url(args: argparse.Namespace) -> str:
    """The URL to connect with (password included: never print it; see :class:`StoreTarget`)."""
    return store_target(args).url


def actor(args: argparse.Namespace) -> str:
    explicit = getattr(args, "actor", None)
    if explicit:
        return str(explicit)
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def store_error(exc: Exception, args: argparse.Namespace | None = None) -> CliError:
    """``exc`` as one line; with ``args``, an unmigrated store names the command's own
    ``--db``/``--config`` in the migrate advice."""
    from dialerd.store import (
        AlreadyExists,
        ContactInCall,
        InvalidChange,
        NotFound,
        SchemaNotCurrent,
        StaleContact,
        StoreUnavailable,
    )

    if isinstance(exc, SchemaNotCurrent):
        if args is not None:
            exc = exc.advising(store_target(args).migrate)
        return CliError(str(exc), EX_CONFIG)
    if isinstance(exc, NotFound):
        return CliError(str(exc), EX_NOINPUT)
    if isinstance(exc, ContactInCall):
        # The API's 409 for a contact in a call: nothing wrong with the request, try again
        # when the call has ended.
        return CliError(str(exc), EX_TEMPFAIL)
    if isinstance(exc, AlreadyExists | InvalidChange | StaleContact):
        return CliError(str(exc), EX_DATAERR)
    if isinstance(exc, StoreUnavailable):
        return CliError(str(exc), EX_UNAVAILABLE)
    if isinstance(exc, ValueError):
        return CliError(str(exc), EX_USAGE)
    return CliError(str(exc), EX_DATAERR)


@asynccontextmanager
async def open_store(args: argparse.Namespace) -> AsyncIterator[Store]:
    """The migrated store named by ``--db``/``--config``; store errors leave as one-line
    CliErrors. A store that does not exist is not created."""
    from dialerd.store import Store, StoreError

    url = db_url(args)
    try:
        store = await Store.open(url)
    except (StoreError, ValueError) as exc:
        raise store_error(exc, args) from None
    try:
        yield store
    except StoreError as exc:
        raise store_error(exc, args) from None
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
        return iso_utc(value)
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
