"""The store: every read and write of dialerd's data goes through :class:`Store`.

Methods take and return ``dialerd.domain`` values. Times are passed in by the caller (from its
injectable clock), never read here, so leasing and due times follow accelerated clocks.

Transactions: every write method is one transaction (SQLite ``BEGIN IMMEDIATE``, see
:mod:`dialerd.store.engine`); read methods use a deferred read transaction.

Do-not-call: contacts whose number is on the global list or the campaign's list are never
leased (checked in the lease query itself, so a number added while the campaign runs is skipped
from the next lease on). ``add_dnc`` also closes matching open contacts of call tasks as
``failed`` / ``$dnc`` with a history row, so they stop showing as open work; the taskflow rules
for ``failed`` then apply when the engine or an operator runs them.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, Self, TypeVar, cast

import structlog
from asyncpg import PostgresError  # type: ignore[import-untyped]
from sqlalchemy import (
    ColumnElement,
    Table,
    and_,
    bindparam,
    case,
    delete,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError, IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased

from dialerd.domain import campaign_file as cf
from dialerd.domain import campaign_spec as cs
from dialerd.domain.changes import (
    AbandonmentCount,
    DncAdded,
    JournaledOutcome,
    JournalWrite,
    JournalWritten,
    LeaseGuard,
    NewContact,
    OverviewRow,
    RuleMove,
    SetChange,
    Transition,
)
from dialerd.domain.clock import iso_utc
from dialerd.domain.contact_values import check_edit
from dialerd.domain.enums import (
    AgentState,
    CampaignStatus,
    Status,
    StatusDetail,
    TaskType,
)
from dialerd.domain.model import (
    Agent,
    Attempt,
    Campaign,
    Contact,
    HistoryEntry,
    Task,
    TaskflowRule,
)
from dialerd.domain.selection import Condition, ContactSelection, SortOrder, split_field
from dialerd.store import convert
from dialerd.store.agentwork_models import LeadWorkRow
from dialerd.store.engine import (
    COMMAND_TIMEOUT,
    CONNECT_TIMEOUT,
    MAINTENANCE_TIMEOUT,
    READ,
    connection_lost,
    display_url,
    make_engine,
    normalise_url,
    sqlite_path,
    unavailable,
)
from dialerd.store.errors import (
    AlreadyExists,
    ContactInCall,
    DuplicateValue,
    InvalidChange,
    NotFound,
    QueueInUse,
    SchemaNotCurrent,
    StaleContact,
    StoreError,
    StoreUnavailable,
)
from dialerd.store.instance import InstanceLock
from dialerd.store.migrate import check_current, head_revision
from dialerd.store.models import (
    AbandonmentBucketRow,
    AgentRow,
    AttemptRow,
    CampaignRow,
    ContactRow,
    DncRow,
    HistoryRow,
    JournalAppliedRow,
    TaskflowRuleRow,
    TaskRow,
)
from dialerd.store.query import condition_clause, selection_clauses, sort_expression, sort_index

#: Width of one abandonment bucket; windows are summed from these.
log = structlog.get_logger(__name__)

BUCKET_SECONDS = 300
#: Seconds a sort index's build may take (``Store.ensure_sort_index``): far beyond the
#: statements' bound, about 100 million contacts on a small server.
SORT_INDEX_BUILD_TIMEOUT = 3600.0

#: Columns a bulk edit may set directly; other keys go to the custom ``fields``.
_STATUS_ORDER = {s: i for i, s in enumerate(Status)}


@dataclass
class WriteHealth:
    """The outcome of the latest write transactions (monotonic times)."""

    ok_at: float | None = None
    failed_at: float | None = None
    error: str | None = None
    failures: int = 0

    def succeeded(self) -> None:
        self.ok_at = time.monotonic()

    def failed(self, error: str) -> None:
        self.failed_at = time.monotonic()
        self.error = error
        self.failures += 1

    @property
    def failing(self) -> str | None:
        """The error while the latest write failed, else ``None``."""
        if self.failed_at is None or (self.ok_at is not None and self.ok_at > self.failed_at):
            return None
        return self.error


def _hold_off_kept(now: datetime) -> Any:
    """``due_at`` for a contact reopened by hand (a move, a bulk status edit): none, except
    that an abandoned contact's hold-off still running is kept. The rule (Ofcom: no call
    again within 72 h of an abandoned one) is about the person, not the task they are in."""
    return case(
        (
            and_(
                ContactRow.status_detail == StatusDetail.ABANDONED.value,
                ContactRow.due_at > now,
            ),
            ContactRow.due_at,
        ),
        else_=None,
    )


def _overflow(exc: BaseException) -> OverflowError | None:
    """The overflow behind a driver error: a number the driver cannot send (an id or offset
    past 64 bits) is the caller's mistake, to be said as such, not a crash of the store."""
    cause: BaseException | None = exc
    while cause is not None and not isinstance(cause, OverflowError):
        cause = cause.__cause__ or cause.__context__
    return cause


#: How long an attempt not hung up keeps its number from being leased: a crash can leave one
#: open (the next start closes it ``failed_unknown``), and no call lasts this long.
IN_FLIGHT_LIMIT = timedelta(days=1)


def _number_rules(now: datetime, max_calls_per_day: int | None) -> list[ColumnElement[bool]]:
    """Lease conditions on the contact's number across all campaigns and contact records.

    Laws cap the calls to a *number* (Florida: 3 per 24 hours on one subject), and two
    campaigns calling one number at once is both a breach and a bad experience; the same number
    can be a contact of several campaigns, or imported twice into one. Attempts store the
    number they dialed, so the call rules are a range of the ``(phone, originated_at)`` index
    per contact the lease looks at. A call's attempt is written only when it is placed: until
    then (a preview on offer to an agent, the moment between a lease and its dial) the lease of
    another record of the number is what says it is taken (``ix_contacts_leased_phone``, over
    leased contacts only). Leases of non-call tasks (an e-mail, a webhook) are no call.
    """
    a, c = AttemptRow, ContactRow
    other = aliased(ContactRow, name="other")
    since = now - timedelta(days=1)
    t = TaskRow
    rules: list[ColumnElement[bool]] = [
        ~exists().where(
            a.phone == c.phone, a.originated_at > now - IN_FLIGHT_LIMIT, a.hungup_at.is_(None)
        ),
        # NOT IN, not NOT EXISTS: the leased numbers are read once per statement (from the
        # partial index) into a hash; PostgreSQL planned NOT EXISTS as a loop over all of them
        # for every contact looked at (15.8 ms against 1.9 ms with 300 leased, 100,000 contacts).
        c.phone.not_in(
            select(other.phone).where(
                other.phone.is_not(None),
                other.lease_holder.is_not(None),
                other.lease_expires_at > now,
                # not ``task_id IN (...)``: SQLite would read the leased numbers through the
                # task index (every contact of the call tasks) instead of the partial index
                exists().where(t.id == other.task_id, t.type == TaskType.CALL.value),
            )
        ),
    ]
    if max_calls_per_day is not None:
        calls = (
            select(func.count())
            .where(a.phone == c.phone, a.originated_at > since)
            .scalar_subquery()
        )
        rules.append(calls < max_calls_per_day)
    return rules


