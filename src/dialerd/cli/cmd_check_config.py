"""``dialerd check-config FILE``: validate a daemon configuration without starting anything.

Meant for deploy scripts and ``ExecStartPre=``: exit 0 with a one-paragraph summary, or every
problem found (file, key, what is wrong) and exit 78 (EX_CONFIG).

When it can, it also reads the campaigns in the configured store (never writing, never creating
it; ``--no-store`` skips that): a campaign file whose queue a stored campaign has (the daemon
would skip that file) and an agent naming a campaign neither a file nor the store defines are
warnings. A store it cannot read is named in the summary and the check goes on without it.

A ``filter`` condition or the ``sort`` (campaign file or stored campaign) on a field none of
the campaign's contacts has is a warning naming the closest field: the campaign would dial
nobody (a filter) or in id order (a sort), silently. Without the store (or before any
contact is stored) only a name close to a contact column (``lsit_name``) can be told from a
custom field still to come, and is warned of.

When it can, it also asks each ``[[asterisk]]`` server (over AMI, ``QueueStatus`` per queue;
``--no-asterisk`` skips that) whether it has every queue the campaigns need on it: each
campaign's queue and each agent's own queue ``<queue>.<agent>``, on the server the agent logs
in to. A missing queue is a warning (the daemon runs, but that campaign or agent gets no calls
until the queue is defined and ``module reload app_queue`` run). A server it cannot reach is
named in the summary ("not checked"): the check is only as good as a live server's answer.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from dialerd.cli.errors import EX_CONFIG
from dialerd.config import ConfigError, DaemonConfig, load_config
from dialerd.domain.campaign_spec import (
    CampaignSpec,
    CampaignSpecError,
    campaign_name_problem,
    default_queue,
    load_campaign_spec,
    named_fields,
    queue_clash,
    queue_clashes,
)
from dialerd.domain.compliance import tighten
from dialerd.domain.enums import DialMode
from dialerd.domain.selection import split_field, unknown_definition_fields
from dialerd.engine.queues import CampaignQueue, needed_queues
from dialerd.taskflow.tasks import check_tasks

ASTERISK_TIMEOUT = 10.0
"""Seconds to log in to one Asterisk server and ask for its queues (ExecStartPre)."""
STORE_TIMEOUT = 10.0
"""Seconds to read the store's campaigns: check-config runs as ExecStartPre, it must not hang."""
FIELDS_TIMEOUT = 10.0
"""Seconds to read the custom field names of the contacts of campaigns with a filter (it reads
every contact's fields); past it the filters and sorts are checked as without the store."""


@dataclass
class StoredCampaigns:
    """What check-config reads from the store."""

    queues: dict[str, str] = field(default_factory=dict)
    #: ``(key, field name)`` of each stored campaign's filter conditions and sort.
    fields: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    #: The custom fields of the contacts of each campaign with a filter or sort on one, when
    #: it has contacts and they could be read in time.
    contact_fields: dict[str, set[str]] = field(default_factory=dict)
    #: Stored campaigns in preview mode (their agents join their own queues only).
    preview: set[str] = field(default_factory=set)


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "check-config", help="validate a daemon configuration file"
    )
    p.add_argument("file", metavar="FILE", help="the daemon TOML file")
    p.add_argument(
        "--dump",
        action="store_true",
        help="print the effective configuration as JSON (secrets masked)",
    )
    p.add_argument(
        "--skip-secrets",
        action="store_true",
        help="do not read secrets (env, files, credentials): check everything else",
    )
    p.add_argument(
        "--no-asterisk",
        action="store_true",
        help="do not ask the Asterisk servers (by default each is asked over AMI, if it can be"
        " reached, whether it has the queues the campaigns and agents need)",
    )
    p.add_argument(
        "--no-store",
        action="store_true",
        help="do not open the configured store (by default it is read, if it can be, to check"
        " the campaign files and agents against the campaigns stored there)",
    )
    p.set_defaults(func=run)


