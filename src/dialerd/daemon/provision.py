"""Bring the store in line with the configuration: campaign files and agents.

Campaign files named by ``[[campaigns]]`` define their campaigns; at start and on SIGHUP a new
file's campaign is created, and a file whose definition changed since it was last applied is
applied again. An unchanged file is left alone, so changes made through the API since (a
campaign stopped by a supervisor) stay; a changed file wins over them, except the status, which
it changes only if the file's own status changed (the rule: :mod:`dialerd.domain.campaign_file`),
and a warning names the keys it overwrote. A campaign the store holds that no file names
(created through the API, or whose file left the configuration) is left alone.

One file the store cannot take (its queue is another stored campaign's) is reported and skipped;
the other files and the agents are still applied, so the daemon starts and a reload goes on.
The daemon's ``[compliance]`` table may only be tightened by a campaign
(:func:`dialerd.domain.compliance.tighten`): a file that switches the calling-hours guard off or
sets a laxer rule is stored with the daemon's value instead, and a warning names the file. The
engine applies the same floor to every campaign it loads, however it was stored.

A file applied (created or changed) whose ``filter`` or ``sort`` names a field the campaign's
contacts do not have is applied all the same (its contacts may be imported later) with a
warning naming the file, the key and the closest known field: such a filter dials nobody and
such a sort dials in id order, with no error anywhere else. Before the campaign has contacts
only a near miss of a contact column (``lsit_name``) can be told, as ``dialerd check-config``
does; the daemon's :class:`dialerd.engine.field_check.FieldCheck` checks its names again once
contacts arrive (also for a file left unchanged), and warns of each unknown one once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import structlog

from dialerd.config import AgentConfig, DaemonConfig
from dialerd.domain.campaign_file import file_digest
from dialerd.domain.campaign_spec import (
    CampaignSpec,
    CampaignSpecError,
    load_campaign_spec,
    queue_clashes,
)
from dialerd.domain.compliance import tighten
from dialerd.domain.model import Agent
from dialerd.domain.selection import UnknownField, split_field, unknown_definition_fields
from dialerd.engine.field_check import FieldCheck
from dialerd.store import InvalidChange, Store, StoreError

log = structlog.get_logger(__name__)


class ProvisionError(Exception):
    """A campaign file or agent the store cannot take; the message names the file."""


@dataclass(slots=True)
class Provisioned:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    """One line per campaign file not applied: the file, the campaign and why."""
    agents: list[str] = field(default_factory=list)


def load_specs(config: DaemonConfig) -> list[tuple[Path, CampaignSpec]]:
    """Every campaign file the configuration names, validated (first error raises)."""
    specs: list[tuple[Path, CampaignSpec]] = []
    names: dict[str, Path] = {}
    for path in config.campaign_paths():
        try:
            spec = load_campaign_spec(path)
        except CampaignSpecError as exc:
            raise ProvisionError(str(exc)) from None
        if spec.name in names:
            raise ProvisionError(
                f"{path}: name: campaign {spec.name!r} is also defined in {names[spec.name]}"
            )
        names[spec.name] = path
        specs.append((path, spec))
    clashes = queue_clashes([(str(path), spec) for path, spec in specs])
    if clashes:
        raise ProvisionError("; ".join(clashes))
    return specs


async def sync_campaigns(
    store: Store,
    config: DaemonConfig,
    now: datetime,
    result: Provisioned | None = None,
    fields: FieldCheck | None = None,
) -> Provisioned:
    """Apply each new or changed campaign file; a file the store refuses is skipped and
    reported (an error in the log and ``Provisioned.skipped``), not fatal. ``fields``: the
    daemon's check of campaign field names, told which ones were warned of here (it warns
    of the rest when contacts arrive)."""
    out = result or Provisioned()
    specs = load_specs(config)
    for path, raw in specs:
        spec, notes = tighten(raw, config.compliance.to_domain())
        try:
            done = await store.sync_campaign_file(
                spec, file=str(path), digest=file_digest(raw), now=now
            )
        except InvalidChange as exc:  # the data does not allow it: this file only
            reason = f"{path}: campaign {spec.name!r}: {exc}"
            log.error(
                "campaign file not applied",
                campaign=spec.name,
                file=str(path),
                error=str(exc),
                hint="the campaign keeps its stored definition; fix the file or the other"
                " campaign, then reload",
            )
            out.skipped.append(reason)
            continue
        except StoreError as exc:
            raise ProvisionError(f"{path}: campaign {spec.name!r}: {exc}") from None
        if done.action == "unchanged":
            out.unchanged.append(spec.name)
            continue
        for note in notes:
            log.warning("campaign tightened", campaign=spec.name, file=str(path), change=note)
        (out.created if done.action == "created" else out.updated).append(spec.name)
        warned = await _warn_unknown_fields(store, done.campaign.id, path, spec)
        if fields is not None:
            fields.note_warned(done.campaign.id, warned)
        if done.overwritten:
            log.warning(
                "campaign file overwrote changes made outside it",
                campaign=spec.name,
                file=str(path),
                keys=done.overwritten,
                why="the file was added for an existing campaign"
                if done.first_time
                else "the file changed since it was last applied",
            )
        if done.status_kept:
            log.info(
                "campaign status kept (the file's status did not change)",
                campaign=spec.name,
                file=str(path),
                status=done.campaign.status.value,
            )
    forgotten = await store.forget_campaign_files(spec.name for _, spec in specs)
    if forgotten:
        log.info("campaigns no campaign file defines any more", campaigns=forgotten)
    return out


async def _warn_unknown_fields(
    store: Store, campaign_id: int, path: Path, spec: CampaignSpec
) -> list[UnknownField]:
    """Log each filter/sort field name of an applied file that the contacts do not have (see
    the module docstring). The contacts' fields are read (every contact) only when a name is
    not a contact column."""
    named = spec.named_fields()
    known: set[str] | None = None
    if any(split_field(name)[0] for _, name in named):
        try:
            if await store.count_contacts(campaign_id):
                known = await store.custom_field_names(campaign_id)
        except StoreError as exc:  # a warning's worth: the file is applied, go on
            log.warning(
                "campaign file's field names not checked",
                campaign=spec.name,
                file=str(path),
                error=str(exc),
            )
            return []
    unknowns = unknown_definition_fields(named, known)
    for unknown in unknowns:
        log.warning(
            "campaign file names a field the contacts do not have",
            campaign=spec.name,
            file=str(path),
            key=unknown.key,
            field=unknown.name,
            closest=unknown.closest,
            problem=unknown.problem,
        )
    return unknowns


def to_agent(entry: AgentConfig) -> Agent:
    """An agent that names neither campaigns nor skills takes calls of every campaign: it is
    stored so (``Agent.every_campaign``), not as the campaigns of today, so that a campaign
    created later (through the API) is theirs too."""
    return Agent(
        name=entry.name,
        interface=entry.interface,
        campaigns=tuple(entry.campaigns),
        skills=tuple(entry.skills),
    )


async def sync_agents(
    store: Store, config: DaemonConfig, now: datetime, result: Provisioned | None = None
) -> Provisioned:
    out = result or Provisioned()
    for i, entry in enumerate(config.agents):
        try:
            await store.upsert_agent(to_agent(entry), now)
        except StoreError as exc:
            raise ProvisionError(f"{config.source}: agents[{i}]: {exc}") from None
        out.agents.append(entry.name)
    return out


async def provision(
    store: Store, config: DaemonConfig, now: datetime, fields: FieldCheck | None = None
) -> Provisioned:
    out = await sync_campaigns(store, config, now, fields=fields)
    return await sync_agents(store, config, now, out)