def number_lock_key(phone: str) -> int:
    """The second key of a number's advisory lock (``NUMBER_LOCK_CLASS``, this): a signed
    32-bit digest, the same in every process. Two numbers sharing one only wait for each
    other."""
    digest = hashlib.blake2b(phone.encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big", signed=True)


def bucket_start(at: datetime) -> datetime:
    ts = at.astimezone(UTC).timestamp()
    return datetime.fromtimestamp(ts - ts % BUCKET_SECONDS, UTC)


def _aware(at: datetime, what: str) -> datetime:
    if at.tzinfo is None:
        raise ValueError(f"{what}: naive datetime; pass an aware time from the clock")
    return at


@dataclass(frozen=True, slots=True)
class _LeasePlan:
    settings: dict[str, Any]
    sort: SortOrder
    conditions: tuple[Condition, ...]
    call_tasks: tuple[int, ...]
    max_calls_per_day: int | None = None


class Store:
    """An open database. Use :meth:`open` (checks the schema) or ``async with Store.open(...)``."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._plans: dict[int, _LeasePlan] = {}
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        self._read_engine = engine.execution_options(**READ)
        self.dialect = engine.dialect.name
        # SQLite: one writer at a time, and a writer that finds the lock taken sleeps in
        # SQLite's busy handler (1 ms growing to 100 ms per retry). Within one process that
        # starves: a coroutine writing in a loop (agent states, a transition per finished call)
        # takes the lock again before the sleeper wakes, and the engine's lease or a finished
        # call waited seconds. Writers of this process queue here instead, first come first
        # served; other processes still meet the busy timeout.
        self._write_gate: asyncio.Lock | None = asyncio.Lock() if self.dialect == "sqlite" else None
        #: Whether the last write went through: reads (the health probe) can succeed while
        #: every write fails (a lock held by another process, a full disk, a read-only file).
        self.writes = WriteHealth()

    # -- lifecycle -----------------------------------------------------------------------------

    @classmethod
    async def open(
        cls,
        url: str | URL,
        *,
        check_schema: bool = True,
        connect_timeout: float | None = CONNECT_TIMEOUT,
        command_timeout: float | None = COMMAND_TIMEOUT,
        **engine_kw: Any,
    ) -> Store:
        """Open the database at ``url``; refuse (``SchemaNotCurrent``) if it is not migrated.

        PostgreSQL: a connect taking longer than ``connect_timeout`` or a statement longer
        than ``command_timeout`` seconds fails as ``StoreUnavailable`` (None: no bound).

        A SQLite file that does not exist is refused so, without creating it (or its folder):
        only ``dialerd migrate`` creates a database.
        """
        if check_schema:
            path = sqlite_path(normalise_url(url))
            if path is not None and not path.exists():
                raise SchemaNotCurrent(display_url(url), None, head_revision(), missing=True)
        try:
            engine = make_engine(
                url,
                connect_timeout=connect_timeout,
                command_timeout=command_timeout,
                **engine_kw,
            )
        except OSError as exc:  # e.g. the SQLite folder cannot be created
            raise unavailable(exc, url) from exc
        try:
            if check_schema:
                await check_current(engine)
        except BaseException:
            await engine.dispose()
            raise
        return cls(engine)

    async def close(self) -> None:
        await self._engine.dispose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def engine(self) -> AsyncEngine:
        """For dialerd.store modules only (imports, benchmarks); no SQL outside the store."""
        return self._engine

    @property
    def url(self) -> str:
        return display_url(self._engine.url)

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """One write transaction (for dialerd.store modules such as imports).

        Driver errors leave as store errors: a constraint as ``InvalidChange``, a lost or
        unreachable database as ``StoreUnavailable``.
        """
        with self._errors(writing=True):
            async with self._writer(), self._sessions() as s, s.begin():
                yield s

    @contextmanager
    def _errors(self, *, writing: bool) -> Iterator[None]:
        """Driver errors as store errors; whether writes go through, for /healthz."""
        try:
            yield
        except IntegrityError as exc:
            raise InvalidChange(f"refused by the database: {exc.orig}") from exc
        except (OverflowError, DBAPIError) as exc:
            overflow = _overflow(exc)
            if overflow is not None:
                raise InvalidChange(f"a number is out of the database's range: {overflow}") from exc
            if not connection_lost(exc):
                raise
            raise self._lost(exc, writing) from exc
        except (SQLAlchemyError, OSError) as exc:
            if not connection_lost(exc):
                raise
            raise self._lost(exc, writing) from exc
        else:
            if writing:
                self.writes.succeeded()

    def _lost(self, exc: BaseException, writing: bool) -> StoreUnavailable:
        """The store's error for a lost or unreachable database; a failed write is recorded
        for /healthz (``store_writes``)."""
        error = unavailable(exc, self._engine.url)
        if writing:
            orig = getattr(exc, "orig", None) or exc
            self.writes.failed(f"{type(orig).__name__}: {orig}")
        return error

    @asynccontextmanager
    async def _writer(self) -> AsyncIterator[None]:
        """Hold this process's SQLite write turn (see ``__init__``); nothing on PostgreSQL."""
        if self._write_gate is None:
            yield
            return
        async with self._write_gate:
            yield

    @asynccontextmanager
    async def read(self, *, snapshot: bool = False) -> AsyncIterator[AsyncSession]:
        """One read transaction that never takes the SQLite write lock.

        ``snapshot``: every statement of it sees the same data (PostgreSQL ``REPEATABLE READ``;
        a SQLite read transaction is one snapshot already), for an answer built from several
        queries that must agree with each other."""
        options: dict[str, Any] = dict(READ)
        if snapshot and self.dialect == "postgresql":
            options["isolation_level"] = "REPEATABLE READ"
        with self._errors(writing=False):
            async with self._sessions() as s:
                await s.connection(execution_options=options)
                yield s

    @asynccontextmanager
    async def _core(self, *, read: bool = False) -> AsyncIterator[AsyncConnection]:
        """One transaction on a Core connection, without an ORM session.

        For the statements run once per call (a dial's do-not-call check and its attempt row):
        there the session's bookkeeping cost more CPU than the statement. Errors as ``write``.
        """
        with self._errors(writing=not read):
            if read:
                async with self._read_engine.begin() as conn:
                    yield conn
            else:
                async with self._writer(), self._engine.begin() as conn:
                    yield conn

    async def lock_instance(self, holder: str) -> InstanceLock:
        """Hold the lock of lease holder ``holder`` on this database for a daemon's life
        (see :mod:`dialerd.store.instance`); ``InstanceTaken`` if another daemon holds it."""
        with self._errors(writing=False):
            return await InstanceLock.acquire(self._engine, holder)

    async def instance_held(self, lock: InstanceLock, within: float = 5.0) -> bool:
        """Whether ``lock`` is still held: on PostgreSQL it lives in one database session,
        which an outage or an administrator can end (then :meth:`retake_instance`)."""
        return await lock.held(within)

    async def retake_instance(self, lock: InstanceLock) -> None:
        """Take a lost ``lock`` again; ``InstanceTaken`` if another daemon took it meanwhile,
        ``StoreUnavailable`` while the database cannot be reached."""
        with self._errors(writing=False):
            await lock.retake(self._engine)

    async def optimize(self) -> None:
        """Refresh the query planner's statistics (after a bulk load such as a big import).

        Without them PostgreSQL plans a million-contact campaign as if it were empty (sequential
        scans for a lease) until autovacuum gets round to it; SQLite's planner uses them too.
        PostgreSQL: ``VACUUM ANALYZE`` (also sets the visibility map for index-only scans);
        SQLite: ``ANALYZE``.
        """
        tables = ("contacts", "status_history", "attempts")
        try:
            if self.dialect == "postgresql":
                async with self._engine.connect() as conn:
                    auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
                    raw = await auto.get_raw_connection()
                    # asyncpg's own call: longer than the store's command timeout allows
                    await raw.driver_connection.execute(  # type: ignore[union-attr]
                        f"VACUUM ANALYZE {', '.join(tables)}", timeout=MAINTENANCE_TIMEOUT
                    )
            else:
                async with self._engine.begin() as conn:
                    for table in tables:
                        await conn.exec_driver_sql(f"ANALYZE {table}")
        except (SQLAlchemyError, OSError) as exc:
            if not connection_lost(exc):
                raise
            raise unavailable(exc, self._engine.url) from exc

    def _insert(self, table: Any) -> Any:
        """A dialect INSERT that supports ``on_conflict_*`` on both back ends."""
        if self.dialect == "postgresql":
            return pg_dialect.insert(table)
        return sqlite_dialect.insert(table)

    # -- campaigns -----------------------------------------------------------------------------

    async def create_campaign(self, spec: cs.CampaignSpec, now: datetime) -> Campaign:
        """Create a campaign with its tasks and taskflow rules from a validated definition."""
        _aware(now, "now")
        async with self.write() as s:
            row = await self._new_campaign(s, spec, now)
            made = convert.campaign(row)
        await self._index_sort(spec)
        return made

    async def _new_campaign(
        self, s: AsyncSession, spec: cs.CampaignSpec, now: datetime
    ) -> CampaignRow:
        """Only a name that fits the rule for new campaigns (``campaign_name_problem``) is
        taken, whichever path creates it (API, CLI, a campaign file); stored campaigns keep
        theirs."""
        problem = cs.campaign_name_problem(spec.name)
        if problem is not None:
            raise InvalidChange(f"name: {problem}")
        taken = await s.scalar(select(CampaignRow.id).where(CampaignRow.name == spec.name))
        if taken is not None:
            raise AlreadyExists(f"campaign {spec.name!r} exists already")
        await self._check_queue(s, spec)
        row = CampaignRow(
            name=spec.name,
            status=spec.schedule.status.value,
            dial_mode=spec.dial.mode.value,
            timezone=spec.timezone,
            settings=spec.model_dump(mode="json", by_alias=True),
            created_at=now,
            updated_at=now,
        )
        s.add(row)
        await s.flush()
        await self._sync_tasks(s, row, spec)
        return row

    async def update_campaign(self, spec: cs.CampaignSpec, now: datetime) -> Campaign:
        """Replace a campaign's definition; tasks keep their contacts (matched by name).

        A task that the new definition drops may only go if no contact is in it or waiting for it.
        """
        _aware(now, "now")
        async with self.write() as s:
            query = select(CampaignRow).where(CampaignRow.name == spec.name)
            row = await s.scalar(query.with_for_update())
            if row is None:
                raise NotFound(f"no campaign {spec.name!r}")
            await self._store_definition(s, row, spec, now)
            changed = convert.campaign(row)
        await self._index_sort(spec)
        return changed

    async def change_campaign(
        self,
        ref: int | str,
        change: Callable[[cs.CampaignSpec], cs.CampaignSpec],
        now: datetime,
    ) -> Campaign:
        """Apply ``change`` (a pure function: stored definition -> new one) in one write
        transaction, the campaign's row locked from the read to the write.

        Reading the definition in one transaction and writing the whole of it back in another
        lost updates: of two changes at once to different keys (a PATCH of the description and a
        stop), the later write undid the earlier. Whatever ``change`` raises rolls back.
        """
        _aware(now, "now")
        async with self.write() as s:
            row = await self._campaign_row(s, ref, lock=True)
            spec = change(cs.CampaignSpec.model_validate(row.settings))
            if spec.name != row.name:
                raise InvalidChange(f"a campaign cannot be renamed (it is {row.name!r})")
            await self._store_definition(s, row, spec, now)
            changed = convert.campaign(row)
        await self._index_sort(spec)
        return changed

    async def _index_sort(self, spec: cs.CampaignSpec) -> None:
        """:meth:`ensure_sort_index` for a campaign just stored. The campaign is stored
        whatever happens here: an index that could not be built is logged (its campaign's
        leases and pages sort as before) and tried again when a campaign is next stored."""
        try:
            await self.ensure_sort_index(spec.sort_order())
        except (StoreError, SQLAlchemyError, PostgresError, OSError, TimeoutError) as exc:
            log.warning(
                "sort index not built", campaign=spec.name, sort=spec.sort.field, error=str(exc)
            )

    async def ensure_sort_index(self, order: SortOrder) -> bool:
        """PostgreSQL: make the index that gives never-tried contacts in ``order``
        (:func:`dialerd.store.query.sort_index`) if it is not there; whether one was made.

        Called once a campaign's definition is stored (its sort may be new). Built
        ``CONCURRENTLY``: leases and edits of contacts go on meanwhile; the caller waits for
        the build (500,000 contacts: a few seconds). A build cut short leaves an invalid index,
        dropped and built again by the next call. SQLite: nothing (its ``NULLS LAST`` order
        cannot be read from an index)."""
        index = sort_index(order)
        if index is None or self.dialect != "postgresql":
            return False
        with self._errors(writing=True):
            async with self._engine.connect() as conn:
                auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
                valid = await auto.scalar(
                    text(
                        "SELECT i.indisvalid FROM pg_index i JOIN pg_class c "
                        "ON c.oid = i.indexrelid WHERE c.relname = :name"
                    ),
                    {"name": index.name},
                )
                if valid:
                    return False
                raw = (await auto.get_raw_connection()).driver_connection
                assert raw is not None
                if valid is not None:
                    await raw.execute(f'DROP INDEX CONCURRENTLY IF EXISTS "{index.name}"')
                # No client-side statement timeout for the build (asyncpg's command_timeout).
                await raw.execute(
                    f'CREATE INDEX CONCURRENTLY IF NOT EXISTS "{index.name}" '
                    f"ON contacts ({index.columns})",
                    timeout=SORT_INDEX_BUILD_TIMEOUT,
                )
        return True

    async def _store_definition(
        self, s: AsyncSession, row: CampaignRow, spec: cs.CampaignSpec, now: datetime
    ) -> None:
        """A changed definition over ``row``. Its queue is checked only if it changes: a clash
        stored before the check existed must not refuse other changes (a stop above all)."""
        stored = (row.settings or {}).get("queue") or cs.default_queue(row.name)
        if spec.queue_name != stored:
            await self._check_queue(s, spec)
        row.status = spec.schedule.status.value
        row.dial_mode = spec.dial.mode.value
        row.timezone = spec.timezone
        row.settings = spec.model_dump(mode="json", by_alias=True)
        row.updated_at = now
        await self._sync_tasks(s, row, spec)

    async def sync_campaign_file(
        self, spec: cs.CampaignSpec, *, file: str, digest: str, now: datetime
    ) -> cf.FileSync:
        """Create or update the campaign a campaign file defines, by the rule of
        :mod:`dialerd.domain.campaign_file` (an unchanged file is not applied again; a changed
        one keeps the stored status unless the file's status changed), in one transaction.

        ``spec`` is the file's definition held to the daemon's floor, ``digest`` the file's
        :func:`~dialerd.domain.campaign_file.file_digest`.
        """
        _aware(now, "now")
        synced = await self._sync_campaign_file(spec, file, digest, now)
        if synced.action != "unchanged":
            await self._index_sort(spec)
        return synced

    async def _sync_campaign_file(
        self, spec: cs.CampaignSpec, file: str, digest: str, now: datetime
    ) -> cf.FileSync:
        record = cf.FileRecord(file, digest, cf.dump(spec))
        async with self.write() as s:
            row = await s.scalar(
                select(CampaignRow).where(CampaignRow.name == spec.name).with_for_update()
            )
            if row is None:
                row = await self._new_campaign(s, spec, now)
                row.file_applied = record.to_json()
                return cf.FileSync("created", convert.campaign(row))
            before = cf.FileRecord.from_json(row.file_applied)
            plan = cf.plan_file(spec, digest, cs.CampaignSpec.model_validate(row.settings), before)
            if plan.apply is None:
                if before is not None and before.file != file:  # the file moved, not changed
                    row.file_applied = record.to_json()
                return cf.FileSync("unchanged", convert.campaign(row))
            await self._store_definition(s, row, plan.apply, now)
            row.file_applied = record.to_json()
            return cf.FileSync(
                "updated",
                convert.campaign(row),
                overwritten=plan.overwritten,
                status_kept=plan.status_kept,
                first_time=before is None,
            )

    async def forget_campaign_files(self, keep: Iterable[str]) -> list[str]:
        """Campaigns no campaign file defines any more (the file left the configuration):
        their record goes, so the API manages them and their file's queue is free. Their names.
        """
        kept = set(keep)
        out: list[str] = []
        async with self.write() as s:
            rows = (await s.scalars(select(CampaignRow).where(CampaignRow.name.not_in(kept)))).all()
            for row in rows:
                if cf.FileRecord.from_json(row.file_applied) is not None:
                    row.file_applied = None
                    out.append(row.name)
        return sorted(out)

    async def campaign_files(self) -> dict[str, cf.FileRecord]:
        """Per campaign that a file manages, what its file last applied."""
        async with self.read() as s:
            rows = (await s.execute(select(CampaignRow.name, CampaignRow.file_applied))).all()
        out: dict[str, cf.FileRecord] = {}
        for name, data in rows:
            record = cf.FileRecord.from_json(data)
            if record is not None:
                out[name] = record
        return out

    async def _check_queue(self, s: AsyncSession, spec: cs.CampaignSpec) -> None:
        """Refuse a queue another campaign has (or one clashing with it, see
        ``campaign_spec.queue_clash``): agents would be paced by a campaign they never named.

        Also refused: the queue another campaign's file gives it, even if that campaign was
        moved to another queue through the API. When that file changes, the daemon applies it
        again, and the two campaigns would then share a queue (the file sync failed on it).
        """
        others = await s.execute(
            select(CampaignRow.name, CampaignRow.settings, CampaignRow.file_applied).where(
                CampaignRow.name != spec.name
            )
        )
        queue = spec.queue_name
        for name, settings, file_applied in others.all():
            other = (settings or {}).get("queue") or cs.default_queue(name)
            why = cs.queue_clash(queue, other, name)
            if why is not None:
                raise QueueInUse(why, queue, name)
            record = cf.FileRecord.from_json(file_applied)
            if record is None:
                continue
            why = cs.queue_clash(queue, record.queue, name)
            if why is not None:
                if queue == record.queue:
                    why = (
                        f"queue {queue!r} is the queue campaign file {record.file} gives"
                        f" campaign {name!r}; each campaign needs its own Asterisk queue"
                    )
                else:
                    why = f"{why} (set by campaign file {record.file})"
                raise QueueInUse(why, queue, name)

    async def _sync_tasks(self, s: AsyncSession, row: CampaignRow, spec: cs.CampaignSpec) -> None:
        existing = {
            t.name: t
            for t in (await s.scalars(select(TaskRow).where(TaskRow.campaign_id == row.id))).all()
        }
        wanted = {t.name for t in spec.tasks}
        for name, task in existing.items():
            if name in wanted:
                continue
            used = await s.scalar(
                select(func.count())
                .select_from(ContactRow)
                .where(or_(ContactRow.task_id == task.id, ContactRow.pending_task_id == task.id))
            )
            if used:
                raise InvalidChange(
                    f"task {name!r} still holds {used} contact(s): move them before removing it"
                )
        await s.execute(delete(TaskflowRuleRow).where(TaskflowRuleRow.campaign_id == row.id))
        for name, task in existing.items():
            if name not in wanted:
                await s.delete(task)
        ids: dict[str, int] = {}
        for pos, t in enumerate(spec.tasks):
            found = existing.get(t.name)
            if found is None:
                task = TaskRow(campaign_id=row.id, name=t.name)
                s.add(task)
            else:
                task = found
            if found is not None and task.type != t.type.value:
                used = await s.scalar(
                    select(func.count())
                    .select_from(ContactRow)
                    .where(ContactRow.task_id == task.id)
                )
                if used:
                    raise InvalidChange(
                        f"task {t.name!r} holds contacts: its type cannot change "
                        f"from {task.type} to {t.type.value}"
                    )
            task.type = t.type.value
            task.position = pos
            task.settings = dict(t.settings)
            await s.flush()
            ids[t.name] = task.id
        for r in spec.rules:
            s.add(
                TaskflowRuleRow(
                    campaign_id=row.id,
                    from_task_id=ids[r.from_task],
                    status=r.status.value,
                    status_detail=r.detail,
                    to_task_id=ids[r.to_task],
                    delay_seconds=r.delay.total_seconds(),
                )
            )
        row.start_task_id = ids[spec.first_task]
        await s.flush()

    async def get_campaign(self, ref: int | str) -> Campaign:
        async with self.read() as s:
            return convert.campaign(await self._campaign_row(s, ref))

    async def _campaign_row(
        self, s: AsyncSession, ref: int | str, *, lock: bool = False
    ) -> CampaignRow:
        """The campaign by id or name; ``lock``: held until the transaction ends (PostgreSQL
        ``FOR UPDATE``; a SQLite write transaction holds the whole database already)."""
        if isinstance(ref, int):
            row = await s.get(CampaignRow, ref, with_for_update=lock)
        else:
            query = select(CampaignRow).where(CampaignRow.name == ref)
            row = await s.scalar(query.with_for_update() if lock else query)
            if row is None and ref.isascii() and ref.isdigit():
                row = await s.get(CampaignRow, int(ref), with_for_update=lock)
        if row is None:
            raise NotFound(f"no campaign {ref!r}")
        return row

    async def list_campaigns(self) -> list[Campaign]:
        async with self.read() as s:
            rows = (await s.scalars(select(CampaignRow).order_by(CampaignRow.name))).all()
            return [convert.campaign(r) for r in rows]

    async def campaign_spec(self, campaign_id: int) -> cs.CampaignSpec:
        campaign = await self.get_campaign(campaign_id)
        return cs.CampaignSpec.model_validate(campaign.settings)

    async def set_campaign_status(
        self, campaign_id: int, status: CampaignStatus, now: datetime
    ) -> Campaign:
        async with self.write() as s:
            row = await self._campaign_row(s, campaign_id, lock=True)
            row.status = status.value
            settings = dict(row.settings)
            schedule = dict(settings.get("schedule") or {})
            schedule["status"] = status.value
            settings["schedule"] = schedule
            row.settings = settings
            row.updated_at = now
            return convert.campaign(row)

    async def tasks(self, campaign_id: int) -> list[Task]:
        """The campaign's tasks in definition order (call tasks carry their retry policy)."""
        async with self.read() as s:
            camp = await self._campaign_row(s, campaign_id)
            spec = cs.CampaignSpec.model_validate(camp.settings)
            rows = (
                await s.scalars(
                    select(TaskRow).where(TaskRow.campaign_id == camp.id).order_by(TaskRow.position)
                )
            ).all()
            return [
                Task(
                    id=r.id,
                    campaign_id=r.campaign_id,
                    name=r.name,
                    type=TaskType(r.type),
                    settings=dict(r.settings or {}),
                    retry=spec.retry_policy(r.name) if r.type == TaskType.CALL.value else None,
                )
                for r in rows
            ]

    async def rules(self, campaign_id: int) -> list[TaskflowRule]:
        async with self.read() as s:
            names = await self._task_names(s, campaign_id)
            rows = (
                await s.scalars(
                    select(TaskflowRuleRow)
                    .where(TaskflowRuleRow.campaign_id == campaign_id)
                    .order_by(TaskflowRuleRow.id)
                )
            ).all()
            return [
                TaskflowRule(
                    from_task=names[r.from_task_id],
                    status=Status(r.status),
                    to_task=names[r.to_task_id],
                    status_detail=r.status_detail,
                    delay=timedelta(seconds=r.delay_seconds),
                )
                for r in rows
            ]

    async def _task_names(self, s: AsyncSession, campaign_id: int) -> dict[int, str]:
        rows = await s.execute(
            select(TaskRow.id, TaskRow.name).where(TaskRow.campaign_id == campaign_id)
        )
        return {row[0]: row[1] for row in rows}

    async def _task_ids(self, s: AsyncSession, campaign_id: int) -> dict[str, int]:
        return {n: i for i, n in (await self._task_names(s, campaign_id)).items()}

    # -- contacts ------------------------------------------------------------------------------

    async def add_contacts(
        self,
        campaign_id: int,
        contacts: Sequence[NewContact],
        now: datetime,
        *,
        task: str | None = None,
        import_id: int | None = None,
        return_ids: bool = True,
    ) -> list[int]:
        """Add contacts to ``task`` (default: the campaign's start task) as ``open``.

        Returns the new ids in order (``return_ids=False`` skips that for bulk loads).
        """
        _aware(now, "now")
        async with self.write() as s:
            camp = await self._campaign_row(s, campaign_id)
            if task is None:
                task_id = camp.start_task_id
            else:
                task_id = (await self._task_ids(s, camp.id)).get(task)
                if task_id is None:
                    raise InvalidChange(f"no task {task!r} in campaign {camp.name!r}")
            if task_id is None:
                raise InvalidChange(f"campaign {camp.name!r} has no start task")
            if not contacts:
                return []
            values = [
                {
                    "campaign_id": camp.id,
                    "task_id": task_id,
                    "status": Status.OPEN.value,
                    "status_detail": StatusDetail.NONE.value,
                    "phone": c.phone,
                    "first_name": c.first_name,
                    "last_name": c.last_name,
                    "company": c.company,
                    "email": c.email,
                    "timezone": c.timezone,
                    "external_id": c.external_id,
                    "list_name": c.list_name,
                    "fields": dict(c.fields),
                    "import_id": import_id,
                    "attempts": 0,
                    "due_at": c.due_at,
                    "created_at": now,
                    "updated_at": now,
                }
                for c in contacts
            ]
            if not return_ids:
                await s.execute(insert(ContactRow), values)
                return []
            result = await s.execute(
                insert(ContactRow).returning(ContactRow.id, sort_by_parameter_order=True), values
            )
            return [r[0] for r in result.all()]

    async def get_contact(self, contact_id: int) -> Contact:
        async with self.read() as s:
            row = await s.get(ContactRow, contact_id)
            if row is None:
                raise NotFound(f"no contact {contact_id}")
            return convert.contact(row)

    async def find_contacts(
        self,
        campaign_id: int,
        selection: ContactSelection = ContactSelection(),
        *,
        limit: int = 100,
        offset: int = 0,
        order: SortOrder = SortOrder(),
        after: int | None = None,
    ) -> list[Contact]:
        """``after`` (an id, with the default id order): the page after that contact. Paging so
        (keyset) never skips or repeats a contact when others enter or leave the selection
        between pages, which ``offset`` does."""
        async with self.read() as s:
            where = selection_clauses(campaign_id, selection, await self._task_ids(s, campaign_id))
            if after is not None:
                where.append(ContactRow.id > after)
            rows = await s.scalars(
                select(ContactRow)
                .where(*where)
                .order_by(*sort_expression(order, self.dialect))
                .limit(limit)
                .offset(offset)
            )
            return [convert.contact(r) for r in rows.all()]

    async def contact_pages(
        self,
        campaign_id: int,
        selection: ContactSelection = ContactSelection(),
        *,
        size: int = 1000,
    ) -> AsyncIterator[list[Contact]]:
        """The selected contacts in id order, ``size`` at a time, for exports of any size.

        Each page is its own read, after the last id of the one before (keyset): a contact in
        the selection from start to end comes exactly once, whoever enters, leaves or changes
        meanwhile (``offset`` pages would shift), and none twice; each comes as it was when its
        page was read. Nothing is kept between pages (memory: one page) and no transaction
        stays open while a slow reader takes its time.
        """
        after: int | None = None
        while True:
            page = await self.find_contacts(campaign_id, selection, limit=size, after=after)
            if page:
                yield page
            if len(page) < size:
                return
            after = page[-1].id

    async def count_contacts(
        self, campaign_id: int, selection: ContactSelection = ContactSelection()
    ) -> int:
        async with self.read() as s:
            where = selection_clauses(campaign_id, selection, await self._task_ids(s, campaign_id))
            return int(
                await s.scalar(select(func.count()).select_from(ContactRow).where(*where)) or 0
            )

    async def has_contacts(self, campaign_id: int) -> bool:
        """Whether the campaign has a contact at all: one index probe, where a count reads
        every contact of a large campaign."""
        async with self.read() as s:
            found = await s.scalar(
                select(ContactRow.id).where(ContactRow.campaign_id == campaign_id).limit(1)
            )
        return found is not None

    async def newest_contact_id(self) -> int | None:
        """The highest contact id of the store (None: no contact): the end of the primary key
        index, read at once however many contacts there are. It grows with every contact
        added (ids are never reused), so a change of it says that contacts arrived."""
        async with self.read() as s:
            found = await s.scalar(select(func.max(ContactRow.id)))
        return None if found is None else int(found)

    async def custom_field_names(self, campaign_id: int) -> set[str]:
        """The custom field names the campaign's contacts have (any value, also null).

        Reads every contact's fields: for checking names a user gave (an export's columns),
        not for a hot path.
        """
        c = ContactRow
        if self.dialect == "postgresql":
            q = (
                select(func.jsonb_object_keys(c.fields))
                .where(c.campaign_id == campaign_id)
                .distinct()
            )
        else:
            each = func.json_each(c.fields).table_valued("key").alias("each")
            q = (
                select(each.c.key)
                .select_from(c)
                .join(each, literal(True))
                .where(c.campaign_id == campaign_id)
                .distinct()
            )
        async with self.read() as s:
            return {str(k) for k in (await s.scalars(q)).all()}

    async def contact_timezones(self, campaign_id: int) -> set[str | None]:
        """Distinct contact time zones of a campaign (for the calling-hours guard)."""
        async with self.read() as s:
            rows = await s.scalars(
                select(ContactRow.timezone).where(ContactRow.campaign_id == campaign_id).distinct()
            )
            return set(rows.all())

    async def history(self, contact_id: int) -> list[HistoryEntry]:
        async with self.read() as s:
            if await s.get(ContactRow, contact_id) is None:
                raise NotFound(f"no contact {contact_id}")
            rows = await s.scalars(
                select(HistoryRow)
                .where(HistoryRow.contact_id == contact_id)
                .order_by(HistoryRow.id)
            )
            return [convert.history(r) for r in rows.all()]

    async def task_entries(self, contact_ids: Sequence[int]) -> dict[int, int]:
        """For each contact, the id of the history row that put it into its current task:
        a row into that task from another one (a rule, a move, a delayed rule coming due), or
        one that made it ``open``/``$none`` there from something else (a move or an edit back
        into the same task). Contacts in their task since they were added are left out.

        A webhook's delivery id names it: the task's ``attempts`` restart at 0 on each entry,
        so attempts alone repeat on a second pass, while the entry row changes only then (a
        field edit, a retry or a resend leaves it as it is).
        """
        h, c = HistoryRow, ContactRow
        opened = and_(
            h.to_status == Status.OPEN.value,
            h.to_detail == StatusDetail.NONE.value,
            or_(
                h.from_status.is_(None),
                h.from_status != Status.OPEN.value,
                h.from_detail.is_(None),
                h.from_detail != StatusDetail.NONE.value,
            ),
        )
        entered = or_(h.from_task_id.is_(None), h.from_task_id != h.to_task_id, opened)
        out: dict[int, int] = {}
        async with self.read() as s:
            for chunk in _chunks(list(contact_ids), 500):
                rows = await s.execute(
                    select(h.contact_id, func.max(h.id))
                    .join(c, c.id == h.contact_id)
                    .where(h.contact_id.in_(chunk), h.to_task_id == c.task_id, entered)
                    .group_by(h.contact_id)
                )
                out.update({int(cid): int(hid) for cid, hid in rows.all()})
        return out

    async def attempts(self, contact_id: int) -> list[Attempt]:
        async with self.read() as s:
            rows = await s.scalars(
                select(AttemptRow)
                .where(AttemptRow.contact_id == contact_id)
                .order_by(AttemptRow.originated_at, AttemptRow.id)
            )
            return [convert.attempt(r) for r in rows.all()]

    async def contact_record(
        self, contact_id: int
    ) -> tuple[Contact, list[HistoryEntry], list[Attempt]]:
        """The contact with its history and attempts, in one read transaction (the screen pop
        of every connected call: three transactions before)."""
        async with self.read() as s:
            row = await s.get(ContactRow, contact_id)
            if row is None:
                raise NotFound(f"no contact {contact_id}")
            history = await s.scalars(
                select(HistoryRow)
                .where(HistoryRow.contact_id == contact_id)
                .order_by(HistoryRow.id)
            )
            attempts = await s.scalars(
                select(AttemptRow)
                .where(AttemptRow.contact_id == contact_id)
                .order_by(AttemptRow.originated_at, AttemptRow.id)
            )
            return (
                convert.contact(row),
                [convert.history(r) for r in history.all()],
                [convert.attempt(r) for r in attempts.all()],
            )

    async def recent_attempts(self, campaign_id: int, limit: int = 500) -> list[Attempt]:
        """The campaign's latest finished attempts, oldest first (to seed pacing estimates)."""
        async with self.read() as s:
            rows = await s.scalars(
                select(AttemptRow)
                .where(AttemptRow.campaign_id == campaign_id, AttemptRow.result.is_not(None))
                # an attempt lost in doubt has no hang-up time: last, on both back ends
                .order_by(AttemptRow.hungup_at.desc().nulls_last(), AttemptRow.id.desc())
                .limit(limit)
            )
            return [convert.attempt(r) for r in reversed(rows.all())]

    async def unfinished_attempts(self, campaign_id: int) -> list[Attempt]:
        """Attempts of the campaign with no result yet (in flight, or lost in a crash).

        Started with ``start_attempt`` and neither hung up nor given a result (the range of the
        campaign/hang-up index, so it stays cheap with millions of finished attempts).
        """
        a = AttemptRow
        async with self.read() as s:
            rows = await s.scalars(
                select(a)
                .where(a.campaign_id == campaign_id, a.hungup_at.is_(None), a.result.is_(None))
                .order_by(a.originated_at, a.id)
            )
            return [convert.attempt(r) for r in rows.all()]

    # -- leasing -------------------------------------------------------------------------------

    def _lease_base(
        self,
        campaign_id: int,
        now: datetime,
        agent: str | None,
        any_personal: bool,
        guard: LeaseGuard | None,
        conditions: Iterable[Condition],
    ) -> list[ColumnElement[bool]]:
        """Conditions every leased contact meets (the task is added per call task)."""
        c = ContactRow
        dnc = DncRow
        where: list[ColumnElement[bool]] = [
            c.status == Status.OPEN.value,
            c.pending_task_id.is_(None),
            or_(c.due_at.is_(None), c.due_at <= now),
            or_(c.lease_expires_at.is_(None), c.lease_expires_at <= now),
            # coalesce: "has a number" must not steer the planner to the phone index.
            func.coalesce(c.phone, "") != "",
            ~exists().where(
                dnc.phone == c.phone,
                or_(dnc.campaign_id.is_(None), dnc.campaign_id == campaign_id),
            ),
        ]
        # A lead an agent holds (issue 9 reservation) is dialed for that agent only; a pool
        # call (no agent) never takes a held lead. Closing a lead clears its holder.
        held = LeadWorkRow
        held_by_other: ColumnElement[bool] = held.holder.is_not(None)
        if agent is not None:
            held_by_other = and_(held_by_other, held.holder != agent)
        where.append(~exists().where(held.contact_id == c.id, held_by_other))
        personal = c.status_detail == StatusDetail.FOLLOW_UP_PERSONAL.value
        if not any_personal:
            if agent is None:
                where.append(or_(~personal, c.follow_up_agent.is_(None)))
            else:
                where.append(
                    or_(~personal, c.follow_up_agent.is_(None), c.follow_up_agent == agent)
                )
        if guard is not None:
            zone_ok: ColumnElement[bool] = c.timezone.in_(sorted(guard.allowed_timezones))
            if guard.allow_unknown_timezone:
                zone_ok = or_(zone_ok, c.timezone.is_(None))
            where.append(zone_ok)
        where.extend(condition_clause(cond) for cond in conditions)
        return where

    async def lease(
        self,
        campaign_id: int,
        n: int,
        holder: str,
        ttl: timedelta,
        now: datetime,
        *,
        task_id: int | None = None,
        agent: str | None = None,
        any_personal: bool = False,
        guard: LeaseGuard | None = None,
        sort: SortOrder | None = None,
        conditions: Sequence[Condition] | None = None,
        max_calls_per_day: int | None = None,
    ) -> list[Contact]:
        """Claim up to ``n`` due contacts of the campaign's call tasks (or of ``task_id``).

        Order: due personal follow-ups (of ``agent``; with ``any_personal`` of every agent),
        then contacts never tried in their task, then automatic retries by due time; within
        each group the campaign's sort (or ``sort``), call tasks in definition order. Only
        contacts passing the campaign's filter (or ``conditions``) and the calling-hours
        ``guard``, and never a number on a do-not-call list. Personal follow-ups booked for
        another agent are left alone unless ``any_personal``. A lease expires at ``now + ttl``;
        an expired lease returns the contact to the pool.

        The number, not the contact record, is what laws count: a contact whose number is being
        called now (an attempt not hung up, in any campaign) or is held for a call (another
        record of it leased in a call task: on preview offer, or leased and not dialed yet) is
        not leased, nor one whose number was called ``max_calls_per_day`` times in the last 24
        hours (in any campaign, by any contact record) when the campaign's
        ``dial.max_calls_per_day`` or the argument (the daemon's floor) is set; the lower of
        the two holds. One lease takes one record of a number at most (two would be two calls
        at once, and the cap counts only the calls stored before the lease).

        Atomic: SQLite runs it in one ``BEGIN IMMEDIATE`` transaction (one writer at a time);
        PostgreSQL selects ``FOR UPDATE SKIP LOCKED``, so concurrent claimers skip each other's
        rows instead of waiting or handing a contact out twice, and checks the number rules
        again under an advisory lock per number (``_numbers_still_free``), so two leases of
        one number for two campaigns at the same moment do not both pass.
        """
        _aware(now, "now")
        if n <= 0:
            return []
        async with self.write() as s:
            camp = await self._campaign_row(s, campaign_id)
            plan = await self._lease_plan(s, camp)
            sort = plan.sort if sort is None else sort
            conditions = plan.conditions if conditions is None else conditions
            task_list = list(plan.call_tasks) if task_id is None else [task_id]
            base = self._lease_base(camp.id, now, agent, any_personal, guard, conditions)
            caps = [x for x in (plan.max_calls_per_day, max_calls_per_day) if x is not None]
            number_rules = _number_rules(now, min(caps) if caps else None)
            base.extend(number_rules)
            c = ContactRow
            personal = c.status_detail == StatusDetail.FOLLOW_UP_PERSONAL.value
            order = sort_expression(sort, self.dialect)
            groups: list[tuple[list[ColumnElement[bool]], list[Any]]] = [
                # campaign_id + detail equality: served by the overview index.
                (
                    [c.campaign_id == camp.id, personal, c.due_at <= now],
                    [c.due_at.asc(), *order],
                ),
                # attempts <= 0 is attempts = 0 (a count) and (attempts, order) the order
                # alone, but only ix_contacts_fresh_id (or the sort's index) gives it: asked
                # for "= 0" by id, PostgreSQL also weighed the primary key and, for a lease of
                # one, walked it past every contact of the campaigns before this one (40,000
                # read; see test_a_lease_reads_its_campaigns_contacts_not_an_older_campaigns).
                ([c.attempts <= 0, ~personal], [c.attempts.asc(), *order]),
                (
                    [
                        or_(
                            and_(c.attempts > 0, ~personal),
                            and_(personal, c.due_at.is_(None)),
                        )
                    ],
                    # A retry without a due time has been due forever: first on both back ends.
                    [c.due_at.asc().nulls_first(), *order],
                ),
            ]
            ids: list[int] = []
            phones: set[str] = set()
            for extra, group_order in groups:
                for tid in task_list:
                    while (want := n - len(ids)) > 0:
                        q = select(c.id, c.phone).where(c.task_id == tid, *base, *extra)
                        if phones:
                            # One record of a number per lease: the rules above see what is
                            # stored, not the numbers this lease has chosen already.
                            q = q.where(c.phone.not_in(sorted(phones)))
                        q = q.order_by(*group_order).limit(want)
                        if self.dialect == "postgresql":
                            q = q.with_for_update(skip_locked=True)
                        found = (await s.execute(q)).all()
                        repeated = False
                        for cid, phone in found:
                            if phone in phones:
                                repeated = True  # the next query looks further instead
                                continue
                            ids.append(cid)
                            phones.add(str(phone))
                        if not repeated or len(found) < want:
                            break
            if ids and self.dialect == "postgresql":
                ids = await self._numbers_still_free(s, ids, phones, number_rules)
            if not ids:
                return []
            rows = (
                await s.scalars(
                    update(ContactRow)
                    .where(ContactRow.id.in_(ids))
                    .values(lease_holder=holder, lease_expires_at=now + ttl)
                    .returning(ContactRow)
                    .execution_options(synchronize_session=False)
                )
            ).all()
            by_id = {r.id: r for r in rows}
            return [convert.contact(by_id[i]) for i in ids]

    async def _numbers_still_free(
        self,
        s: AsyncSession,
        ids: list[int],
        phones: Iterable[str],
        number_rules: Sequence[ColumnElement[bool]],
    ) -> list[int]:
        """PostgreSQL: the chosen contacts whose number rules still hold, checked again under
        a lock on each number until this transaction ends.

        Under READ COMMITTED the lease's query sees only leases committed before it started:
        two leases of one number for two campaigns (two daemons, two runners) at the same
        moment both passed. The lock (transaction-scoped, taken in key order so two leases
        never wait for each other in a circle) makes the second wait until the first has
        committed its lease; its check runs after that, as a new statement, and sees it. Costs
        two statements per lease; a contact dropped here is rare (only in such a race) and
        comes back to the pool at once. SQLite needs none of it: ``BEGIN IMMEDIATE`` runs one
        writer at a time, so the query already sees every lease.
        """
        keys = sorted({number_lock_key(p) for p in phones})
        await s.execute(
            text("SELECT pg_advisory_xact_lock(:cls, k) FROM unnest(CAST(:keys AS integer[])) k"),
            {"cls": NUMBER_LOCK_CLASS, "keys": keys},
        )
        c = ContactRow
        free = set((await s.scalars(select(c.id).where(c.id.in_(ids), *number_rules))).all())
        return [i for i in ids if i in free]

    async def _lease_plan(self, s: AsyncSession, camp: CampaignRow) -> _LeasePlan:
        """The campaign's sort, filter and call tasks, cached until the campaign changes.

        The stored definition (``settings``) names the tasks too, and every change of tasks goes
        through ``update_campaign``, which rewrites it: an equal definition means an equal plan,
        also when another process changed the campaign.
        """
        cached = self._plans.get(camp.id)
        if cached is not None and cached.settings == camp.settings:
            return cached
        spec = cs.CampaignSpec.model_validate(camp.settings)
        call_tasks = (
            await s.scalars(
                select(TaskRow.id)
                .where(TaskRow.campaign_id == camp.id, TaskRow.type == TaskType.CALL.value)
                .order_by(TaskRow.position)
            )
        ).all()
        plan = _LeasePlan(
            dict(camp.settings),
            spec.sort_order(),
            spec.conditions(),
            tuple(call_tasks),
            spec.dial.max_calls_per_day,
        )
        self._plans[camp.id] = plan
        return plan

    async def release(self, contact_ids: Sequence[int], holder: str) -> int:
        """Give back leased contacts untouched (e.g. not dialed after all)."""
        if not contact_ids:
            return 0
        async with self.write() as s:
            result = await s.execute(
                update(ContactRow)
                .where(ContactRow.id.in_(contact_ids), ContactRow.lease_holder == holder)
                .values(lease_holder=None, lease_expires_at=None)
                .execution_options(synchronize_session=False)
            )
            return int(result.rowcount)  # type: ignore[attr-defined]

    async def release_all(self, holder: str) -> int:
        """Give back every lease of ``holder`` (a runner shutting down)."""
        async with self.write() as s:
            result = await s.execute(
                update(ContactRow)
                .where(ContactRow.lease_holder == holder)
                .values(lease_holder=None, lease_expires_at=None)
                .execution_options(synchronize_session=False)
            )
            return int(result.rowcount)  # type: ignore[attr-defined]

    async def renew(
        self, contact_ids: Sequence[int], holder: str, ttl: timedelta, now: datetime
    ) -> int:
        """Extend leases still held by ``holder`` (a long call outlives the first ttl)."""
        if not contact_ids:
            return 0
        async with self.write() as s:
            result = await s.execute(
                update(ContactRow)
                .where(ContactRow.id.in_(contact_ids), ContactRow.lease_holder == holder)
                .values(lease_expires_at=now + ttl)
                .execution_options(synchronize_session=False)
            )
            return int(result.rowcount)  # type: ignore[attr-defined]

    # -- transitions ---------------------------------------------------------------------------

    async def start_attempt(self, attempt: Attempt) -> None:
        """Record an attempt as it starts (so a crash leaves a trace of calls in flight).

        Runs once per dial: a new attempt is one ``INSERT ... ON CONFLICT DO NOTHING`` (no
        read first); only an id already stored takes the merging path of ``record_attempt``.
        """
        if attempt.result is None and attempt.hungup_at is None:
            async with self._core() as conn:
                inserted = await conn.execute(
                    self._insert(AttemptRow)
                    .values(**_attempt_values(attempt))
                    .on_conflict_do_nothing(index_elements=["id"])
                )
            if inserted.rowcount == 1:
                return
            # The id is stored already (nothing was written): merge as record_attempt does.
        async with self.write() as s:
            await self._upsert_attempt(s, attempt)

    async def start_attempts(self, attempts: Sequence[Attempt]) -> None:
        """Record a batch of attempts as they start: one transaction, one multi-row INSERT.

        The engine writes a pacing decision's attempts together before it sends any of their
        Originates, so a crash mid-batch leaves each dialed contact's attempt behind (closed
        ``failed_unknown`` at the next start) and none is dialed twice. Ids already stored (only
        a resend of the same attempts could do that) are merged as ``start_attempt`` does.
        """
        if not attempts:
            return
        rows = [_attempt_values(a) for a in attempts]
        async with self._core() as conn:
            inserted = await conn.execute(
                self._insert(AttemptRow).on_conflict_do_nothing(index_elements=["id"]), rows
            )
        if inserted.rowcount == len(attempts):
            return
        for a in attempts:
            await self.start_attempt(a)

    async def record_attempt(self, attempt: Attempt, *, count: bool = False) -> None:
        """Write a finished attempt without changing the contact's status (e.g. after
        ``StaleContact``).

        ``count``: the call was made, so it counts in the contact's ``attempts`` and
        ``last_attempt_at`` as a transition's ``count_attempt`` does (once per attempt, and
        only while the contact is still in the attempt's task: entering a task restarts the
        count). Without it, a contact edited during each of its calls was never counted and
        could be dialed past the retry policy's ``max_attempts``.

        A contact deleted meanwhile stays deleted: its attempt is not written back (deleting
        took the contact's attempts with it), but a live answer still counts in the
        abandonment buckets, as the call did reach a person.
        """
        async with self.write() as s:
            a = attempt
            c = ContactRow
            found = (await s.execute(select(c.id, c.task_id).where(c.id == a.contact_id))).first()
            if found is not None:
                before = await s.scalar(select(AttemptRow.result).where(AttemptRow.id == a.id))
                await self._upsert_attempt(s, a)
                if count and before is None and a.result is not None and found.task_id == a.task_id:
                    await self._count_alone(s, a)
                return
            if a.result is not None and a.result.live_answer:
                at = a.answered_at or a.hungup_at or a.originated_at
                if at is not None:
                    await self._count_answer(s, a.campaign_id, at, a.result.value == "abandoned")

    async def _upsert_attempt(self, s: AsyncSession, a: Attempt, *, loaded: bool = False) -> None:
        """``loaded``: the caller already read the row into ``s`` (or found none), so the
        identity map answers and no SELECT is sent."""
        row = s.identity_map.get(s.identity_key(AttemptRow, a.id)) if loaded else None
        if not loaded:
            row = await s.get(AttemptRow, a.id)
        previous_result = row.result if row is not None else None
        if row is None:
            row = AttemptRow(
                id=a.id,
                campaign_id=a.campaign_id,
                contact_id=a.contact_id,
                task_id=a.task_id,
                phone=a.phone,
            )
            s.add(row)
        for name in _ATTEMPT_MERGED[:-1]:  # "result" is an enum, stored by value below
            value = getattr(a, name)
            if value is not None:
                setattr(row, name, value)
        if a.result is not None:
            row.result = a.result.value
        if row.hungup_at is not None:
            start = row.answered_at or row.originated_at
            if row.originated_at is not None:
                ring_end = row.answered_at or row.hungup_at
                row.ring_seconds = (
                    ring_end - (row.ringing_at or row.originated_at)
                ).total_seconds()
            if row.answered_at is not None and start is not None:
                row.talk_seconds = (row.hungup_at - (row.connected_at or start)).total_seconds()
        await s.flush()
        if a.result is not None and a.result.live_answer and previous_result is None:
            at = a.answered_at or a.hungup_at or a.originated_at
            if at is not None:
                await self._count_answer(s, a.campaign_id, at, a.result.value == "abandoned")

    async def _count_answer(
        self, s: AsyncSession | AsyncConnection, campaign_id: int, at: datetime, abandoned: bool
    ) -> None:
        ins = self._insert(AbandonmentBucketRow).values(
            campaign_id=campaign_id,
            bucket_start=bucket_start(at),
            live_answers=1,
            abandoned=1 if abandoned else 0,
        )
        ins = ins.on_conflict_do_update(
            index_elements=["campaign_id", "bucket_start"],
            set_={
                "live_answers": AbandonmentBucketRow.live_answers + 1,
                "abandoned": AbandonmentBucketRow.abandoned + (1 if abandoned else 0),
            },
        )
        await s.execute(ins)

    async def abandonment(
        self, campaign_id: int, since: datetime, until: datetime | None = None
    ) -> AbandonmentCount:
        """Live answers and abandoned calls since ``since`` (rounded down to a bucket)."""
        b = AbandonmentBucketRow
        where = [b.campaign_id == campaign_id, b.bucket_start >= bucket_start(since)]
        if until is not None:
            where.append(b.bucket_start < until)
        async with self.read() as s:
            row = (
                await s.execute(
                    select(
                        func.coalesce(func.sum(b.live_answers), 0),
                        func.coalesce(func.sum(b.abandoned), 0),
                    ).where(*where)
                )
            ).one()
            return AbandonmentCount(int(row[0]), int(row[1]))

    async def apply_transition(self, t: Transition) -> Contact:
        """Persist a taskflow decision: contact, history row and attempt in one transaction.

        SQLAlchemy Core, not ORM objects: this runs once per finished call, and at a few
        thousand calls in flight the session's identity map, change tracking and flush
        planning cost more CPU than the statements. Round trips: one SELECT (the contact with
        its attempt row), one INSERT of the history row(s), one UPDATE of the contact, one
        INSERT or UPDATE of the attempt (and the abandonment bucket for a live answer).
        """
        _aware(t.at, "transition time")
        async with self._core() as conn:
            return await self.apply_transition_on(conn, t)

    async def apply_transitions(
        self, transitions: Sequence[Transition]
    ) -> list[Contact | StaleContact | NotFound]:
        """Persist many taskflow decisions in one transaction, each as :meth:`apply_transition`
        would; per transition the contact as written, or why it was refused (``StaleContact``,
        ``NotFound``: nothing of that one is written, the others are).

        For a batch of outcomes decided together (an export task's file of up to 5,000
        contacts): one transaction per contact cost a commit each (on SQLite a ``BEGIN
        IMMEDIATE`` and a WAL sync each). A refusal is raised by the checks on the contact's
        row, before anything of it is written, so leaving it out keeps the transaction whole.
        Any other error rolls the whole batch back.
        """
        out: list[Contact | StaleContact | NotFound] = []
        if not transitions:
            return out
        for t in transitions:
            _aware(t.at, "transition time")
        async with self._core() as conn:
            for t in transitions:
                try:
                    out.append(await self.apply_transition_on(conn, t))
                except (StaleContact, NotFound) as exc:
                    out.append(exc)
        return out

    async def apply_transition_on(self, conn: AsyncConnection, t: Transition) -> Contact:
        """:meth:`apply_transition` inside the caller's transaction (``conn``: a write
        transaction of this store, e.g. ``await session.connection()`` in ``Store.write``), so
        that a change of the caller's and the contact's new status commit together."""
        _aware(t.at, "transition time")
        pg = self.dialect == "postgresql"
        if t.attempt is not None:
            # The attempt row in the same round trip: its upsert below then reads nothing.
            q = _SELECT_CONTACT_ATTEMPT_PG if pg else _SELECT_CONTACT_ATTEMPT
            params = {"cid": t.contact_id, "aid": t.attempt.id}
        else:
            q = _SELECT_CONTACT_PG if pg else _SELECT_CONTACT
            params = {"cid": t.contact_id}
        found = (await conn.execute(q, params)).first()
        if found is None:
            raise NotFound(f"no contact {t.contact_id}")
        row: dict[str, Any] = dict(zip(_CONTACT_COLUMNS, found, strict=False))
        cid = row["id"]
        if t.expect_task_id is not None and row["task_id"] != t.expect_task_id:
            raise StaleContact(
                f"contact {cid} is no longer in task {t.expect_task_id} (now {row['task_id']})"
            )
        if (t.expect_status is not None and row["status"] != t.expect_status.value) or (
            t.expect_status_detail is not None and row["status_detail"] != t.expect_status_detail
        ):
            expected = t.expect_status.value if t.expect_status is not None else row["status"]
            if t.expect_status_detail is not None:
                expected += f"/{t.expect_status_detail}"
            raise StaleContact(
                f"contact {cid} is {row['status']}/{row['status_detail']}, expected {expected}"
            )
        waiting = row["pending_task_id"] is not None
        if t.expect_waiting is not None and waiting != t.expect_waiting:
            raise StaleContact(
                f"contact {cid} "
                + ("waits for a move to another task" if waiting else "no longer waits")
            )
        if t.task_id != row["task_id"] or t.pending_task_id is not None:
            valid = set(
                (
                    await conn.execute(
                        select(TaskRow.id).where(TaskRow.campaign_id == row["campaign_id"])
                    )
                ).scalars()
            )
            for tid in (t.task_id, t.pending_task_id):
                if tid is not None and tid not in valid:
                    raise InvalidChange(f"task {tid} is not a task of contact {cid}'s campaign")
        if t.attempt is not None and t.attempt.contact_id != cid:
            raise InvalidChange(f"attempt {t.attempt.id} is not contact {cid}'s")
        history = [
            {
                "campaign_id": row["campaign_id"],
                "contact_id": cid,
                "at": t.at,
                "actor": t.actor,
                "from_task_id": row["task_id"],
                "to_task_id": t.task_id,
                "from_status": row["status"],
                "to_status": t.status.value,
                "from_detail": row["status_detail"],
                "to_detail": t.status_detail,
                "note": t.note,
            }
        ]
        changes: dict[str, Any] = {}
        if t.count_attempt:
            changes["attempts"] = row["attempts"] + 1
            changes["last_attempt_at"] = t.at
        if t.task_id != row["task_id"]:
            changes["attempts"] = 0
        changes.update(
            task_id=t.task_id,
            status=t.status.value,
            status_detail=t.status_detail,
            due_at=t.due_at,
            follow_up_agent=t.follow_up_agent,
            pending_task_id=t.pending_task_id,
            pending_due_at=t.pending_due_at,
            updated_at=t.at,
        )
        if t.fields_update:
            changes["fields"] = {**(row["fields"] or {}), **t.fields_update}
        if t.release_lease:
            changes["lease_holder"] = None
            changes["lease_expires_at"] = None
        if (
            t.pending_task_id is not None
            and t.pending_due_at is not None
            and t.pending_due_at <= t.at
        ):
            # A rule without delay: enter the target task now, as its own history step.
            history.append(
                {
                    "campaign_id": row["campaign_id"],
                    "contact_id": cid,
                    "at": t.at,
                    "actor": "taskflow",
                    "from_task_id": t.task_id,
                    "to_task_id": t.pending_task_id,
                    "from_status": t.status.value,
                    "to_status": Status.OPEN.value,
                    "from_detail": t.status_detail,
                    "to_detail": StatusDetail.NONE.value,
                    "note": "taskflow rule",
                }
            )
            changes.update(task_id=t.pending_task_id, **_ENTER_PENDING_TASK)
        await conn.execute(_INSERT_HISTORY, history)
        await conn.execute(_UPDATE_CONTACT, {"b_cid": cid, **changes})
        row.update(changes)
        if t.attempt is not None:
            tail = found[len(_CONTACT_COLUMNS) :]
            stored = dict(zip(_ATTEMPT_MERGED, tail, strict=False)) if tail[-1] else None
            await self._write_attempt(conn, t.attempt, stored)
        return _contact(row)

    async def _write_attempt(
        self, conn: AsyncConnection, a: Attempt, stored: dict[str, Any] | None
    ) -> None:
        """``_upsert_attempt`` in Core, with the stored row (None: none) already read."""
        values = dict(stored) if stored is not None else {}
        for name in _ATTEMPT_MERGED:
            if name == "result":
                continue
            value = getattr(a, name)
            if value is not None:
                values[name] = value
        if a.result is not None:
            values["result"] = a.result.value
        hungup = values.get("hungup_at")
        originated = values.get("originated_at")
        answered = values.get("answered_at")
        if hungup is not None:
            start = answered or originated
            if originated is not None:
                ring_end = answered or hungup
                values["ring_seconds"] = (
                    ring_end - (values.get("ringing_at") or originated)
                ).total_seconds()
            if answered is not None and start is not None:
                values["talk_seconds"] = (
                    hungup - (values.get("connected_at") or start)
                ).total_seconds()
        if stored is None:
            await conn.execute(
                _INSERT_ATTEMPT,
                {
                    "id": a.id,
                    "campaign_id": a.campaign_id,
                    "contact_id": a.contact_id,
                    "task_id": a.task_id,
                    "phone": a.phone,
                    **values,
                },
            )
        else:
            await conn.execute(_UPDATE_ATTEMPT, {"b_aid": a.id, **values})
        previous_result = stored["result"] if stored is not None else None
        if a.result is not None and a.result.live_answer and previous_result is None:
            when = a.answered_at or a.hungup_at or a.originated_at
            if when is not None:
                await self._count_answer(conn, a.campaign_id, when, a.result.value == "abandoned")

    async def write_journaled(self, j: JournaledOutcome, now: datetime) -> JournalWritten:
        """Write one outcome of the daemon's journal, once, in one transaction with the marker
        that it was written (``journal_applied``): a replay cut anywhere (a crash before the
        journal file is removed) finds the marker and writes nothing again, also for a contact
        deleted since, whose attempts went with it. See :class:`JournaledOutcome` for when the
        contact's new status is written and when the attempt is recorded alone.

        On PostgreSQL the contact row is locked first, so another daemon cannot lease or dial
        it between the checks and the write.
        """
        t = j.transition
        a = t.attempt
        if a is None:
            raise InvalidChange(f"journaled outcome of contact {t.contact_id} has no attempt")
        _aware(t.at, "transition time")
        c = ContactRow
        async with self.write() as s:
            if await s.get(JournalAppliedRow, a.id) is not None:
                return JournalWritten(JournalWrite.ALREADY_STORED)
            q = select(c.id, c.task_id, c.status, c.status_detail, c.lease_holder).where(
                c.id == t.contact_id
            )
            if self.dialect == "postgresql":
                q = q.with_for_update()
            found = (await s.execute(q)).first()
            stored = await s.scalar(select(AttemptRow.result).where(AttemptRow.id == a.id))
            if stored is not None:
                return JournalWritten(JournalWrite.ALREADY_STORED)
            s.add(JournalAppliedRow(attempt_id=a.id, journal=j.journal, applied_at=now))
            if found is None:
                # deleted since the call: it stays deleted (its attempt is not written back),
                # but a live answer still counts in the abandonment figures, once
                if a.result is not None and a.result.live_answer:
                    at = a.answered_at or a.hungup_at or a.originated_at
                    if at is not None:
                        await self._count_answer(
                            s, a.campaign_id, at, a.result.value == "abandoned"
                        )
                return JournalWritten(JournalWrite.STALE, None, f"contact {t.contact_id} deleted")
            why = await self._superseded_by(s, a, found.lease_holder, j.holder)
            if why is None:
                try:
                    contact = await self.apply_transition_on(await s.connection(), t)
                except StaleContact as exc:
                    why = str(exc)
                else:
                    return JournalWritten(JournalWrite.APPLIED, contact)
                outcome = JournalWrite.STALE
            else:
                outcome = JournalWrite.SUPERSEDED
                s.add(
                    HistoryRow(
                        campaign_id=a.campaign_id,
                        contact_id=t.contact_id,
                        at=t.at,
                        actor=t.actor,
                        from_task_id=found.task_id,
                        to_task_id=found.task_id,
                        from_status=found.status,
                        to_status=found.status,
                        from_detail=found.status_detail,
                        to_detail=found.status_detail,
                        note=f"{j.superseded_note}: {why}"[:2000],
                    )
                )
            await self._record_alone(s, a, found.task_id)
            if found.lease_holder == j.holder:
                await s.execute(
                    update(c)
                    .where(c.id == t.contact_id, c.lease_holder == j.holder)
                    .values(lease_holder=None, lease_expires_at=None)
                    .execution_options(synchronize_session=False)
                )
            row = await s.get(c, t.contact_id, populate_existing=True)
            return JournalWritten(outcome, convert.contact(row) if row else None, why)

    async def _superseded_by(
        self, s: AsyncSession, a: Attempt, lease_holder: str | None, holder: str
    ) -> str | None:
        """Why the contact's current state is newer than attempt ``a`` (None: it is not):
        dialed again since (another attempt originated after ``a``), or leased by another
        holder than ``holder`` (the daemon whose journal this is)."""
        if a.originated_at is not None:
            newer = await s.scalar(
                select(AttemptRow.id)
                .where(
                    AttemptRow.contact_id == a.contact_id,
                    AttemptRow.id != a.id,
                    AttemptRow.originated_at > a.originated_at,
                )
                .order_by(AttemptRow.originated_at.desc())
                .limit(1)
            )
            if newer is not None:
                return f"dialed again since (attempt {newer})"
        if lease_holder is not None and lease_holder != holder:
            return f"leased by {lease_holder} since"
        return None

    async def _record_alone(self, s: AsyncSession, a: Attempt, task_id: int) -> None:
        """The attempt without a status change, counted as ``record_attempt(count=True)``
        counts it, except that an older call does not move ``last_attempt_at`` back."""
        before = await s.scalar(select(AttemptRow.result).where(AttemptRow.id == a.id))
        await self._upsert_attempt(s, a)
        if before is None and a.result is not None and task_id == a.task_id:
            await self._count_alone(s, a)

    async def _count_alone(self, s: AsyncSession, a: Attempt) -> None:
        """One more attempt on ``a``'s contact; ``last_attempt_at`` never moves back (an
        older call recorded after a newer one: a journal replayed late, a lost call closed)."""
        c = ContactRow
        values: dict[str, Any] = {"attempts": c.attempts + 1}
        at = a.hungup_at or a.originated_at
        if at is not None:
            when = literal(at, c.last_attempt_at.type)
            values["last_attempt_at"] = case(
                (or_(c.last_attempt_at.is_(None), c.last_attempt_at < when), when),
                else_=c.last_attempt_at,
            )
        await s.execute(
            update(c)
            .where(c.id == a.contact_id)
            .values(**values)
            .execution_options(synchronize_session=False)
        )

    async def forget_journal(self, journal: str) -> int:
        """Drop the markers of ``journal`` (its file is gone: nothing of it is replayed again)."""
        async with self.write() as s:
            result = await s.execute(
                delete(JournalAppliedRow)
                .where(JournalAppliedRow.journal == journal)
                .execution_options(synchronize_session=False)
            )
            return int(result.rowcount)  # type: ignore[attr-defined]

    async def promote_due(
        self, now: datetime, *, campaign_id: int | None = None, limit: int = 10_000
    ) -> list[int]:
        """Contacts whose delayed rule is due enter their target task as ``open``.

        Returns the ids that entered (at most ``limit`` per call; call again while it returns a
        full batch). Each gets a history row.
        """
        _aware(now, "now")
        c = ContactRow
        async with self.write() as s:
            q = select(c.id).where(c.pending_task_id.is_not(None), c.pending_due_at <= now)
            if campaign_id is not None:
                q = q.where(c.campaign_id == campaign_id)
            q = q.order_by(c.pending_due_at, c.id).limit(limit)
            if self.dialect == "postgresql":
                q = q.with_for_update(skip_locked=True)
            ids = list((await s.scalars(q)).all())
            if not ids:
                return []
            await self._history_from_select(
                s,
                ids,
                now,
                "taskflow",
                to_task=c.pending_task_id,
                to_status=Status.OPEN.value,
                to_detail=StatusDetail.NONE.value,
                note="delayed rule due",
            )
            await s.execute(
                update(c)
                .where(c.id.in_(ids))
                .values(
                    task_id=c.pending_task_id,
                    **_ENTER_PENDING_TASK,
                    lease_holder=None,
                    lease_expires_at=None,
                    updated_at=now,
                )
                .execution_options(synchronize_session=False)
            )
            return ids

    async def _history_from_select(
        self,
        s: AsyncSession,
        ids: Sequence[int] | None,
        now: datetime,
        actor: str,
        *,
        where: Sequence[ColumnElement[bool]] = (),
        to_task: Any = None,
        to_status: Any = None,
        to_detail: Any = None,
        note: str | None = None,
    ) -> None:
        """Append one history row per selected contact, computed in SQL (bulk operations)."""
        c = ContactRow
        sel = select(
            c.campaign_id,
            c.id,
            literal(now, HistoryRow.at.type),
            literal(actor),
            c.task_id,
            c.task_id if to_task is None else to_task,
            c.status,
            c.status if to_status is None else _lit(to_status),
            c.status_detail,
            c.status_detail if to_detail is None else _lit(to_detail),
            literal(note, HistoryRow.note.type),
        )
        sel = sel.where(c.id.in_(ids)) if ids is not None else sel.where(*where)
        await s.execute(
            insert(HistoryRow).from_select(
                [
                    "campaign_id",
                    "contact_id",
                    "at",
                    "actor",
                    "from_task_id",
                    "to_task_id",
                    "from_status",
                    "to_status",
                    "from_detail",
                    "to_detail",
                    "note",
                ],
                sel,
            )
        )

    # -- manual operations ---------------------------------------------------------------------

    async def move(
        self,
        campaign_id: int,
        selection: ContactSelection,
        to_task: str,
        actor: str,
        now: datetime,
        *,
        note: str | None = None,
        enter_at: datetime | None = None,
        refuse_in_call: bool = False,
    ) -> SetChange:
        """Move the selected contacts into ``to_task`` as ``open`` (history row each).

        With ``enter_at`` in the future the contacts wait (like a delayed taskflow rule) and
        enter the task when :meth:`promote_due` runs after that time.

        A contact in a call right now (leased: being dialled, ringing, connected, in wrap-up
        or on preview offer) is not moved: the move would take it out from under its call,
        whose outcome (a retry, a callback, the agent's disposition) is then refused as stale
        and lost, and would give up the lease of a call still going on. It is left out and
        counted (``SetChange.skipped_in_call``), the others are moved; with
        ``refuse_in_call`` (a move of one contact) it is refused instead (``ContactInCall``
        naming the contact and its attempt), nothing written.
        """
        _aware(now, "now")
        async with self.write() as s:
            ids = await self._task_ids(s, campaign_id)
            if not ids:
                raise NotFound(f"no campaign {campaign_id}")
            if to_task not in ids:
                raise InvalidChange(f"no task {to_task!r} (tasks: {', '.join(ids)})")
            target = ids[to_task]
            selected = selection_clauses(campaign_id, selection, ids)
            where, skipped, busy = await self._outside_calls(
                s, selected, now, "task", refuse=refuse_in_call
            )
            if enter_at is not None and _aware(enter_at, "enter_at") > now:
                await self._history_from_select(
                    s,
                    None,
                    now,
                    actor,
                    where=where,
                    note=note or f"to enter {to_task} at {iso_utc(enter_at)}",
                )
                result = await s.execute(
                    update(ContactRow)
                    .where(*where)
                    .values(
                        pending_task_id=target,
                        pending_due_at=enter_at,
                        lease_holder=None,
                        lease_expires_at=None,
                        updated_at=now,
                    )
                    .execution_options(synchronize_session=False)
                )
                return SetChange(int(result.rowcount), skipped, busy)  # type: ignore[attr-defined]
            await self._history_from_select(
                s,
                None,
                now,
                actor,
                where=where,
                to_task=literal(target),
                to_status=Status.OPEN.value,
                to_detail=StatusDetail.NONE.value,
                note=note or f"moved to {to_task}",
            )
            result = await s.execute(
                update(ContactRow)
                .where(*where)
                .values(
                    task_id=target,
                    status=Status.OPEN.value,
                    status_detail=StatusDetail.NONE.value,
                    attempts=0,
                    due_at=_hold_off_kept(now),
                    follow_up_agent=None,
                    pending_task_id=None,
                    pending_due_at=None,
                    lease_holder=None,
                    lease_expires_at=None,
                    updated_at=now,
                )
                .execution_options(synchronize_session=False)
            )
            return SetChange(int(result.rowcount), skipped, busy)  # type: ignore[attr-defined]

    async def bulk_edit(
        self,
        campaign_id: int,
        selection: ContactSelection,
        actor: str,
        now: datetime,
        *,
        fields: dict[str, Any] | None = None,
        status: Status | None = None,
        status_detail: str | None = None,
        note: str | None = None,
        moves: Mapping[int, RuleMove] | None = None,
        refuse_in_call: bool = False,
    ) -> SetChange:
        """Set fields and/or status of the selected contacts (history row each).

        With a ``status`` or ``status_detail``, the contacts in a call right now (leased:
        being dialled, ringing, connected, in wrap-up or on preview offer) are left out and
        counted (``SetChange.skipped_in_call``), the others are edited; with
        ``refuse_in_call`` (an edit of one contact) such a contact is refused instead
        (``ContactInCall``), nothing written. Fields alone change at any time, in a call too.

        ``fields`` keys that are editable standard columns set those columns; any other key
        sets a custom field (``None`` removes it).

        ``moves``: with a ``status``, the taskflow rules' decision per task id
        (``taskflow.manual.manual_status_moves``), written as a transition writes it: the
        contacts of a task with a delayed rule wait for its target, those of a rule without
        delay enter the target task at once (second history row, actor ``taskflow``), the
        others wait for nothing. An abandoned contact's hold-off is kept either way.
        """
        _aware(now, "now")
        values, text = self.edit_values(now, fields, status, status_detail, note)
        async with self.write() as s:
            return await self._bulk_edit_on(
                s,
                campaign_id,
                selection,
                actor,
                now,
                values,
                text,
                moves,
                refuse_in_call=refuse_in_call,
            )

    def edit_values(
        self,
        now: datetime,
        fields: dict[str, Any] | None,
        status: Status | None,
        status_detail: str | None,
        note: str | None,
    ) -> tuple[dict[str, Any], str]:
        """The contact columns an edit sets (checked) and its history note."""
        if not fields and status is None and status_detail is None:
            raise InvalidChange("nothing to change: give fields and/or a status")
        try:
            fields = check_edit(fields or {})
        except ValueError as exc:
            raise InvalidChange(str(exc)) from None
        values: dict[str, Any] = {"updated_at": now}
        custom: dict[str, Any] = {}
        for key, value in fields.items():
            is_custom, name = split_field(key)
            if is_custom:
                custom[name] = value
            else:
                values[name] = value
        if status is not None:
            values["status"] = status.value
            values["status_detail"] = status_detail or StatusDetail.NONE.value
            values["due_at"] = _hold_off_kept(now)
            values["follow_up_agent"] = None
        elif status_detail is not None:
            values["status_detail"] = status_detail
        if custom:
            values["fields"] = self._json_merge(custom)
        edited = ", ".join(sorted(fields.keys()))
        return values, note or (f"edited: {edited}" if edited else "status edited")

    async def _bulk_edit_on(
        self,
        s: AsyncSession,
        campaign_id: int,
        selection: ContactSelection,
        actor: str,
        now: datetime,
        values: dict[str, Any],
        note: str,
        moves: Mapping[int, RuleMove] | None = None,
        *,
        refuse_in_call: bool = False,
    ) -> SetChange:
        """:meth:`bulk_edit`'s writes inside the caller's transaction (``values``: the
        contact columns to set, checked)."""
        task_ids = await self._task_ids(s, campaign_id)
        if not task_ids:
            raise NotFound(f"no campaign {campaign_id}")
        where: Sequence[ColumnElement[bool]] = selection_clauses(campaign_id, selection, task_ids)
        skipped, busy = 0, cast(tuple[int, ...], ())
        changing = [k for k in ("status", "status_detail") if k in values]
        if changing:
            where, skipped, busy = await self._outside_calls(
                s, where, now, changing[0], refuse=refuse_in_call
            )
        if values.get("external_id") is not None:
            await self._check_external_id(s, campaign_id, where, values["external_id"])
        if moves is not None and "status" in values:
            edited = await self._status_edit_on(
                s, campaign_id, where, actor, now, values, note, moves
            )
            return SetChange(edited, skipped, busy)
        await self._history_from_select(
            s,
            None,
            now,
            actor,
            where=where,
            to_status=values.get("status"),
            to_detail=values.get("status_detail"),
            note=note,
        )
        result = await s.execute(
            update(ContactRow)
            .where(*where)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        return SetChange(int(result.rowcount), skipped, busy)  # type: ignore[attr-defined]

    @staticmethod
    def _in_a_call(now: datetime) -> ColumnElement[bool]:
        """A contact leased right now: its call being dialled, ringing, connected or in
        wrap-up, or on preview offer to an agent (an expired lease counts no longer)."""
        c = ContactRow
        return and_(
            c.lease_holder.is_not(None),
            or_(c.lease_expires_at.is_(None), c.lease_expires_at > now),
        )

    async def _outside_calls(
        self,
        s: AsyncSession,
        where: Sequence[ColumnElement[bool]],
        now: datetime,
        field: str,
        *,
        refuse: bool,
    ) -> tuple[list[ColumnElement[bool]], int, tuple[int, ...]]:
        """The selection ``where`` without its contacts in a call, how many those are and the
        first ten of them; ``refuse``: raise ``ContactInCall`` for them instead (``field``:
        the change refused).

        PostgreSQL: the selection is locked first (``FOR UPDATE``), so a lease committed
        meanwhile is seen by the count and a lease after it skips these rows (its claim is
        ``SKIP LOCKED``) until the change is written; SQLite's ``BEGIN IMMEDIATE`` sees every
        lease already.
        """
        if refuse:
            await self.refuse_in_call(s, where, now, field)
            return list(where), 0, ()
        c = ContactRow
        live = self._in_a_call(now)
        if self.dialect == "postgresql":
            locked = select(c.id).where(*where).with_for_update().subquery()
            await s.execute(select(func.count()).select_from(locked))
        skipped = int(await s.scalar(select(func.count()).where(*where, live)) or 0)
        busy: tuple[int, ...] = ()
        if skipped:
            found = await s.scalars(select(c.id).where(*where, live).order_by(c.id).limit(10))
            busy = tuple(int(cid) for cid in found)
        return [*where, ~live], skipped, busy

    async def _live_attempt(self, s: AsyncSession, contact_id: int) -> str | None:
        """The id of the contact's attempt still going on (written as started, not hung up);
        None on preview offer, before the call is placed."""
        a = AttemptRow
        found = await s.scalar(
            select(a.id)
            .where(a.contact_id == contact_id, a.hungup_at.is_(None), a.result.is_(None))
            .order_by(a.originated_at.desc())
            .limit(1)
        )
        return None if found is None else str(found)

    async def in_call_text(self, s: AsyncSession, contact_id: int, holder: str) -> str:
        """\"contact N is in a call right now (attempt A, holder H)\", or being dialled or on
        preview offer while no attempt is placed yet: what a refusal names, so that the
        operator can find the call (``GET .../contacts/N/attempts``, the log by ``attempt``)."""
        attempt = await self._live_attempt(s, contact_id)
        if attempt is None:
            return (
                f"contact {contact_id} is being dialled or on preview offer right now "
                f"({holder}, no attempt placed yet)"
            )
        return f"contact {contact_id} is in a call right now (attempt {attempt}, {holder})"

    async def refuse_in_call(
        self,
        s: AsyncSession,
        where: Sequence[ColumnElement[bool]],
        now: datetime,
        field: str,
        *,
        refused: str | None = None,
    ) -> None:
        """Raise ``ContactInCall`` if a selected contact is leased (``field``: the change;
        ``refused``: what is refused for one contact, e.g. ``deleted``, when it is not a change
        of its phone, status or task).

        The call's outcome is decided on the contact as it was leased (``StaleContact`` then
        keeps a change made meanwhile, but the outcome of the call is lost with it, and a
        number changed mid-call leaves an attempt naming another number than the contact's).
        PostgreSQL: the selection is locked first (``FOR UPDATE``), so a lease committed
        meanwhile is seen here and a lease after it skips these rows until the change is
        written; SQLite's ``BEGIN IMMEDIATE`` sees every lease already.
        """
        c = ContactRow
        live = self._in_a_call(now)
        if self.dialect == "postgresql":
            locked = select(c.id, c.lease_holder, c.lease_expires_at).where(*where)
            rows = (await s.execute(locked.order_by(c.id).with_for_update())).all()
            busy = [
                (int(cid), str(holder))
                for cid, holder, expires in rows
                if holder is not None and (expires is None or expires > now)
            ]
        else:
            found = await s.execute(
                select(c.id, c.lease_holder).where(*where, live).order_by(c.id).limit(11)
            )
            busy = [(int(cid), str(holder)) for cid, holder in found.all()]
        if not busy:
            return
        if len(busy) == 1:
            cid, holder = busy[0]
            what = (
                f"it cannot be {refused} during the call; try again when it has ended"
                if refused is not None
                else "its phone, status, status_detail and task cannot change during the call; "
                "try again when it has ended (its other fields can change now)"
            )
            raise ContactInCall(f"{await self.in_call_text(s, cid, holder)}: {what}", field, [cid])
        shown = ", ".join(str(cid) for cid, _ in busy[:10])
        more = ", ..." if len(busy) > 10 else ""
        raise ContactInCall(
            f"{'more than 10' if len(busy) > 10 else len(busy)} of the selected contacts are "
            f"being dialled right now ({shown}{more}): their status and task cannot change "
            "during a call; try again when the calls have ended (their other fields can "
            "change now)",
            field,
            [cid for cid, _ in busy[:10]],
        )

    async def _status_edit_on(
        self,
        s: AsyncSession,
        campaign_id: int,
        where: Sequence[ColumnElement[bool]],
        actor: str,
        now: datetime,
        values: dict[str, Any],
        note: str,
        moves: Mapping[int, RuleMove],
    ) -> int:
        """A status edit with its rule moves, by task. The selection is read once first: the
        writes change the columns it may select on (status, task)."""
        c = ContactRow
        by_task: dict[int, list[int]] = defaultdict(list)
        for cid, tid in (await s.execute(select(c.id, c.task_id).where(*where))).all():
            by_task[int(tid)].append(int(cid))
        status, detail = values["status"], values["status_detail"]
        for tid, ids in by_task.items():
            move = moves.get(tid)
            group = dict(values)
            if move is None or move.at > now:
                group["pending_task_id"] = move.to_task_id if move is not None else None
                group["pending_due_at"] = move.at if move is not None else None
            else:
                # Enter the target task now, as apply_transition does for a rule without
                # delay; due_at stays the hold-off kept by the edit (evaluated on the row as
                # it was), so a rule cannot bring an abandoned person back within it.
                group.update(
                    task_id=move.to_task_id,
                    status=Status.OPEN.value,
                    status_detail=StatusDetail.NONE.value,
                    attempts=0,
                    pending_task_id=None,
                    pending_due_at=None,
                    lease_holder=None,
                    lease_expires_at=None,
                )
            for chunk in _chunks(ids, 1000):
                await self._history_from_select(
                    s, chunk, now, actor, to_status=status, to_detail=detail, note=note
                )
                if move is not None and move.at <= now:
                    await s.execute(
                        insert(HistoryRow),
                        _rule_entries(campaign_id, chunk, now, tid, move, status, detail),
                    )
                await s.execute(
                    update(c)
                    .where(c.id.in_(chunk))
                    .values(**group)
                    .execution_options(synchronize_session=False)
                )
        return sum(len(ids) for ids in by_task.values())

    async def lock_campaign_contacts(self, s: AsyncSession, campaign_id: int) -> None:
        """Serialise checks of a campaign's unique contact values (phone, external_id) with
        their writes: SQLite's ``BEGIN IMMEDIATE`` does already; on PostgreSQL a
        transaction-scoped advisory lock per campaign (adds, imports by API and edits)."""
        if self.dialect == "postgresql":
            await s.execute(select(func.pg_advisory_xact_lock(CONTACT_LOCK_CLASS, campaign_id)))

    async def _check_external_id(
        self, s: AsyncSession, campaign_id: int, where: Sequence[ColumnElement[bool]], ext: str
    ) -> None:
        """An external_id names one contact of the campaign (the idempotent add and
        ``?external_id=`` look it up): refuse giving it to several contacts, or to one while
        another contact has it."""
        await self.lock_campaign_contacts(s, campaign_id)
        c = ContactRow
        chosen = (await s.scalars(select(c.id).where(*where).limit(2))).all()
        if len(chosen) > 1:
            raise InvalidChange(
                f"external_id {ext!r} would name several contacts: select one contact to set it"
            )
        other = await s.scalar(
            select(c.id)
            .where(c.campaign_id == campaign_id, c.external_id == ext, c.id.not_in(chosen))
            .limit(1)
        )
        if other is not None:
            raise DuplicateValue(
                f"external_id {ext!r} is already contact {other} of this campaign",
                "external_id",
                int(other),
            )

    def _json_merge(self, patch: dict[str, Any]) -> Any:
        c = ContactRow
        if self.dialect == "postgresql":
            keep = {k: v for k, v in patch.items() if v is not None}
            drop = [k for k, v in patch.items() if v is None]
            expr: Any = c.fields.op("||")(literal(keep, pg_dialect.JSONB))
            for k in drop:
                expr = expr.op("-")(literal(k))
            return expr
        return func.json_patch(c.fields, literal(patch, ContactRow.fields.type))

    # -- overview ------------------------------------------------------------------------------

    async def overview(self, campaign_id: int) -> list[OverviewRow]:
        """Counts per task x status x status_detail, waiting contacts in their own rows."""
        c = ContactRow
        async with self.read() as s:
            camp = await self._campaign_row(s, campaign_id)
            tasks = (
                await s.execute(
                    select(TaskRow.id, TaskRow.name, TaskRow.position).where(
                        TaskRow.campaign_id == camp.id
                    )
                )
            ).all()
            names = {t.id: t.name for t in tasks}
            position = {t.id: t.position for t in tasks}
            keys = (c.task_id, c.status, c.status_detail, c.pending_task_id)
            # Two passes over the covering index: counts for everyone, and the earliest due
            # time only where someone waits (min() over a million NULLs is not free).
            rows = (
                await s.execute(
                    select(*keys, func.count()).where(c.campaign_id == camp.id).group_by(*keys)
                )
            ).all()
            due_rows = (
                await s.execute(
                    select(*keys, func.min(c.pending_due_at))
                    .where(c.campaign_id == camp.id, c.pending_task_id.is_not(None))
                    .group_by(*keys)
                )
            ).all()
        next_due = {(r[0], r[1], r[2], r[3]): _as_utc(r[4]) for r in due_rows}
        out = [
            (
                position.get(r[0], 0),
                OverviewRow(
                    task=names.get(r[0], str(r[0])),
                    status=Status(r[1]),
                    status_detail=r[2],
                    count=int(r[4]),
                    waiting_for=names.get(r[3]) if r[3] is not None else None,
                    next_due=next_due.get((r[0], r[1], r[2], r[3])),
                ),
            )
            for r in rows
        ]
        out.sort(
            key=lambda p: (
                p[0],
                _STATUS_ORDER[p[1].status],
                p[1].status_detail,
                p[1].waiting_for or "",
            )
        )
        return [row for _, row in out]

    # -- do-not-call ---------------------------------------------------------------------------

    async def add_dnc(
        self,
        phones: Iterable[str],
        actor: str,
        now: datetime,
        *,
        campaign_id: int | None = None,
        note: str | None = None,
        moves: Mapping[int, RuleMove] | None = None,
    ) -> DncAdded:
        """Add numbers (E.164) to the global or a campaign's list: how many were new, how many
        open contacts it closed and which of those are in a call right now.

        ``moves``: per task id, where the campaign's taskflow rules send a contact closed as
        ``failed``/``$dnc`` (``taskflow.manual.dnc_moves``), written as a transition writes
        it: a delayed rule makes the contact wait for its target, a rule without delay enters
        it at once (second history row, actor ``taskflow``). A contact in a call keeps its
        lease when it moves on, so the target task takes it only once the dialer gives it
        back after the call.

        Open contacts in call tasks with these numbers become ``failed`` / ``$dnc``, also one
        in a call (the callee may ask for it during the call): a do-not-call request is taken
        at once, never refused or deferred. The call goes on (the agent ends it); its outcome
        is then refused as stale (``apply_transition`` expects the contact open, as leased),
        so the attempt is recorded and the contact stays ``failed``/``$dnc``: no retry, no
        callback, no disposition reopens it, and the lease query and the engine's check
        before each Originate keep the number from being dialed again.
        """
        _aware(now, "now")
        numbers = sorted(set(phones))
        if not numbers:
            return DncAdded(0)
        added = closed = 0
        in_call: list[int] = []
        async with self.write() as s:
            if campaign_id is not None:
                await self._campaign_row(s, campaign_id)
            for chunk in _chunks(numbers, 500):
                ins = (
                    self._insert(DncRow)
                    .values(
                        [
                            {
                                "campaign_id": campaign_id,
                                "phone": p,
                                "added_at": now,
                                "actor": actor,
                                "note": note,
                            }
                            for p in chunk
                        ]
                    )
                    .on_conflict_do_nothing()
                )
                result = await s.execute(ins)
                added += max(int(result.rowcount), 0)  # type: ignore[attr-defined]
                c = ContactRow
                call_tasks = select(TaskRow.id).where(TaskRow.type == TaskType.CALL.value)
                where: list[ColumnElement[bool]] = [
                    c.phone.in_(chunk),
                    c.status == Status.OPEN.value,
                    c.task_id.in_(call_tasks),
                    c.pending_task_id.is_(None),
                ]
                if campaign_id is not None:
                    where.append(c.campaign_id == campaign_id)
                # read before the update below changes what ``where`` selects (status)
                closing = (
                    (await s.execute(select(c.id, c.task_id, c.campaign_id).where(*where))).all()
                    if moves
                    else []
                )
                await self._history_from_select(
                    s,
                    None,
                    now,
                    actor,
                    where=where,
                    to_status=Status.FAILED.value,
                    to_detail=StatusDetail.DNC.value,
                    note="number on do-not-call list",
                )
                if len(in_call) < 100:
                    found = await s.scalars(
                        select(c.id)
                        .where(*where, self._in_a_call(now))
                        .order_by(c.id)
                        .limit(100 - len(in_call))
                    )
                    in_call.extend(int(cid) for cid in found)
                done = await s.execute(
                    update(c)
                    .where(*where)
                    .values(
                        status=Status.FAILED.value,
                        status_detail=StatusDetail.DNC.value,
                        due_at=None,
                        follow_up_agent=None,
                        updated_at=now,
                    )
                    .execution_options(synchronize_session=False)
                )
                closed += int(done.rowcount)  # type: ignore[attr-defined]
                if moves:
                    await self._dnc_moves_on(s, closing, moves, now)
        return DncAdded(added, closed, tuple(in_call))

    async def _dnc_moves_on(
        self,
        s: AsyncSession,
        closed: Sequence[Any],
        moves: Mapping[int, RuleMove],
        now: datetime,
    ) -> None:
        """The rule moves of contacts ``add_dnc`` just closed (rows of id, task id, campaign
        id), inside its transaction."""
        c = ContactRow
        by_task: dict[tuple[int, int], list[int]] = defaultdict(list)
        for cid, tid, camp in closed:
            if int(tid) in moves:
                by_task[(int(camp), int(tid))].append(int(cid))
        dnc = StatusDetail.DNC.value
        for (camp, tid), ids in by_task.items():
            move = moves[tid]
            for chunk in _chunks(ids, 1000):
                if move.at > now:
                    values: dict[str, Any] = {
                        "pending_task_id": move.to_task_id,
                        "pending_due_at": move.at,
                    }
                else:
                    values = {
                        "task_id": move.to_task_id,
                        "status": Status.OPEN.value,
                        "status_detail": StatusDetail.NONE.value,
                        "attempts": 0,
                        "pending_task_id": None,
                        "pending_due_at": None,
                    }
                    await s.execute(
                        insert(HistoryRow),
                        _rule_entries(camp, chunk, now, tid, move, Status.FAILED.value, dnc),
                    )
                await s.execute(
                    update(c)
                    .where(c.id.in_(chunk))
                    .values(**values)
                    .execution_options(synchronize_session=False)
                )

    async def dnc_numbers(self, phones: Iterable[str], campaign_id: int | None = None) -> set[str]:
        """Which of ``phones`` are on the global list or the campaign's: one query for a batch
        (the engine's check just before it originates a pacing decision's calls)."""
        wanted = sorted({p for p in phones if p})
        if not wanted:
            return set()
        scope: ColumnElement[bool] = DncRow.campaign_id.is_(None)
        if campaign_id is not None:
            scope = or_(scope, DncRow.campaign_id == campaign_id)
        found: set[str] = set()
        async with self._core(read=True) as conn:
            for chunk in _chunks(wanted, 500):
                result = await conn.execute(
                    select(DncRow.phone).where(DncRow.phone.in_(chunk), scope).distinct()
                )
                found.update(result.scalars())
        return found

    async def is_dnc(self, phone: str, campaign_id: int | None = None) -> bool:
        scope: ColumnElement[bool] = DncRow.campaign_id.is_(None)
        if campaign_id is not None:
            scope = or_(scope, DncRow.campaign_id == campaign_id)
        async with self._core(read=True) as conn:
            found = (
                await conn.execute(select(DncRow.id).where(DncRow.phone == phone, scope).limit(1))
            ).scalar()
            return found is not None

    async def remove_dnc(self, phone: str, campaign_id: int | None = None) -> bool:
        async with self.write() as s:
            scope = (
                DncRow.campaign_id.is_(None)
                if campaign_id is None
                else DncRow.campaign_id == campaign_id
            )
            result = await s.execute(delete(DncRow).where(DncRow.phone == phone, scope))
            return bool(result.rowcount)  # type: ignore[attr-defined]

    async def count_dnc(self, campaign_id: int | None = None) -> int:
        async with self.read() as s:
            q = select(func.count()).select_from(DncRow)
            q = q.where(
                DncRow.campaign_id.is_(None)
                if campaign_id is None
                else DncRow.campaign_id == campaign_id
            )
            return int(await s.scalar(q) or 0)

    # -- agents --------------------------------------------------------------------------------

    async def upsert_agent(self, agent: Agent, now: datetime) -> None:
        async with self.write() as s:
            row = await s.scalar(select(AgentRow).where(AgentRow.name == agent.name))
            if row is None:
                row = AgentRow(name=agent.name, state=agent.state.value, state_since=now)
                s.add(row)
            row.interface = agent.interface
            row.campaigns = list(agent.campaigns)
            row.skills = list(agent.skills)
            row.active = True
            try:
                await s.flush()
            except IntegrityError as exc:  # pragma: no cover - concurrent insert of one name
                raise AlreadyExists(f"agent {agent.name!r} exists already") from exc

    async def set_agent_state(self, name: str, state: AgentState, now: datetime) -> None:
        async with self.write() as s:
            result = await s.execute(
                update(AgentRow)
                .where(AgentRow.name == name)
                .values(state=state.value, state_since=now)
            )
            if not result.rowcount:  # type: ignore[attr-defined]
                raise NotFound(f"no agent {name!r}")

    async def agents(self) -> list[Agent]:
        async with self.read() as s:
            rows = (await s.scalars(select(AgentRow).order_by(AgentRow.name))).all()
            return [
                Agent(
                    name=r.name,
                    interface=r.interface,
                    campaigns=tuple(r.campaigns or ()),
                    skills=tuple(r.skills or ()),
                    state=AgentState(r.state),
                )
                for r in rows
            ]


def _lit(value: Any) -> Any:
    return literal(value) if not isinstance(value, ColumnElement) else value


def _as_utc(value: Any) -> datetime | None:
    """``min()`` of a column loses the column type on SQLite: parse and mark UTC."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    raise TypeError(f"unexpected time value {value!r}")


_T = TypeVar("_T")

#: Class id of the two-key advisory locks of a campaign's contacts (distinct key space from
#: one-key locks).
CONTACT_LOCK_CLASS = 0x4441504E  # "DAPN"
#: Class id of the two-key advisory locks of one phone number (``number_lock_key``).
NUMBER_LOCK_CLASS = 0x444E554D  # "DNUM"


def _chunks(items: Sequence[_T], size: int) -> Iterable[Sequence[_T]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _rule_entries(
    campaign_id: int,
    contact_ids: Iterable[int],
    now: datetime,
    from_task_id: int,
    move: RuleMove,
    from_status: str,
    from_detail: str,
) -> list[dict[str, Any]]:
    """The status history rows of contacts a taskflow rule without delay moves into its
    target task at once (after an edit or a do-not-call entry closed them)."""
    return [
        {
            "campaign_id": campaign_id,
            "contact_id": cid,
            "at": now,
            "actor": "taskflow",
            "from_task_id": from_task_id,
            "to_task_id": move.to_task_id,
            "from_status": from_status,
            "to_status": Status.OPEN.value,
            "from_detail": from_detail,
            "to_detail": StatusDetail.NONE.value,
            "note": "taskflow rule",
        }
        for cid in contact_ids
    ]


#: A contact entering the task a delayed taskflow rule had scheduled for it: open, fresh.
_ENTER_PENDING_TASK: dict[str, object] = {
    "status": Status.OPEN.value,
    "status_detail": StatusDetail.NONE.value,
    "attempts": 0,
    "due_at": None,
    "follow_up_agent": None,
    "pending_task_id": None,
    "pending_due_at": None,
}
_CONTACTS = cast(Table, ContactRow.__table__)
_ATTEMPTS = cast(Table, AttemptRow.__table__)
_HISTORY = cast(Table, HistoryRow.__table__)
#: Attempt columns a later write of the same attempt merges into (non-None values win).
_ATTEMPT_MERGED = (
    "server",
    "agent",
    "originated_at",
    "ringing_at",
    "answered_at",
    "connected_at",
    "hungup_at",
    "cause",
    "disposition",
    "result",
)


# The per-call statements, built once: constructing a statement and its cache key on every
# execution cost as much CPU as running it.
_CONTACT_COLUMNS = tuple(c.name for c in _CONTACTS.c)
_SELECT_CONTACT = select(*_CONTACTS.c).where(_CONTACTS.c.id == bindparam("cid"))
_SELECT_CONTACT_ATTEMPT = (
    select(
        *_CONTACTS.c,
        *(_ATTEMPTS.c[name].label(f"a_{name}") for name in _ATTEMPT_MERGED),
        _ATTEMPTS.c.id.label("a_id"),
    )
    .select_from(_CONTACTS.outerjoin(_ATTEMPTS, _ATTEMPTS.c.id == bindparam("aid")))
    .where(_CONTACTS.c.id == bindparam("cid"))
)
_SELECT_CONTACT_PG = _SELECT_CONTACT.with_for_update()
_SELECT_CONTACT_ATTEMPT_PG = _SELECT_CONTACT_ATTEMPT.with_for_update(of=_CONTACTS)
_INSERT_HISTORY = insert(_HISTORY)
_UPDATE_CONTACT = update(_CONTACTS).where(_CONTACTS.c.id == bindparam("b_cid"))
_INSERT_ATTEMPT = insert(_ATTEMPTS)
_UPDATE_ATTEMPT = update(_ATTEMPTS).where(_ATTEMPTS.c.id == bindparam("b_aid"))


def _contact(v: dict[str, Any]) -> Contact:
    """A contact from its column values (as ``convert.contact`` from a row object)."""
    return Contact(
        id=v["id"],
        campaign_id=v["campaign_id"],
        task_id=v["task_id"],
        status=Status(v["status"]),
        status_detail=v["status_detail"],
        phone=v["phone"],
        first_name=v["first_name"],
        last_name=v["last_name"],
        company=v["company"],
        email=v["email"],
        timezone=v["timezone"],
        external_id=v["external_id"],
        list_name=v["list_name"],
        fields=dict(v["fields"] or {}),
        attempts=v["attempts"],
        due_at=v["due_at"],
        follow_up_agent=v["follow_up_agent"],
        created_at=v["created_at"],
        updated_at=v["updated_at"],
        pending_task_id=v["pending_task_id"],
        pending_due_at=v["pending_due_at"],
        lease_holder=v["lease_holder"],
        lease_expires_at=v["lease_expires_at"],
        last_attempt_at=v["last_attempt_at"],
        import_id=v["import_id"],
    )


def _attempt_values(a: Attempt) -> dict[str, Any]:
    """The columns of an attempt as it starts (no result yet)."""
    return {
        "id": a.id,
        "campaign_id": a.campaign_id,
        "contact_id": a.contact_id,
        "task_id": a.task_id,
        "phone": a.phone,
        "server": a.server,
        "agent": a.agent,
        "originated_at": a.originated_at,
        "ringing_at": a.ringing_at,
        "answered_at": a.answered_at,
        "connected_at": a.connected_at,
        "cause": a.cause,
        "disposition": a.disposition,
    }