def summary(config: DaemonConfig) -> list[str]:
    servers = ", ".join(
        f"{s.name} {s.host}:{s.port} ({s.max_concurrent_calls} lines)" for s in config.asterisk
    )
    api = config.api
    if api.enabled:
        metrics = (
            f"metrics on {api.metrics_host or api.host}:{api.metrics_port}"
            if api.metrics_port is not None
            else "metrics on the same port"
        )
        api_line = f"{api.host}:{api.port}, {metrics}, {len(api.tokens)} token(s)"
    else:
        api_line = "off"
    mqtt = config.mqtt
    mqtt_line = f"{mqtt.host}:{mqtt.port} prefix {mqtt.topic_prefix!r}" if mqtt.enabled else "off"
    c = config.compliance
    guard = (
        f"{c.calling_hours_start:%H:%M}-{c.calling_hours_end:%H:%M} contact local time"
        if c.calling_hours_guard
        else "OFF"
    )
    cap = (
        f"; at most {c.max_calls_per_day} calls per number in 24 h"
        if c.max_calls_per_day is not None
        else ""
    )
    return [
        f"  store: {config.store.display_url()}",
        f"  asterisk: {servers}",
        f"  api: {api_line}",
        f"  mqtt: {mqtt_line}",
        f"  campaigns: {len(config.campaign_paths())} file(s); agents: {len(config.agents)}",
        f"  compliance: calling hours {guard}; abandonment target "
        f"{c.abandonment_target:.1%} over {', '.join(c.abandonment_windows)}{cap}",
        f"  state directory: {config.engine.state_directory()} (journal of what a database"
        " outage left unwritten)",
    ]


def check_campaigns(config: DaemonConfig) -> tuple[list[str], list[str]]:
    """Validate every campaign file the config names: (campaign names, problems)."""
    names: list[str] = []
    problems: list[str] = []
    seen: dict[str, str] = {}
    specs: list[tuple[str, CampaignSpec]] = []
    for path in config.campaign_paths():
        try:
            spec = load_campaign_spec(path)
        except CampaignSpecError as exc:
            problems.extend(str(exc).split("; "))
            continue
        if spec.name in seen:
            problems.append(
                f"{path}: name: campaign {spec.name!r} is also defined in {seen[spec.name]}"
            )
            continue
        seen[spec.name] = str(path)
        names.append(spec.name)
        specs.append((str(path), spec))
        problems.extend(f"{path}: {p}" for p in check_tasks(spec))
    problems.extend(queue_clashes(specs))
    return names, problems


def tightened_campaigns(config: DaemonConfig) -> list[str]:
    """What the daemon's [compliance] floor will change in each campaign file (a warning: the
    daemon applies it and logs it, but the file's author should know before the start)."""
    floor = config.compliance.to_domain()
    out: list[str] = []
    for path in config.campaign_paths():
        try:
            spec = load_campaign_spec(path)
        except CampaignSpecError:
            continue  # reported as a problem
        out.extend(f"{path}: {note}" for note in tighten(spec, floor)[1])
    return out


def odd_campaign_names(names: list[str]) -> list[str]:
    """Campaign files whose name the daemon does not take for a new campaign: a warning, not a
    problem, since a campaign stored under that name before keeps working (and this check runs
    before every start, see systemd/dialerd.service)."""
    out = []
    for name in names:
        problem = campaign_name_problem(name)
        if problem is not None:
            out.append(
                f"campaign {problem}; the daemon refuses to create it, a campaign of that"
                " name stored before keeps working"
            )
    return out


def unknown_agent_campaigns(
    config: DaemonConfig, names: list[str], stored: dict[str, str] | None = None
) -> list[str]:
    """Agents naming a campaign neither a file nor (when it could be read) the store defines: a
    warning, as the API may create it later."""
    known = set(names) | set(stored or {})
    where = (
        "is not defined by any campaign file nor stored"
        if stored is not None
        else "is not defined by any campaign file (it may exist in the store, not checked)"
    )
    return [
        f"agents[{i}].campaigns: {name!r} {where}; agent"
        f" {agent.name!r} takes no calls of it until a campaign of that name exists"
        for i, agent in enumerate(config.agents)
        for name in agent.campaigns
        if name not in known
    ]


def stored_queue_clashes(config: DaemonConfig, stored: dict[str, str]) -> list[str]:
    """Campaign files whose queue another stored campaign has (given it through the API): the
    daemon does not apply such a file (it logs why and goes on with the others) whenever the
    file is new or changed, until one of the two queues changes."""
    out: list[str] = []
    for path in config.campaign_paths():
        try:
            spec = load_campaign_spec(path)
        except CampaignSpecError:
            continue  # reported as a problem
        for name, queue in sorted(stored.items()):
            if name == spec.name:
                continue
            why = queue_clash(spec.queue_name, queue, name)
            if why is not None:
                out.append(
                    f"{path}: queue: campaign {spec.name!r}: {why} (in the store); the daemon"
                    " does not apply this file while that lasts: give one of the two campaigns"
                    " another queue (the file, or PATCH /api/v1/campaigns/" + name + ")"
                )
    return out


