"""What a campaign file may change in a stored campaign at start and reload (pure).

A campaign that a file defines can also be changed through the API (a supervisor stops it, a
manager edits its ring timeout). Re-applying the whole file at every start and SIGHUP undid such
changes without a word, a stop included. The rule instead:

- the store remembers, per campaign, what its file last applied (:class:`FileRecord`: the file,
  a digest of the file's definition and that definition held to the [compliance] floor);
- a file whose definition is unchanged since is not applied again: API changes stay;
- a changed file is applied as a whole (the file wins), except its status: the stored status is
  kept unless the file's own ``schedule.status`` changed. The keys where that overwrites a
  change made through the API are named (the daemon logs them as a warning);
- a file met for the first time for a campaign that exists already (a file added for a campaign
  created through the API, or the first start of a version that keeps records) is applied, but
  keeps the stored status, and the keys where the stored campaign differed are named.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Literal

from dialerd.domain.campaign_spec import CampaignSpec, default_queue
from dialerd.domain.model import Campaign


@dataclass(frozen=True, slots=True)
class FileRecord:
    """What a campaign file last applied to its campaign (stored with the campaign)."""

    file: str
    digest: str
    """:func:`file_digest` of the file's definition (before the [compliance] floor)."""
    definition: dict[str, Any]
    """The file's definition held to the daemon's floor, with the file's own status (the stored
    one may have been kept): changes made outside the file are told from it."""

    def to_json(self) -> dict[str, Any]:
        return {"file": self.file, "digest": self.digest, "definition": self.definition}

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> FileRecord | None:
        if not data or not isinstance(data.get("definition"), dict):
            return None
        return cls(str(data.get("file", "")), str(data.get("digest", "")), data["definition"])

    @property
    def queue(self) -> str:
        """The Asterisk queue the file gives its campaign."""
        name = str(self.definition.get("name", ""))
        return str(self.definition.get("queue") or default_queue(name))


def dump(spec: CampaignSpec) -> dict[str, Any]:
    return spec.model_dump(mode="json", by_alias=True)


def definition_digest(spec: CampaignSpec) -> str:
    """A digest of a definition's values: comments, layout and key order do not count (a
    file's version here, a stored campaign's ETag in the API)."""
    text = json.dumps(dump(spec), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


file_digest = definition_digest


def _leaves(data: Any, prefix: str = "") -> dict[str, Any]:
    """``{"dial": {"mode": "x"}}`` -> ``{"dial.mode": "x"}`` (lists are one value)."""
    if isinstance(data, dict) and (data or not prefix):
        out: dict[str, Any] = {}
        for key, value in data.items():
            out.update(_leaves(value, f"{prefix}{key}."))
        return out
    return {prefix[:-1]: data}


def changed_keys(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """The dotted keys whose value differs between two dumped definitions."""
    a, b = _leaves(before), _leaves(after)
    return sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))


@dataclass(frozen=True, slots=True)
class FilePlan:
    """What to do with one campaign file's definition against the stored campaign."""

    apply: CampaignSpec | None
    """The definition to store, or None: the file is unchanged since it was last applied."""
    overwritten: list[str] = field(default_factory=list)
    """Dotted keys where storing ``apply`` undoes a change made outside the file."""
    status_kept: bool = False
    """The stored status was kept over the file's."""


def plan_file(
    new: CampaignSpec,
    digest: str,
    current: CampaignSpec,
    record: FileRecord | None,
) -> FilePlan:
    """Apply the file's (floor-held) definition ``new`` over the stored ``current`` or not.

    ``record`` is what the file last applied (None: never, as far as the store knows).
    """
    if record is not None and record.digest == digest:
        return FilePlan(None)
    now = dump(current)
    if record is None:
        file_status_changed = False
        outside = set(changed_keys(now, dump(new)))  # unknown who changed them: name them all
    else:
        file_status_changed = record.definition.get("schedule", {}).get("status") != (
            new.schedule.status.value
        )
        outside = set(changed_keys(record.definition, now))
    spec = new
    status_kept = False
    if not file_status_changed and current.schedule.status != new.schedule.status:
        try:
            data = dump(new)
            data["schedule"] = {**data["schedule"], "status": current.schedule.status.value}
            spec = CampaignSpec.model_validate(data)
            status_kept = True
        except ValueError:  # e.g. 'automatic' kept, but the file has no periods any more
            spec = new
    overwritten = sorted(outside & set(changed_keys(now, dump(spec))))
    return FilePlan(spec, overwritten, status_kept)


@dataclass(frozen=True, slots=True)
class FileSync:
    """What the store did with one campaign file."""

    action: Literal["created", "updated", "unchanged"]
    campaign: Campaign
    overwritten: list[str] = field(default_factory=list)
    """Dotted keys where the file undid a change made outside it (through the API)."""
    status_kept: bool = False
    first_time: bool = False
    """The campaign existed without a record of its file (created through the API, or stored
    by a version that kept none): who made the differences is not known."""
