"""``dialerd migrate``: create or upgrade the database schema (Alembic, shipped in the package)."""

from __future__ import annotations

import argparse
from typing import Any

from dialerd.cli.db import add_db_option, add_json_option, db_url, store_error, write_json


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
    from dialerd.store.engine import display_url
    from dialerd.store.migrate import upgrade

    url = db_url(args)
    try:
        before, after = await upgrade(url)
    except (StoreError, ValueError) as exc:
        raise store_error(exc) from None
    shown = display_url(url)
    if args.json:
        write_json({"database": shown, "from": before, "to": after})
    elif before == after:
        sys.stdout.write(f"{shown}: already at revision {after}\n")
    else:
        sys.stdout.write(f"{shown}: migrated from {before or 'empty'} to {after}\n")
    return 0
