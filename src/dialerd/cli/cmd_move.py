"""``dialerd move`` and ``dialerd edit``: manual operations on one contact or a filtered set.

Both need an explicit selection (``--contact``, ``--task``, ``--status``, ``--detail``,
``--list``, ``--where``) or ``--all``, so a forgotten filter never moves a whole campaign.
Every changed contact gets a history row naming the actor.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from typing import TYPE_CHECKING, Any

from dialerd.cli.db import actor, add_db_option, add_json_option, open_store, write_json
from dialerd.cli.errors import EX_USAGE, CliError
from dialerd.domain.changes import SetChange
from dialerd.domain.clock import SystemClock, iso_utc
from dialerd.domain.enums import Status
from dialerd.domain.selection import (
    ContactSelection,
    parse_condition,
    split_field,
    unknown_fields_problem,
)

if TYPE_CHECKING:
    from dialerd.store import Store


def _selection_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("campaign", metavar="CAMPAIGN")
    p.add_argument("--contact", type=int, action="append", metavar="ID", help="contact id")
    p.add_argument("--task", help="contacts in this task")
    p.add_argument("--status", choices=[s.value for s in Status], help="with this status")
    p.add_argument("--detail", help="with this status_detail")
    p.add_argument("--list", dest="list_name", help="from this import list")
    p.add_argument(
        "--where",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="field condition (also !=, <, <=, >, >=, ~ for contains); repeatable",
    )
    p.add_argument("--all", action="store_true", help="every contact of the campaign")
    p.add_argument("--note", help="note for the history")
    p.add_argument("--actor", help="who does it, for the history (default: login name)")
    add_db_option(p)
    add_json_option(p)


def register(sub: Any) -> None:
    move: argparse.ArgumentParser = sub.add_parser(
        "move", help="move contacts to a task (they enter it as open)"
    )
    _selection_args(move)
    move.add_argument("--to", required=True, metavar="TASK", help="target task")
    when = move.add_mutually_exclusive_group()
    when.add_argument(
        "--delay", metavar="DURATION", help="wait this long before entering (e.g. 2h, 3d)"
    )
    when.add_argument(
        "--at",
        metavar="TIME",
        help="enter at this time (ISO 8601 with offset, e.g. 2026-03-09T08:00+01:00)",
    )
    move.set_defaults(func=run_move)

    edit: argparse.ArgumentParser = sub.add_parser(
        "edit", help="bulk edit fields and/or status of contacts"
    )
    _selection_args(edit)
    edit.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="set a field (first_name, company, ... or a custom field); FIELD= removes a "
        "custom field; repeatable",
    )
    edit.add_argument(
        "--set-status",
        choices=[s.value for s in Status],
        help="new status (the campaign's taskflow rules then apply, as to any status change)",
    )
    edit.add_argument("--set-detail", help="new status_detail")
    edit.set_defaults(func=run_edit)


def selection(args: argparse.Namespace) -> ContactSelection:
    try:
        conditions = tuple(parse_condition(w) for w in args.where)
    except ValueError as exc:
        raise CliError(str(exc), EX_USAGE) from None
    sel = ContactSelection(
        task=args.task,
        status=Status(args.status) if args.status else None,
        status_detail=args.detail,
        list_name=args.list_name,
        contact_ids=tuple(args.contact) if args.contact else None,
        conditions=conditions,
    )
    if sel == ContactSelection() and not args.all:
        raise CliError(
            "no contacts selected: give --contact, --task, --status, --detail, --list or "
            "--where (or --all for the whole campaign)",
            EX_USAGE,
        )
    return sel


async def check_where(store: Store, campaign_id: int, sel: ContactSelection) -> None:
    """A ``--where`` on a field no contact has selects nobody: refuse it, naming the closest
    field (as the API does)."""
    custom = [c.field for c in sel.conditions if split_field(c.field)[0]]
    if custom:
        problem = unknown_fields_problem(custom, await store.custom_field_names(campaign_id))
        if problem is not None:
            raise CliError(f"--where: {problem}", EX_USAGE)


def _enter_at(args: argparse.Namespace, now: datetime) -> datetime | None:
    from dialerd.domain.campaign_spec import parse_duration

    if args.delay is not None:
        try:
            return now + parse_duration(args.delay)
        except ValueError as exc:
            raise CliError(f"--delay: {exc}", EX_USAGE) from None
    if args.at is not None:
        try:
            at = datetime.fromisoformat(args.at)
        except ValueError:
            raise CliError(f"--at: {args.at!r} is not an ISO 8601 time", EX_USAGE) from None
        if at.tzinfo is None:
            raise CliError(f"--at: {args.at!r} needs a UTC offset (e.g. +01:00 or Z)", EX_USAGE)
        return at
    return None


async def run_move(args: argparse.Namespace) -> int:
    sel = selection(args)
    now = SystemClock().now()
    enter_at = _enter_at(args, now)
    async with open_store(args) as store:
        campaign = await store.get_campaign(args.campaign)
        await check_where(store, campaign.id, sel)
        done = await store.move(
            campaign.id,
            sel,
            args.to,
            actor(args),
            now,
            note=args.note,
            enter_at=enter_at,
            refuse_in_call=_one_contact(sel),
        )
    moved = done.changed
    waiting = enter_at is not None and enter_at > now
    if args.json:
        write_json(
            {
                "campaign": campaign.name,
                "to": args.to,
                "moved": moved,
                "enter_at": iso_utc(enter_at) if waiting and enter_at else None,
                "skipped_in_call": done.skipped_in_call,
                "in_call": list(done.in_call),
            }
        )
    elif waiting and enter_at is not None:
        sys.stdout.write(f"{moved} contact(s) waiting to enter {args.to} at {iso_utc(enter_at)}\n")
    else:
        sys.stdout.write(f"{moved} contact(s) moved to {args.to}\n")
    if not args.json:
        _tell_skipped(done)
    return 0


def _one_contact(sel: ContactSelection) -> bool:
    """One contact named by id and nothing else: refused while in a call (exit 75, as the
    API's move or PATCH of one contact answers 409); a set skips its contacts in a call."""
    return (
        sel.contact_ids is not None
        and len(sel.contact_ids) == 1
        and sel == ContactSelection(contact_ids=sel.contact_ids)
    )


def _tell_skipped(done: SetChange) -> None:
    if done.skipped_in_call:
        ids = ", ".join(str(i) for i in done.in_call)
        more = ", ..." if done.skipped_in_call > len(done.in_call) else ""
        sys.stderr.write(
            f"{done.skipped_in_call} contact(s) skipped: in a call right now ({ids}{more}); "
            "their call decides them, run again when it has ended\n"
        )


def _assignments(items: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise CliError(f"--set {item!r} is not FIELD=VALUE", EX_USAGE)
        key, value = item.split("=", 1)
        if not key.strip():
            raise CliError(f"--set {item!r} names no field", EX_USAGE)
        out[key.strip()] = value if value != "" else None
    return out


async def run_edit(args: argparse.Namespace) -> int:
    from dialerd.taskflow.manual import manual_status_moves  # the store, only when it runs

    sel = selection(args)
    fields = _assignments(args.set)
    if not fields and args.set_status is None and args.set_detail is None:
        raise CliError("nothing to change: give --set, --set-status or --set-detail", EX_USAGE)
    async with open_store(args) as store:
        campaign = await store.get_campaign(args.campaign)
        await check_where(store, campaign.id, sel)
        now = SystemClock().now()
        status = Status(args.set_status) if args.set_status else None
        done = await store.bulk_edit(
            campaign.id,
            sel,
            actor(args),
            now,
            fields=fields or None,
            status=status,
            status_detail=args.set_detail,
            note=args.note,
            # a status set by hand moves contacts on by the campaign's rules, as in the API
            moves=await manual_status_moves(store, campaign.id, status, args.set_detail, now),
            refuse_in_call=_one_contact(sel),
        )
    if args.json:
        write_json(
            {
                "campaign": campaign.name,
                "edited": done.changed,
                "skipped_in_call": done.skipped_in_call,
                "in_call": list(done.in_call),
            }
        )
    else:
        sys.stdout.write(f"{done.changed} contact(s) edited\n")
        _tell_skipped(done)
    return 0
