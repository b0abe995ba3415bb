"""``dialerd overview CAMPAIGN``: contacts per task x status x status_detail, waiting included."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from dialerd.cli.db import (
    add_db_option,
    add_json_option,
    open_store,
    when,
    write_json,
    write_table,
)


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "overview", help="contacts per task, status and status_detail"
    )
    p.add_argument("campaign", metavar="CAMPAIGN")
    add_db_option(p)
    add_json_option(p)
    p.set_defaults(func=run)


async def run(args: argparse.Namespace) -> int:
    async with open_store(args) as store:
        campaign = await store.get_campaign(args.campaign)
        rows = await store.overview(campaign.id)
    if args.json:
        write_json({"campaign": campaign.name, "rows": rows})
        return 0
    total = sum(r.count for r in rows)
    sys.stdout.write(f"campaign {campaign.name}: {total} contact(s)\n")
    if not rows:
        return 0
    write_table(
        ["task", "status", "status_detail", "contacts", "waiting for", "next due"],
        [
            (r.task, r.status.value, r.status_detail, r.count, r.waiting_for, when(r.next_due))
            for r in rows
        ],
    )
    return 0
