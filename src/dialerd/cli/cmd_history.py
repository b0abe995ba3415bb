"""``dialerd history CONTACT_ID``: a contact, its status history and its attempts."""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict
from typing import Any

from dialerd.cli.db import (
    add_db_option,
    add_json_option,
    open_store,
    when,
    write_json,
    write_table,
)
from dialerd.cli.errors import EX_USAGE, CliError
from dialerd.domain.model import HistoryEntry


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "history", help="status history and attempts of one contact"
    )
    p.add_argument("contact", metavar="CONTACT_ID")
    add_db_option(p)
    add_json_option(p)
    p.set_defaults(func=run)


async def run(args: argparse.Namespace) -> int:
    try:
        contact_id = int(args.contact)
    except ValueError:
        raise CliError(f"CONTACT_ID must be a number, not {args.contact!r}", EX_USAGE) from None
    async with open_store(args) as store:
        contact = await store.get_contact(contact_id)
        history = await store.history(contact_id)
        attempts = await store.attempts(contact_id)
        tasks = {t.id: t.name for t in await store.tasks(contact.campaign_id)}
        campaign = await store.get_campaign(contact.campaign_id)
    if args.json:
        write_json(
            {
                "contact": contact,
                "campaign": campaign.name,
                "task": tasks.get(contact.task_id),
                "history": [
                    {
                        **_entry(h),
                        "from_task": tasks.get(h.from_task_id or -1),
                        "to_task": tasks.get(h.to_task_id or -1),
                    }
                    for h in history
                ],
                "attempts": attempts,
            }
        )
        return 0
    out = sys.stdout.write
    name = " ".join(p for p in (contact.first_name, contact.last_name) if p) or "-"
    out(
        f"contact {contact.id} in campaign {campaign.name}: {name}"
        + (f", {contact.company}" if contact.company else "")
        + f", {contact.phone or 'no phone'}\n"
    )
    out(
        f"  now in task {tasks.get(contact.task_id)}: {contact.status.value} "
        f"{contact.status_detail}, {contact.attempts} attempt(s) in this task"
        + (f", due {when(contact.due_at)}" if contact.due_at else "")
        + (f" for {contact.follow_up_agent}" if contact.follow_up_agent else "")
        + (
            f", waiting for {tasks.get(contact.pending_task_id)} at {when(contact.pending_due_at)}"
            if contact.pending_task_id
            else ""
        )
        + "\n\n"
    )
    if history:
        write_table(
            ["at", "actor", "from", "to", "note"],
            [
                (
                    when(h.at),
                    h.actor,
                    f"{tasks.get(h.from_task_id or -1)}/{_v(h.from_status)}/{h.from_detail}",
                    f"{tasks.get(h.to_task_id or -1)}/{_v(h.to_status)}/{h.to_detail}",
                    h.note or "",
                )
                for h in history
            ],
        )
    else:
        out("no status changes yet\n")
    if attempts:
        out("\n")
        write_table(
            ["attempt", "originated", "result", "agent", "cause", "disposition"],
            [
                (
                    a.id,
                    when(a.originated_at),
                    a.result.value if a.result else "in progress",
                    a.agent,
                    a.cause,
                    a.disposition,
                )
                for a in attempts
            ],
        )
    return 0


def _v(value: Any) -> str:
    return "" if value is None else str(getattr(value, "value", value))


def _entry(h: HistoryEntry) -> dict[str, Any]:
    return asdict(h)