async def _read_store(config: DaemonConfig) -> StoredCampaigns:
    from dialerd.store import Store

    out = StoredCampaigns()
    async with asyncio.timeout(STORE_TIMEOUT):
        store = await Store.open(config.store.dsn())
    try:
        async with asyncio.timeout(STORE_TIMEOUT):
            campaigns = await store.list_campaigns()
        for c in campaigns:
            out.queues[c.name] = c.settings.get("queue") or default_queue(c.name)
            out.fields[c.name] = named_fields(c.settings)
            with contextlib.suppress(ValueError):  # a definition the daemon would refuse
                if CampaignSpec.model_validate(c.settings).dial.mode is DialMode.PREVIEW:
                    out.preview.add(c.name)
        files = {n: spec.named_fields() for n, spec in _file_specs(config)}
        with contextlib.suppress(TimeoutError):  # then checked as without the store
            async with asyncio.timeout(FIELDS_TIMEOUT):
                for c in campaigns:
                    names = out.fields[c.name] + files.get(c.name, [])
                    custom = any(split_field(n)[0] for _, n in names)
                    if custom and await store.count_contacts(c.id):
                        out.contact_fields[c.name] = await store.custom_field_names(c.id)
    finally:
        await store.close()
    return out


def _file_specs(config: DaemonConfig) -> list[tuple[str, CampaignSpec]]:
    """(campaign name, definition) of each campaign file that loads."""
    out = []
    for path in config.campaign_paths():
        try:
            spec = load_campaign_spec(path)
        except CampaignSpecError:
            continue  # reported as a problem
        out.append((spec.name, spec))
    return out


def _field_problems(named: Sequence[tuple[str, str]], known: set[str] | None) -> list[str]:
    """Warnings for the field names of one definition's filter and sort (``known``: the
    contacts' custom fields, None: not known)."""
    return [f"{u.key}: {u.problem}" for u in unknown_definition_fields(named, known)]


def unknown_filter_fields(config: DaemonConfig, stored: StoredCampaigns | None) -> list[str]:
    """Filter conditions and sorts of campaign files and stored campaigns on fields the
    campaign's contacts do not have (see the module docstring)."""
    fields = stored.contact_fields if stored is not None else {}
    out: list[str] = []
    files: set[str] = set()
    for path in config.campaign_paths():
        try:
            spec = load_campaign_spec(path)
        except CampaignSpecError:
            continue  # reported as a problem
        files.add(spec.name)
        out.extend(
            f"{path}: {p}" for p in _field_problems(spec.named_fields(), fields.get(spec.name))
        )
    for name, named in sorted((stored.fields if stored is not None else {}).items()):
        if name not in files:
            out.extend(
                f"campaign {name!r} (stored): {p}" for p in _field_problems(named, fields.get(name))
            )
    return out


def stored_campaigns(config: DaemonConfig) -> tuple[StoredCampaigns | None, str | None]:
    """The stored campaigns and their queues, or None and why they could not be read (a store
    not created yet, not migrated, not reachable: the check goes on without it)."""
    from dialerd.store import StoreError

    try:
        return asyncio.run(_read_store(config)), None
    except TimeoutError:
        return None, f"no answer within {STORE_TIMEOUT:g} s"
    except (StoreError, ValueError, OSError) as exc:
        return None, str(exc).splitlines()[0]


def _campaign_queues(config: DaemonConfig, stored: StoredCampaigns | None) -> list[CampaignQueue]:
    """Every campaign the daemon would run: its files, then the stored ones no file defines."""
    out = [
        CampaignQueue(name, spec.queue_name, spec.dial.mode is DialMode.PREVIEW)
        for name, spec in _file_specs(config)
    ]
    files = {c.campaign for c in out}
    if stored is not None:
        out += [
            CampaignQueue(name, queue, name in stored.preview)
            for name, queue in sorted(stored.queues.items())
            if name not in files
        ]
    return out


async def _server_queues(entry: Any, queues: Sequence[str]) -> list[str]:
    """The ``queues`` the server lacks. Raises ``TimeoutError`` or ``AmiError`` (with why)."""
    from dialerd.ami import AmiError, AsteriskServer, LinkState, ServerConfig

    cfg = ServerConfig(
        name=entry.name,
        host=entry.host,
        port=entry.port,
        username=entry.username,
        secret=entry.secret.get_secret_value(),
        connect_timeout=entry.connect_timeout,
        action_timeout=entry.action_timeout,
    )
    async with AsteriskServer(cfg) as server:
        state = await server.link.wait_for_state(
            LinkState.READY, LinkState.LOST, LinkState.FAILED_AUTH
        )
        if state is not LinkState.READY:
            raise AmiError(server.link.last_error or state.value)
        return [q for q in queues if not await server.queue_defined(q)]


