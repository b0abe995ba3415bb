"""``dialerd check-config FILE``: validate a daemon configuration without starting anything.

Meant for deploy scripts and ``ExecStartPre=``: exit 0 with a one-paragraph summary, or every
problem found (file, key, what is wrong) and exit 78 (EX_CONFIG).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from dialerd.cli.errors import EX_CONFIG
from dialerd.config import ConfigError, DaemonConfig, load_config
from dialerd.domain.campaign_spec import (
    CampaignSpec,
    CampaignSpecError,
    campaign_name_problem,
    load_campaign_spec,
    queue_clashes,
)
from dialerd.domain.compliance import tighten
from dialerd.taskflow.tasks import check_tasks


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
    return [
        f"  store: {config.store.display_url()}",
        f"  asterisk: {servers}",
        f"  api: {api_line}",
        f"  mqtt: {mqtt_line}",
        f"  campaigns: {len(config.campaign_paths())} file(s); agents: {len(config.agents)}",
        f"  compliance: calling hours {guard}; abandonment target "
        f"{c.abandonment_target:.1%} over {', '.join(c.abandonment_windows)}",
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


def unknown_agent_campaigns(config: DaemonConfig, names: list[str]) -> list[str]:
    """Agents naming a campaign no file defines: a warning, as the API may create it later."""
    known = set(names)
    return [
        f"agents[{i}].campaigns: {name!r} is not defined by any campaign file; agent"
        f" {agent.name!r} takes no calls of it until a campaign of that name exists"
        for i, agent in enumerate(config.agents)
        for name in agent.campaigns
        if name not in known
    ]


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
    warnings = [
        *odd_campaign_names(names),
        *tightened_campaigns(config),
        *unknown_agent_campaigns(config, names),
    ]
    for warning in warnings:
        sys.stderr.write(f"{args.file}: warning: {warning}\n")
    note = " (secrets not checked)" if args.skip_secrets else ""
    lines = summary(config)
    if names:
        lines.append(f"  campaign names: {', '.join(names)}")
    sys.stdout.write(f"{args.file}: ok{note}\n" + "\n".join(lines) + "\n")
    return 0
