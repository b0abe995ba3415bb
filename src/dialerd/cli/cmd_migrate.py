"""``dialerd migrate``: create or upgrade the database schema (Alembic, shipped in the package).

``--config FILE`` migrates the daemon's own store (its ``[store]`` url and password, e.g. from a
systemd credential), ``--db URL`` any other.
"""

from __future__ import annotations

import argparse
from typing import Any

from dialerd.cli.db import add_db_option, add_json_option, store_error, store_target, write_json


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "migrate", help="create or upgrade the database schema"
    )
    add_db_option(p)
    add_json_option(p)
    p.set_defaults(func=run)


async def run(args: argparse.Namespace) -> int:
    import sys

    from dialerd.store import StoreError
    from dialerd.store.migrate import upgrade

    target = store_target(args)
    try:
        before, after = await upgrade(target.url)
    except (StoreError, ValueError) as exc:
        raise store_error(exc) from None
    shown = target.shown
    if args.json:
        write_json({"database": shown, "from": before, "to": after})
    elif before == after:
        sys.stdout.write(f"{shown}: already at revision {after}\n")
    else:
        sys.stdout.write(f"{shown}: migrated from {before or 'empty'} to {after}\n")
    return 0
