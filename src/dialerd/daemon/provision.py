"""Bring the store in line with the configuration: campaign files and agents.

Campaign files named by ``[[campaigns]]`` are the source of truth for the campaigns they
define: at start and on SIGHUP each is created or updated in the store. A campaign the store
holds that no file names (created through the API) is left alone. The daemon's ``[compliance]``
table may only be tightened by a campaign (:func:`dialerd.domain.compliance.tighten`): a file
that switches the calling-hours guard off or sets a laxer rule is stored with the daemon's value
instead, and a warning names the file. The engine applies the same floor to every campaign it
loads, however it was stored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import structlog

from dialerd.config import AgentConfig, DaemonConfig
from dialerd.domain.campaign_spec import (
    CampaignSpec,
    CampaignSpecError,
    load_campaign_spec,
    queue_clashes,
)
from dialerd.domain.compliance import tighten
from dialerd.domain.model import Agent
from dialerd.store import AlreadyExists, Store, StoreError

log = structlog.get_logger(__name__)


class ProvisionError(Exception):
    """A campaign file or agent the store cannot take; the message names the file."""


@dataclass(slots=True)
class Provisioned:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
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
    store: Store, config: DaemonConfig, now: datetime, result: Provisioned | None = None
) -> Provisioned:
    out = result or Provisioned()
    for path, raw in load_specs(config):
        spec, notes = tighten(raw, config.compliance.to_domain())
        for note in notes:
            log.warning("campaign tightened", campaign=spec.name, file=str(path), change=note)
        try:
            try:
                await store.create_campaign(spec, now)
                out.created.append(spec.name)
            except AlreadyExists:
                await store.update_campaign(spec, now)
                out.updated.append(spec.name)
        except StoreError as exc:
            raise ProvisionError(f"{path}: campaign {spec.name!r}: {exc}") from None
    return out


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


async def provision(store: Store, config: DaemonConfig, now: datetime) -> Provisioned:
    out = await sync_campaigns(store, config, now)
    return await sync_agents(store, config, now, out)