@contextlib.contextmanager
def _quiet_logs() -> Iterator[None]:
    """No structlog lines (the AMI link logs its states) on check-config's output."""
    import structlog

    before = structlog.get_config()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.CRITICAL))
    try:
        yield
    finally:
        structlog.configure(**before)


def asterisk_queues(
    config: DaemonConfig, stored: StoredCampaigns | None
) -> tuple[list[str], list[str]]:
    """(warnings for the queues a server lacks, one summary line per server)."""
    from dialerd.ami import AmiError
    from dialerd.domain.model import Agent

    servers = [s.name for s in config.asterisk]
    agents = [
        (
            Agent(a.name, a.interface, tuple(a.campaigns), tuple(a.skills)),
            a.server or servers[0],
        )
        for a in config.agents
    ]
    needed = needed_queues(agents, _campaign_queues(config, stored))
    warnings: list[str] = []
    lines: list[str] = []
    for i, entry in enumerate(config.asterisk):
        wanted = needed.get(entry.name, {})
        if not wanted:
            lines.append(f"  asterisk {entry.name} queues: none needed (no agent logs in there)")
            continue
        try:
            with _quiet_logs():  # the link's own lines; the summary says what came of it
                missing = asyncio.run(
                    asyncio.wait_for(_server_queues(entry, list(wanted)), ASTERISK_TIMEOUT)
                )
        except TimeoutError:
            why = f"no answer within {ASTERISK_TIMEOUT:g} s"
        except (AmiError, OSError) as exc:
            why = str(exc).splitlines()[0]
        else:
            lines.append(
                f"  asterisk {entry.name} queues: {len(wanted) - len(missing)} of"
                f" {len(wanted)} defined"
            )
            warnings += [
                f"asterisk[{i}] ({entry.name}): queue {q!r} is missing in Asterisk (needed by"
                f" {', '.join(wanted[q])}); no calls are sent to it until it is defined in"
                " queues.conf and 'module reload app_queue' is run"
                for q in missing
            ]
            continue
        lines.append(
            f"  asterisk {entry.name} queues: not checked: {why} (only a live server's answer"
            " tells whether its queues.conf has them)"
        )
    return warnings, lines


def run(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.file, resolve_secrets=not args.skip_secrets)
    except ConfigError as exc:
        # One line per problem (not CliError's single line): fix them all in one pass.
        count = len(exc.problems)
        sys.stderr.write(f"{exc}\n{args.file}: {count} problem{'s' if count != 1 else ''}\n")
        return EX_CONFIG
    names, problems = check_campaigns(config)
    if problems:
        count = len(problems)
        sys.stderr.write(
            "\n".join(problems) + f"\n{args.file}: {count} problem{'s' if count != 1 else ''}\n"
        )
        return EX_CONFIG
    if args.dump:
        sys.stdout.write(json.dumps(config.model_dump(mode="json"), indent=2) + "\n")
        return 0
    stored: StoredCampaigns | None = None
    store_note = "not read (--no-store)"
    if args.skip_secrets:
        store_note = "not read (--skip-secrets)"
    elif not args.no_store:
        stored, why = stored_campaigns(config)
        store_note = (
            f"{len(stored.queues)} campaign(s) stored" if stored is not None else f"not read: {why}"
        )
    warnings = [
        *odd_campaign_names(names),
        *tightened_campaigns(config),
        *unknown_agent_campaigns(config, names, stored.queues if stored is not None else None),
        *unknown_filter_fields(config, stored),
    ]
    if stored is not None:
        warnings.extend(stored_queue_clashes(config, stored.queues))
    if args.skip_secrets or args.no_asterisk:
        why = "--skip-secrets" if args.skip_secrets else "--no-asterisk"
        asterisk_lines = [f"  asterisk queues: not checked ({why})"]
    else:
        queue_warnings, asterisk_lines = asterisk_queues(config, stored)
        warnings.extend(queue_warnings)
    for warning in warnings:
        sys.stderr.write(f"{args.file}: warning: {warning}\n")
    note = " (secrets not checked)" if args.skip_secrets else ""
    lines = summary(config)
    lines.append(f"  store contents: {store_note}")
    lines.extend(asterisk_lines)
    if names:
        lines.append(f"  campaign names: {', '.join(names)}")
    sys.stdout.write(f"{args.file}: ok{note}\n" + "\n".join(lines) + "\n")
    return 0
