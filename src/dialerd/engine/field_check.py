"""Campaign filters and sorts checked again as contacts arrive.

A name in a campaign's ``filter`` or ``sort`` that is neither a contact column nor a custom
field its contacts have (a typo: ``segmnt``) selects nobody, or sorts nothing, with no error
anywhere. The daemon warns of one when it applies a campaign file, but a file applied before
its contacts are imported (the usual order at a first start) can only be checked against the
contact columns then; unchanged, it was never checked again, and the typo was never told.

:class:`FieldCheck` checks every campaign's names again whenever that can change the answer:
its definition changed since its last check, or contacts were added to the store since
(``Store.newest_contact_id``, one index read) while a custom field name of it was unknown or
could not be checked (no contacts yet). A campaign whose names are all known is not read
again until its definition changes. Reading a campaign's custom fields reads all its contacts,
so it is checked again no sooner than 20 times its last check took (at most 5 % of the time, as
the contacts gauge); the daemon looks every ``interval`` (30 s), a campaign's GET when asked.
Each (campaign, field) is warned of once per process (the file's apply-time warning counts),
in the log, and the campaign's current warnings are what ``GET /api/v1/campaigns/{campaign}``
lists in ``warnings``. Not seen: a custom field removed from every contact by edits (a name
once found stays found until the definition changes).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import structlog

from dialerd.domain.campaign_spec import named_fields
from dialerd.domain.model import Campaign
from dialerd.domain.selection import UnknownField, split_field, unknown_definition_fields
from dialerd.store import Store, StoreError

log = structlog.get_logger(__name__)

#: Seconds between two looks for campaigns to check again (a max(id) read each).
RECHECK_INTERVAL = 30.0
#: A campaign's own check uses at most this share of the time.
CHECK_SHARE = 0.05


@dataclass(slots=True)
class _Checked:
    named: tuple[tuple[str, str], ...]
    """The definition's ``(key, field)`` names when it was checked."""
    newest: int | None
    """The store's newest contact id then."""
    unknown: list[UnknownField] = field(default_factory=list)
    settled: bool = False
    """Every custom field name was found among the contacts' fields: new contacts cannot
    change that (until the definition changes)."""
    next_at: float = 0.0


class FieldCheck:
    """The campaigns' unknown filter and sort fields, kept current as contacts arrive (see
    the module docstring). One per daemon, shared by its loop and its API."""

    def __init__(
        self,
        store: Store,
        *,
        interval: float = RECHECK_INTERVAL,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self.interval = interval
        self._monotonic = monotonic
        self._checked: dict[int, _Checked] = {}
        self._warned: set[tuple[int, str]] = set()

    def note_warned(self, campaign_id: int, unknown: Iterable[UnknownField]) -> None:
        """Fields already warned of (a campaign file's apply-time warning): not again."""
        self._warned.update((campaign_id, u.name) for u in unknown)

    async def warnings(self, campaign: Campaign) -> list[UnknownField]:
        """The campaign's unknown filter/sort fields now: its last check, made again first
        when it is due (as in :meth:`run_once`)."""
        named = tuple(named_fields(campaign.settings))
        newest = await self._store.newest_contact_id()
        done = self._checked.get(campaign.id)
        if done is None or self._due(done, named, newest):
            files = await self._store.campaign_files()
            record = files.get(campaign.name)
            done, _ = await self._check(
                campaign, named, newest, record.file if record is not None else None
            )
        return list(done.unknown)

    def _due(self, done: _Checked, named: tuple[tuple[str, str], ...], newest: int | None) -> bool:
        """Whether a campaign checked before must be checked again: its definition changed,
        or contacts arrived while a name of it was unknown or could not be checked (and its
        last check is long enough ago)."""
        if done.named != named:
            return True
        if done.settled or done.newest == newest:
            return False
        return self._monotonic() >= done.next_at

    async def run_once(self) -> list[tuple[str, UnknownField]]:
        """One look at every campaign; returns the (campaign, field) warnings logged now."""
        newest = await self._store.newest_contact_id()
        campaigns = await self._store.list_campaigns()
        files: dict[str, str] | None = None
        told: list[tuple[str, UnknownField]] = []
        for campaign in campaigns:
            named = tuple(named_fields(campaign.settings))
            done = self._checked.get(campaign.id)
            if done is not None and not self._due(done, named, newest):
                continue
            if files is None:
                files = {n: r.file for n, r in (await self._store.campaign_files()).items()}
            _, new = await self._check(campaign, named, newest, files.get(campaign.name))
            told.extend((campaign.name, u) for u in new)
        for gone in set(self._checked) - {c.id for c in campaigns}:
            del self._checked[gone]
        return told

    async def _check(
        self,
        campaign: Campaign,
        named: Sequence[tuple[str, str]],
        newest: int | None,
        file: str | None,
    ) -> tuple[_Checked, list[UnknownField]]:
        """Check one campaign now; returns the result and the fields warned of now."""
        began = self._monotonic()
        custom = {name for _, name in named if split_field(name)[0]}
        known: set[str] | None = None
        if custom and await self._store.has_contacts(campaign.id):
            known = await self._store.custom_field_names(campaign.id)
        unknown = unknown_definition_fields(named, known)
        took = self._monotonic() - began
        done = _Checked(
            tuple(named),
            newest,
            unknown,
            settled=known is not None and not (custom - known),
            # a look that found no contacts read nothing: the next one may come at once
            next_at=began + took / CHECK_SHARE if known is not None else 0.0,
        )
        self._checked[campaign.id] = done
        new = [u for u in unknown if (campaign.id, u.name) not in self._warned]
        for u in new:
            self._warned.add((campaign.id, u.name))
            log.warning(
                "campaign file names a field the contacts do not have"
                if file is not None
                else "campaign names a field the contacts do not have",
                campaign=campaign.name,
                file=file,
                key=u.key,
                field=u.name,
                closest=u.closest,
                problem=u.problem,
            )
        return done, new

    async def run(self) -> None:
        """Look every ``interval`` seconds until cancelled; a store that does not answer is
        the engine's to report, here the look is only skipped."""
        while True:
            try:
                await self.run_once()
            except StoreError as exc:
                log.debug("campaign fields not checked", error=str(exc))
            await asyncio.sleep(self.interval)
