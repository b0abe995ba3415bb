"""Outcomes the database could not take before the daemon stopped, kept in a file until the
next start writes them.

While the database is away the engine keeps the outcomes of its calls (and the agents'
dispositions) in memory and writes them when it is back. A stop (SIGTERM, ``systemctl stop``)
before that waits for it up to the drain bound; what is still unwritten then would die with the
process, and the next start would close those attempts as lost (``failed_unknown``) and dial the
contacts again, although they were answered, talked to and given a result by an agent.

So each of them goes to this journal instead: one JSON line per outcome, the decided
:class:`~dialerd.domain.changes.Transition` with its attempt (the very write the runner would
have made), written and ``fsync``'d (the file and its directory) before the daemon exits. The
next start replays it into the store before any campaign dials (before the attempts left open
are closed as lost), exactly once: each outcome is written in one transaction with a marker
that it was (``Store.write_journaled``), so a replay cut anywhere (the database gone again, a
crash before the file is removed) is simply run again and skips what it wrote; the markers go
once the file is gone. An outcome never sets a contact back: one changed since the call keeps
its change, one dialed or leased again since keeps its newer state (the attempt is recorded in
either case). Each outcome written has its ``call finished`` event (``AttemptFinished`` with
``replayed``), as the call would have had. A line the store cannot take (unreadable, or refused
for another reason than the database being away) is kept in a ``.failed-<time>`` file beside
it, and logged.

A crash (SIGKILL, the OOM killer, a power loss) runs nothing at its end. What it would lose
that matters most, an agent's result, is journaled as it is taken during an outage
(:class:`QueuedDisposition`, one ``fsync`` per disposition, only in an outage): the next start
closes the call's attempt, left open, ``connected`` with it instead of ``failed_unknown``. The
rest of what was in memory (outcomes without a disposition, the timeline after the connect) is
lost in a crash, as before (docs/deploy.md).

The file lives in the daemon's state directory and is named after the store and the lease
holder (:func:`journal_file`), so a daemon pointed at another database, or another daemon on
the host, never replays it into the wrong one.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Literal

import structlog
from pydantic import Field, TypeAdapter, ValidationError

from dialerd.domain.changes import JournaledOutcome, JournalWrite, JournalWritten, Transition
from dialerd.engine.events import AttemptFinished
from dialerd.store import Store
from dialerd.store.errors import NotFound, StoreError, StoreUnavailable
from dialerd.taskflow.call import Disposition

log = structlog.get_logger(__name__)

#: What became of a journaled outcome (the ``outcome`` label of
#: ``dialerd_journal_outcomes_total``).
JOURNALED = "journaled"
APPLIED = JournalWrite.APPLIED.value
ALREADY_STORED = JournalWrite.ALREADY_STORED.value
STALE = JournalWrite.STALE.value
SUPERSEDED = JournalWrite.SUPERSEDED.value
FAILED = "failed"
#: A disposition journaled when it was taken, in an outage: ``QUEUED`` as it is journaled,
#: ``RECOVERED`` when the next start closes the call a crash lost with it.
QUEUED = "queued"
RECOVERED = "recovered"


@dataclass(frozen=True, slots=True)
class JournalEntry:
    """One pending write of a call's outcome: the campaign (for the log) and the decided
    transition with its finished attempt, as the runner would have written it."""

    campaign: str
    transition: Transition
    journaled_at: datetime
    kind: Literal["outcome"] = "outcome"
    version: int = 1

    @property
    def attempt_id(self) -> str:
        assert self.transition.attempt is not None
        return self.transition.attempt.id


@dataclass(frozen=True, slots=True)
class QueuedDisposition:
    """An agent's disposition taken while the database was away, journaled as it is taken.

    The call's outcome is still in memory only, and a crash (SIGKILL, the OOM killer, a power
    loss) would lose it with the agent's result; the next start, finding the call's attempt left
    open, closes it ``connected`` with this disposition instead of ``failed_unknown``
    (``CampaignRunner._recover_lost_attempts``). A line whose attempt the store has finished
    (written when the database came back, or by a stop's outcome line) is dropped at the next
    start."""

    campaign: str
    attempt_id: str
    contact_id: int
    agent: str | None
    """The interface of the agent the call was connected to."""
    connected_at: datetime | None
    disposition: Disposition
    journaled_at: datetime
    kind: Literal["disposition"] = "disposition"
    version: int = 1


Line = JournalEntry | QueuedDisposition
_LINE: TypeAdapter[Line] = TypeAdapter(Annotated[Line, Field(discriminator="kind")])


@dataclass(slots=True)
class Replayed:
    """What a replay did: counts by outcome (``applied``, ``already_stored``, ``stale``,
    ``superseded``, ``failed``), where the lines it could not apply were kept, the queued
    dispositions of calls whose attempts are still open (a crash lost their outcome): attempt
    id -> line, and the outcomes it wrote (for their ``call finished`` events)."""

    counts: Counter[str] = field(default_factory=Counter)
    kept: Path | None = None
    pending: dict[str, QueuedDisposition] = field(default_factory=dict)
    written: list[tuple[JournalEntry, JournalWritten]] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def journal_file(state_dir: Path, store_url: str, holder: str) -> Path:
    """The journal of one daemon (``holder``) on one store: ``unwritten-<db>-<hash>.jsonl``.

    ``store_url`` is the URL without its password (what the logs show); the hash keeps two
    databases of one name on two servers apart, and two daemons of one host too.
    """
    tail = store_url.rsplit("/", 1)[-1].split("?", 1)[0]
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(tail).stem or "store")[:40] or "store"
    digest = hashlib.sha256(f"{store_url}\n{holder}".encode()).hexdigest()[:12]
    return state_dir / f"unwritten-{name}-{digest}.jsonl"


class OutcomeJournal:
    """The journal file of this daemon: appended at a stop, replayed and removed at a start."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def usable(self) -> str | None:
        """None when a stop could write the journal; else why not (for a warning at start)."""
        where = self.path.parent
        if not where.is_dir():
            return f"state directory {str(where)!r} does not exist"
        if not os.access(where, os.W_OK | os.X_OK):
            return f"state directory {str(where)!r} is not writable"
        return None

    def append(self, entries: Sequence[Line]) -> None:
        """Write ``entries`` and make them durable (file and directory ``fsync``'d) before
        returning. Raises ``OSError`` when it cannot."""
        if entries:
            _append_durably(self.path, b"".join(_LINE.dump_json(e) + b"\n" for e in entries))

    def entries(self) -> list[tuple[int, str, Line | None]]:
        """Every line of the journal: (line number, text, the entry or None when unreadable,
        e.g. the last line cut short by a crash while it was written)."""
        try:
            text = self.path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return []
        out: list[tuple[int, str, Line | None]] = []
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                entry: Line | None = _LINE.validate_json(line)
            except ValidationError:
                entry = None
            if isinstance(entry, JournalEntry) and entry.transition.attempt is None:
                entry = None
            out.append((number, line, entry))
        return out

    async def replay(self, store: Store, holder: str) -> Replayed:
        """Write every journaled outcome into ``store`` once; then the journal keeps only the
        queued dispositions whose calls' attempts are still open (``Replayed.pending``, for the
        runners' recovery: the next start drops them once stored), or is removed.

        Raises ``StoreUnavailable`` (the journal kept whole: what was written is skipped by the
        next replay) when the database goes away meanwhile.
        """
        done = Replayed()
        now = datetime.now(UTC)
        failed: list[str] = []
        queued: list[tuple[str, QueuedDisposition]] = []
        try:
            lines = self.entries()
        except OSError as exc:  # not readable: said, and left as it is for an operator
            log.error("journal not readable: not replayed", journal=str(self.path), error=str(exc))
            return done
        for number, line, entry in lines:
            if entry is None:
                log.error(
                    "journal line unreadable: kept aside", journal=str(self.path), line=number
                )
                failed.append(line)
                done.counts[FAILED] += 1
                continue
            if isinstance(entry, QueuedDisposition):
                queued.append((line, entry))  # after the outcomes, which may close their calls
                continue
            try:
                written = await store.write_journaled(_outcome(self.path.name, entry, holder), now)
            except StoreUnavailable:
                raise
            except Exception as exc:  # one line must not keep the daemon from starting
                log.error(
                    "journaled outcome refused by the store: kept aside",
                    campaign=entry.campaign,
                    attempt=entry.attempt_id,
                    contact=entry.transition.contact_id,
                    error=f"{type(exc).__name__}: {exc}",
                )
                failed.append(line)
                done.counts[FAILED] += 1
                continue
            outcome = written.outcome.value
            done.counts[outcome] += 1
            if outcome != ALREADY_STORED:
                done.written.append((entry, written))
            attempt = entry.transition.attempt
            assert attempt is not None
            log.info(
                _MESSAGES[written.outcome],
                campaign=entry.campaign,
                attempt=attempt.id,
                contact=attempt.contact_id,
                result=attempt.result.value if attempt.result is not None else None,
                disposition=attempt.disposition,
                status=f"{entry.transition.status.value}/{entry.transition.status_detail}",
                contact_changed=outcome in (STALE, SUPERSEDED),
                why=written.why,
            )
        keep: list[str] = []
        for line, q in queued:
            try:
                attempts = {a.id: a for a in await store.attempts(q.contact_id)}
            except NotFound:
                attempts = {}
            stored = attempts.get(q.attempt_id)
            if stored is None or stored.result is not None:
                continue  # written meanwhile (the usual case), or its contact deleted
            if q.attempt_id not in done.pending:
                keep.append(line)
            done.pending[q.attempt_id] = q
        try:
            if failed:
                stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
                kept = self.path.with_name(f"{self.path.name}.failed-{stamp}")
                _append_durably(kept, "".join(f"{line}\n" for line in failed).encode())
                done.kept = kept
            if keep:
                _replace_durably(self.path, "".join(f"{line}\n" for line in keep).encode())
            else:
                with contextlib.suppress(FileNotFoundError):
                    self.path.unlink()
                    _fsync_dir(self.path.parent)
        except OSError as exc:
            # left as it is: the next start replays it again (what is stored is skipped)
            log.error(
                "journal not cleaned up after its replay", journal=str(self.path), error=str(exc)
            )
            return done
        # No outcome line is left in the file: its markers have done their work.
        await self.forget(store)
        return done

    async def forget(self, store: Store) -> None:
        """Drop the store's markers of this journal's written outcomes: called once no
        outcome line of it is left on disk (after a replay, or at a start without a journal
        file: a crash came after the file's removal, before this). Not dropped now (the
        database away again): harmless, the next call drops them."""
        try:
            await store.forget_journal(self.path.name)
        except StoreError as exc:
            log.warning(
                "journal markers not removed: removed at a later start",
                journal=str(self.path),
                error=str(exc),
            )


_MESSAGES = {
    JournalWrite.APPLIED: "journaled outcome written",
    JournalWrite.ALREADY_STORED: "journaled outcome was stored already",
    JournalWrite.STALE: "journaled outcome recorded, contact left as it is: changed since",
    JournalWrite.SUPERSEDED: "journaled outcome recorded, contact left as it is: newer state",
}


def _outcome(journal: str, entry: JournalEntry, holder: str) -> JournaledOutcome:
    """The journaled outcome as the store writes it (see :class:`JournaledOutcome`): the note
    of a superseded one says what it would have set, for the contact's history."""
    t = entry.transition
    a = t.attempt
    assert a is not None
    result = a.result.value if a.result is not None else "no result"
    note = (
        f"journaled outcome of attempt {a.id} ({result}"
        + (f", disposition {a.disposition}" if a.disposition else "")
        + f") not applied, it would have set {t.status.value}/{t.status_detail}"
    )
    return JournaledOutcome(journal, t, holder, note)


def finished_event(
    entry: JournalEntry, written: JournalWritten, task_names: dict[int, str]
) -> AttemptFinished:
    """The ``call finished`` event of an outcome a replay wrote: what the runner would have
    emitted when it wrote it (``replayed``: written at a later start). A contact changed or
    dialed again since is reported as it is now (``stale``), a deleted one with the outcome's
    status, as the runner reports them."""
    t = entry.transition
    a = t.attempt
    assert a is not None and a.result is not None
    status, detail, due_at, next_task = t.status, t.status_detail, t.due_at, None
    contact = written.contact
    stale = written.outcome is not JournalWrite.APPLIED
    if contact is not None and stale:
        status, detail, due_at = contact.status, contact.status_detail, None
    elif contact is not None:
        moved_to = (
            contact.pending_task_id if contact.pending_task_id is not None else contact.task_id
        )
        if moved_to != a.task_id:
            next_task = task_names.get(moved_to)
    connect = talk = None
    if a.answered_at is not None and a.connected_at is not None:
        connect = max(0.0, (a.connected_at - a.answered_at).total_seconds())
    if a.connected_at is not None and a.hungup_at is not None:
        talk = max(0.0, (a.hungup_at - a.connected_at).total_seconds())
    return AttemptFinished(
        entry.campaign,
        a,
        a.result,
        t.contact_id,
        status,
        detail,
        task_names.get(a.task_id, str(a.task_id)),
        a.agent,
        connect,
        talk,
        stale,
        next_task,
        due_at,
        replayed=True,
    )


def _append_durably(path: Path, data: bytes) -> None:
    """Append ``data`` to ``path`` (created 0600) and ``fsync`` it, and its directory when the
    file is new."""
    created = not path.exists()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    if created:
        _fsync_dir(path.parent)


def _replace_durably(path: Path, data: bytes) -> None:
    """``path`` holds ``data`` afterwards, or (a crash meanwhile) what it held before."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)
    _append_durably(tmp, data)
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _fsync_dir(path: Path) -> None:
    """The directory entry of a new (or removed) file survives a power loss only once the
    directory itself is synced."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
