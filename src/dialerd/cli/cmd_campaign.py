"""``dialerd campaign create FILE | list | show NAME``: campaigns from TOML definitions."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dialerd.cli.db import (
    add_db_option,
    add_json_option,
    daemon_config,
    open_store,
    write_json,
    write_table,
)
from dialerd.cli.errors import EX_CONFIG, EX_DATAERR, CliError
from dialerd.domain.clock import SystemClock
from dialerd.domain.enums import DialMode, TaskType

if TYPE_CHECKING:
    from dialerd.domain.campaign_spec import CampaignSpec
    from dialerd.domain.model import RetryPolicy
    from dialerd.store import Store


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser("campaign", help="create, list, show campaigns")
    csub = p.add_subparsers(dest="campaign_command", metavar="ACTION")
    csub.required = True

    create = csub.add_parser("create", help="create a campaign from a TOML definition")
    create.add_argument("file", metavar="FILE", type=Path, help="campaign definition (TOML)")
    create.add_argument(
        "--update",
        action="store_true",
        help="replace the definition of an existing campaign of that name (keeps contacts)",
    )
    create.add_argument(
        "--check", action="store_true", help="only validate the file, change nothing"
    )
    add_db_option(create)
    add_json_option(create)
    create.set_defaults(func=run_create)

    lst = csub.add_parser("list", help="list campaigns")
    add_db_option(lst)
    add_json_option(lst)
    lst.set_defaults(func=run_list)

    show = csub.add_parser("show", help="show one campaign: settings, tasks, rules")
    show.add_argument("name", metavar="NAME")
    add_db_option(show)
    add_json_option(show)
    show.set_defaults(func=run_show)


async def run_create(args: argparse.Namespace) -> int:
    from dialerd.domain.campaign_spec import (
        CampaignSpecError,
        campaign_name_problem,
        load_campaign_spec,
    )
    from dialerd.store import AlreadyExists

    try:
        spec = load_campaign_spec(args.file)
    except CampaignSpecError as exc:
        raise CliError(str(exc), EX_CONFIG) from None
    from dialerd.taskflow.tasks import check_tasks

    problems = check_tasks(spec)
    name_problem = campaign_name_problem(spec.name)
    if name_problem is not None and not args.update:
        problems.insert(0, f"name: {name_problem}")
    if problems:
        raise CliError(f"{args.file}: " + "; ".join(problems), EX_CONFIG)
    if args.check:
        sys.stdout.write(f"{args.file}: campaign {spec.name!r} is valid\n")
        return 0
    # With --config, stored held to the daemon's [compliance] as the daemon and the API store
    # it; with --db the floor is not known here (the engine still dials by it).
    config = daemon_config(args)
    tightened: list[str] = []
    if config is not None:
        from dialerd.domain.compliance import tighten

        spec, tightened = tighten(spec, config.compliance.to_domain())
        for note in tightened:
            sys.stderr.write(f"dialerd: warning: {args.file}: {note}\n")
    now = SystemClock().now()
    async with open_store(args) as store:
        if args.update:
            campaign = await store.update_campaign(spec, now)
        else:
            try:
                campaign = await store.create_campaign(spec, now)
            except AlreadyExists as exc:
                raise CliError(
                    f"{exc} (use --update to replace its definition)", EX_DATAERR
                ) from None
        tasks = await store.tasks(campaign.id)
        for warning in await _unknown_fields(store, campaign.id, spec):
            sys.stderr.write(f"dialerd: warning: {args.file}: {warning}\n")
    if args.json:
        write_json(
            {
                "id": campaign.id,
                "name": campaign.name,
                "tasks": [t.name for t in tasks],
                "tightened": tightened,
            }
        )
    else:
        verb = "updated" if args.update else "created"
        sys.stdout.write(
            f"campaign {campaign.name!r} {verb} (id {campaign.id}): {len(tasks)} task(s), "
            f"{len(spec.rules)} rule(s), status {campaign.status.value}, "
            f"{campaign.dial_mode.value}\n"
        )
    return 0


async def _unknown_fields(store: Store, campaign_id: int, spec: CampaignSpec) -> list[str]:
    """The definition's filter and sort field names the campaign's contacts do not have (a
    filter on one dials nobody, a sort on one dials in id order): stored all the same, as the
    daemon applies such a campaign file (the contacts may come later), with a warning."""
    from dialerd.domain.selection import split_field, unknown_definition_fields

    named = spec.named_fields()
    known: set[str] | None = None
    if any(split_field(n)[0] for _, n in named) and await store.count_contacts(campaign_id):
        known = await store.custom_field_names(campaign_id)
    return [f"{u.key}: {u.problem}" for u in unknown_definition_fields(named, known)]


async def run_list(args: argparse.Namespace) -> int:
    async with open_store(args) as store:
        campaigns = await store.list_campaigns()
        counts = {c.id: await store.count_contacts(c.id) for c in campaigns}
    if args.json:
        write_json(
            [
                {
                    "id": c.id,
                    "name": c.name,
                    "status": c.status.value,
                    "dial_mode": c.dial_mode.value,
                    "timezone": c.timezone,
                    "contacts": counts[c.id],
                }
                for c in campaigns
            ]
        )
        return 0
    if not campaigns:
        sys.stdout.write("no campaigns (create one: dialerd campaign create FILE)\n")
        return 0
    write_table(
        ["id", "name", "status", "mode", "timezone", "contacts"],
        [
            (c.id, c.name, c.status.value, c.dial_mode.value, c.timezone, counts[c.id])
            for c in campaigns
        ],
    )
    return 0


async def run_show(args: argparse.Namespace) -> int:
    from dialerd.domain.campaign_spec import format_duration

    async with open_store(args) as store:
        campaign = await store.get_campaign(args.name)
        spec = await store.campaign_spec(campaign.id)
        tasks = await store.tasks(campaign.id)
        rules = await store.rules(campaign.id)
        contacts = await store.count_contacts(campaign.id)
    if args.json:
        write_json(
            {
                "id": campaign.id,
                "name": campaign.name,
                "status": campaign.status.value,
                "contacts": contacts,
                "definition": spec.model_dump(mode="json", by_alias=True),
                "tasks": [{"id": t.id, "name": t.name, "type": t.type.value} for t in tasks],
            }
        )
        return 0
    out = sys.stdout.write
    out(f"campaign {campaign.name} (id {campaign.id})\n")
    if spec.description:
        out(f"  {spec.description}\n")
    out(f"  status {campaign.status.value}, {spec.dial.mode.value}, time zone {spec.timezone}\n")
    out(
        f"  abandonment target {spec.dial.abandonment_target:.1%} over "
        f"{', '.join(spec.dial.abandonment_windows)}; connect limit "
        f"{format_duration(spec.connect_limit)}; ring timeout {format_duration(spec.ring_timeout)}"
        + (
            f" (predictive: {format_duration(spec.dial.min_ring)} when late answers are rare)"
            if spec.dial.mode is DialMode.PREDICTIVE and spec.dial.min_ring < spec.ring_timeout
            else ""
        )
        + f"; hold-off after abandon {format_duration(spec.abandon_hold_off)}\n"
    )
    hours = spec.calling_hours
    out(
        "  calling hours "
        + (f"{hours.start:%H:%M}-{hours.end:%H:%M} contact local" if hours.enabled else "OFF")
        + f"; queue {spec.queue_name}; {contacts} contact(s)\n\n"
    )
    config = daemon_config(args)
    base = config.retry.to_domain() if config is not None else None
    own = {t.name for t in spec.tasks if t.retry is not None}
    write_table(
        ["task", "type", "retry"],
        [
            (t.name, t.type.value, _retry_text(spec, t.name, base, own))
            if t.type is TaskType.CALL
            else (t.name, t.type.value, "")
            for t in tasks
        ],
    )
    if rules:
        out("\n")
        write_table(
            ["from", "status", "detail", "to", "delay"],
            [
                (
                    r.from_task,
                    r.status.value,
                    r.status_detail or "*",
                    r.to_task,
                    format_duration(r.delay),
                )
                for r in rules
            ],
        )
    return 0


def _retry_text(spec: CampaignSpec, task: str, base: RetryPolicy | None, own: set[str]) -> str:
    from dialerd.domain.campaign_spec import format_duration

    policy = spec.retry_policy(task, base)
    text = (
        ", ".join(
            f"{r.value} {format_duration(rule.delay)} x{rule.max_attempts}"
            for r, rule in policy.rules.items()
        )
        + f" (max {policy.max_attempts})"
    )
    if spec.retry is None and task not in own:
        text += (
            " from the daemon's [retry]"
            if base is not None
            else " from [retry] (its defaults; --config shows the daemon's)"
        )
    return text
