"""Writing an import: bulk insert of contacts, ``replace`` clean-up, duplicates, import history.

**One transaction per import.** Removing the list's untouched contacts (``replace``), every
inserted contact and the import-history row commit together or not at all: an import that fails
half-way (a file that turns out corrupt at row 700,000, a full disk, Ctrl-C) leaves the contacts
exactly as they were. The price on SQLite is that the import holds the database's write lock for
its whole duration (about a minute per million rows), so other writers wait for it; on
PostgreSQL nobody waits. A failed import is then recorded in the import history in a second,
small transaction (no contacts, ``report.status = "failed"`` and the error), so the history also
shows who tried what.

Duplicates by phone number or external id against the campaign (any list, any task) are not
inserted and are reported with the id of the contact that already has the number (or id). In
``replace`` mode the check runs after the untouched contacts are removed, so re-importing a
corrected file works.

``replace`` removes only contacts of the same list (``list_name``) that nobody has touched: still
``open`` with ``$none``, never attempted, not leased, not waiting, no follow-up, and without any
status-history or attempt row. Contacts with history are never deleted.

Speed: rows go to the database through the driver's ``executemany`` in chunks (SQLAlchemy Core
costs about half the throughput in per-row parameter processing); the values that are the same
for every row (ids, status, times) are converted once with the column types' own bind
processors, so the stored format is exactly what the ORM writes. On SQLite the page cache is
raised for the import's connection (indexes of a million rows do not fit the default 2 MB).
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, AsyncIterable, Callable, Iterable
from contextlib import aclosing
from datetime import UTC, datetime
from typing import Any, Protocol

import structlog
from sqlalchemy import and_, delete, exists, insert, select, text, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from dialerd.domain.clock import Clock, SystemClock, iso_utc
from dialerd.domain.contact_import import (
    ContactRecord,
    ImportMode,
    ImportReport,
    ImportRequest,
    ParsedChunk,
    ProblemKind,
    RowProblem,
)
from dialerd.store import search
from dialerd.store.engine import MAINTENANCE_TIMEOUT, READ
from dialerd.store.errors import InvalidChange, NotFound
from dialerd.store.models import (
    AttemptRow,
    CampaignRow,
    ContactRow,
    HistoryRow,
    ImportRow,
    TaskRow,
)

log = structlog.get_logger(__name__)

__all__ = ["import_contacts", "import_history", "MAX_PROBLEMS_KEPT", "StoreLike", "HasEngine"]

#: Problems kept in the history row's report (the CLI writes all of them to a file).
MAX_PROBLEMS_KEPT = 1000
#: Numbers per ``IN (...)`` query when checking duplicates against the campaign.
_LOOKUP_BATCH = 500
#: An import adding at least this share of the rows PostgreSQL's planner knows of refreshes its
#: statistics (autovacuum's own analyze threshold is 10% too, but it may be off or a minute late).
_ANALYZE_SHARE = 0.1
#: Rows per executemany call.
_INSERT_BATCH = 5000
_SQLITE_IMPORT_CACHE_KIB = 262_144

_contacts = ContactRow.__table__
# Values the same for every row of an import: integers and fixed words are written into the
# statement as literals (fewer parameters to bind per row: about 10% faster on SQLite); the
# rest are bound, converted once by the column types.
_LITERAL_COLUMNS = ("campaign_id", "task_id", "import_id", "status", "status_detail", "attempts")
_COLUMNS = (
    "list_name",
    "created_at",
    "updated_at",
    "phone",
    "first_name",
    "last_name",
    "company",
    "email",
    "timezone",
    "external_id",
    "fields",
)
_N_CONSTANT = 3


class HasEngine(Protocol):
    @property
    def engine(self) -> AsyncEngine: ...


#: A ``Store`` (anything with an ``engine``) or a bare engine.
StoreLike = AsyncEngine | HasEngine


def _engine_of(store: StoreLike) -> AsyncEngine:
    return store if isinstance(store, AsyncEngine) else store.engine


async def import_contacts(
    store: StoreLike,
    request: ImportRequest,
    chunks: AsyncIterable[ParsedChunk] | Iterable[ParsedChunk],
    *,
    clock: Clock | None = None,
) -> ImportReport:
    """Import parsed chunks into ``request.campaign`` in one transaction; return the report.

    Raises :class:`~dialerd.store.errors.NotFound` for an unknown campaign or task (nothing is
    written, no history row). Any other error rolls the import back, records a failed import in
    the history and is re-raised.
    """
    engine = _engine_of(store)
    clock = clock or SystemClock()
    report = ImportReport(
        campaign=request.campaign,
        file_name=request.file_name,
        mode=request.mode,
        list_name=request.list_name,
        task=request.task,
        actor=request.actor,
        started_at=clock.now(),
        details=dict(request.details),
    )
    if request.list_name is not None and len(request.list_name) > 200:
        raise InvalidChange("list name longer than 200 characters")
    async with engine.connect() as probe:
        # A read: on SQLite it must not take the write lock (BEGIN IMMEDIATE).
        await probe.execution_options(**READ)
        campaign_id, task_id, task_name = await _resolve(probe, request)
    report.task = task_name
    try:
        async with engine.begin() as conn:
            restore = await _tune(conn)
            try:
                await _run(conn, request, report, chunks, campaign_id, task_id, clock)
            finally:
                try:
                    await restore()
                except Exception as exc:  # never hide the import's own error behind this one
                    log.warning("could not restore the page cache size", error=str(exc))
    except BaseException as exc:
        report.finished_at = clock.now()
        report.imported = 0
        report.replaced = 0
        report.import_id = None
        log.warning(
            "import failed, rolled back",
            campaign=request.campaign,
            file=request.file_name,
            error=str(exc) or type(exc).__name__,
        )
        if isinstance(exc, Exception):
            await _record_failure(engine, request, report, campaign_id, exc)
        raise
    await _refresh_statistics(engine, report.imported)
    log.info(
        "import finished",
        campaign=request.campaign,
        import_id=report.import_id,
        rows=report.rows,
        imported=report.imported,
        rejected=report.rejected,
        duplicates=report.duplicates,
        replaced=report.replaced,
        seconds=round(report.seconds, 3),
    )
    return report


async def _refresh_statistics(engine: AsyncEngine, imported: int) -> None:
    """``ANALYZE contacts`` on PostgreSQL after an import that changed the table noticeably.

    Without column statistics PostgreSQL guesses that almost no contact is open and due, and
    plans the daemon's lease as a nested loop over every fresh contact: measured with 500,000
    just imported contacts, 44 s per lease (the runner stalled, statements timed out) against
    1 ms once analysed. Autovacuum would analyse the table eventually, but only if it is on and
    only after its nap; a campaign starts dialing right after its import. ``ANALYZE`` reads a
    fixed sample (about 30,000 rows), well under a second at a million contacts. The import is
    committed already: a failure here is logged, not raised.
    """
    if imported <= 0 or engine.dialect.name != "postgresql":
        return
    try:
        async with engine.connect() as conn:
            known = await conn.scalar(
                text("SELECT reltuples FROM pg_class WHERE oid = 'contacts'::regclass")
            )
            await conn.commit()
            # reltuples is -1 (PostgreSQL 14+) or 0 for a table never analysed.
            if known is not None and float(known) > 0 and imported < _ANALYZE_SHARE * float(known):
                return
            auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
            raw = await auto.get_raw_connection()
            # asyncpg's own call: the store's statement timeout is meant for the daemon's queries
            await raw.driver_connection.execute(  # type: ignore[union-attr]
                "ANALYZE contacts", timeout=MAINTENANCE_TIMEOUT
            )
    except (SQLAlchemyError, OSError, TimeoutError) as exc:
        log.warning("could not refresh the planner statistics after an import", error=str(exc))


async def _resolve(conn: AsyncConnection, request: ImportRequest) -> tuple[int, int, str]:
    row = (
        await conn.execute(
            select(CampaignRow.id, CampaignRow.start_task_id).where(
                CampaignRow.name == request.campaign
            )
        )
    ).first()
    if row is None:
        raise NotFound(f"no campaign named {request.campaign!r}")
    campaign_id, start_task_id = row
    tasks = (
        await conn.execute(
            select(TaskRow.id, TaskRow.name)
            .where(TaskRow.campaign_id == campaign_id)
            .order_by(TaskRow.position, TaskRow.id)
        )
    ).all()
    if not tasks:
        raise NotFound(f"campaign {request.campaign!r} has no tasks to put contacts in")
    if request.task is not None:
        for tid, name in tasks:
            if name == request.task:
                return campaign_id, tid, name
        names = ", ".join(name for _, name in tasks)
        raise NotFound(f"campaign {request.campaign!r} has no task {request.task!r} ({names})")
    for tid, name in tasks:
        if tid == start_task_id:
            return campaign_id, tid, name
    return campaign_id, tasks[0][0], tasks[0][1]


async def _tune(conn: AsyncConnection) -> Callable[[], Any]:
    """Raise SQLite's page cache for this connection; returns the coroutine that restores it."""
    if conn.dialect.name != "sqlite":

        async def nothing() -> None:
            return None

        return nothing
    old = (await conn.exec_driver_sql("PRAGMA cache_size")).scalar_one()
    await conn.exec_driver_sql(f"PRAGMA cache_size=-{_SQLITE_IMPORT_CACHE_KIB}")

    async def restore() -> None:
        await conn.exec_driver_sql(f"PRAGMA cache_size={int(old)}")

    return restore


async def _aiter(
    chunks: AsyncIterable[ParsedChunk] | Iterable[ParsedChunk],
) -> AsyncGenerator[ParsedChunk, None]:
    if isinstance(chunks, AsyncIterable):
        stream = chunks.__aiter__()
        try:
            async for chunk in stream:
                yield chunk
        finally:
            # Close the caller's generator now, not later from the loop's finaliser (a task
            # nobody owns).
            aclose = getattr(stream, "aclose", None)
            if aclose is not None:
                await aclose()
    else:
        for chunk in chunks:
            yield chunk


def _list_matches(list_name: str | None) -> Any:
    col = ContactRow.list_name
    return col.is_(None) if list_name is None else col == list_name


async def _run(
    conn: AsyncConnection,
    request: ImportRequest,
    report: ImportReport,
    chunks: AsyncIterable[ParsedChunk] | Iterable[ParsedChunk],
    campaign_id: int,
    task_id: int,
    clock: Clock,
) -> None:
    started = report.started_at or clock.now()
    import_id = (
        await conn.execute(
            insert(ImportRow)
            .values(
                campaign_id=campaign_id,
                actor=request.actor[:200],
                at=started,
                file_name=request.file_name[:1000],
                mode=str(request.mode),
                list_name=request.list_name,
                report={"status": "running"},
            )
            .returning(ImportRow.id)
        )
    ).scalar_one()
    report.import_id = import_id
    if request.mode is ImportMode.REPLACE:
        report.replaced = await _remove_untouched(conn, campaign_id, request.list_name)
    has_contacts = (
        await conn.execute(
            select(ContactRow.id).where(ContactRow.campaign_id == campaign_id).limit(1)
        )
    ).first() is not None

    dialect = conn.dialect
    processors = {
        name: _contacts.c[name].type.dialect_impl(dialect).bind_processor(dialect)
        for name in _COLUMNS
    }

    def value(name: str, v: Any) -> Any:
        proc = processors[name]
        return proc(v) if proc is not None and v is not None else v

    constant = tuple(
        value(name, v)
        for name, v in zip(
            _COLUMNS[:_N_CONSTANT], (request.list_name, started, started), strict=True
        )
    )
    literals = (int(campaign_id), int(task_id), int(import_id), "'open'", "'$none'", 0)
    fields_proc: Callable[[Any], Any] = processors["fields"] or _identity
    # The parser already wrote custom fields as json.dumps() text; that is exactly what the
    # column type would store unless the engine was given its own JSON serialiser.
    probe = {"k": "v\u00e4"}
    fields_as_text = fields_proc(probe) == json.dumps(probe)
    sql = _insert_sql(dialect.paramstyle, literals)
    # SQLite: index the new contacts for search in one go at the end (see dialerd.store.search).
    suspended = await search.suspend_insert_indexing(conn)
    async with aclosing(_aiter(chunks)) as stream:
        async for chunk in stream:
            report.rows += chunk.rows
            problems = list(chunk.problems)
            contacts = chunk.contacts
            if has_contacts and contacts:
                contacts = await _drop_existing(conn, campaign_id, contacts, problems)
            for start in range(0, len(contacts), _INSERT_BATCH):
                batch = contacts[start : start + _INSERT_BATCH]
                if fields_as_text:
                    # c[1:] is (phone, first_name, ..., external_id, fields_json): _COLUMNS order.
                    params = [constant + c[1:] for c in batch]
                else:
                    params = [constant + c[1:8] + (fields_proc(json.loads(c[8])),) for c in batch]
                await conn.exec_driver_sql(sql, params)
            report.imported += len(contacts)
            # A row with several bad cells has several problems but is one rejected row.
            report.rejected += len({p.row for p in problems if p.kind is ProblemKind.INVALID})
            report.duplicates += sum(1 for p in problems if p.kind is ProblemKind.DUPLICATE)
            if len(problems) > 1 and any(
                problems[i].row > problems[i + 1].row for i in range(len(problems) - 1)
            ):
                problems.sort(key=lambda p: p.row)
            report.problems.extend(problems)
    await search.index_import(conn, import_id, suspended)
    report.finished_at = clock.now()
    await conn.execute(
        update(ImportRow)
        .where(ImportRow.id == import_id)
        .values(
            rows=report.rows,
            imported=report.imported,
            rejected=report.rejected,
            duplicates=report.duplicates,
            replaced=report.replaced,
            report=_history_report(report, "completed"),
        )
    )


def _identity(value: Any) -> Any:
    return value


def _insert_sql(paramstyle: str, literals: tuple[int | str, ...]) -> str:
    """The INSERT: literal constants (ints and fixed words only, never user text), then one
    placeholder per column in ``_COLUMNS``."""
    if paramstyle == "qmark":
        marks = ["?" for _ in _COLUMNS]
    elif paramstyle == "numeric_dollar":
        marks = [f"${i}" for i in range(1, len(_COLUMNS) + 1)]
    elif paramstyle == "format":
        marks = ["%s" for _ in _COLUMNS]
    else:  # pragma: no cover - both supported drivers are covered above
        raise RuntimeError(f"unsupported DB-API paramstyle {paramstyle!r}")
    names = ", ".join(_LITERAL_COLUMNS + _COLUMNS)
    values = ", ".join([str(v) for v in literals] + marks)
    return f"INSERT INTO contacts ({names}) VALUES ({values})"


async def _remove_untouched(conn: AsyncConnection, campaign_id: int, list_name: str | None) -> int:
    c = ContactRow
    untouched = and_(
        c.campaign_id == campaign_id,
        _list_matches(list_name),
        c.status == "open",
        c.status_detail == "$none",
        c.attempts == 0,
        c.last_attempt_at.is_(None),
        c.pending_task_id.is_(None),
        c.follow_up_agent.is_(None),
        c.lease_holder.is_(None),
        ~exists().where(HistoryRow.contact_id == c.id),
        ~exists().where(AttemptRow.contact_id == c.id),
    )
    result = await conn.execute(delete(c).where(untouched))
    return int(result.rowcount or 0)


async def _drop_existing(
    conn: AsyncConnection,
    campaign_id: int,
    contacts: list[ContactRecord],
    problems: list[RowProblem],
) -> list[ContactRecord]:
    """The contacts whose number, or external id, no contact of the campaign has yet.

    The external id is the key a CRM knows a contact by (the API adds contacts idempotently by
    it): a row with one already in the campaign is that contact again, not a new one.
    """
    found = await _existing(
        conn, campaign_id, ContactRow.phone, [c[1] for c in contacts], _LOOKUP_BATCH
    )
    externals = sorted({c[7] for c in contacts if c[7] is not None})
    found_external = await _existing(
        conn, campaign_id, ContactRow.external_id, externals, _LOOKUP_BATCH
    )
    if not found and not found_external:
        return contacts
    kept: list[ContactRecord] = []
    for c in contacts:
        existing = found.get(c[1])
        if existing is not None:
            reason = f"number {c[1]} is already in the campaign (contact {existing})"
            problems.append(RowProblem(c[0], None, reason, c[1], ProblemKind.DUPLICATE))
            continue
        existing = found_external.get(c[7]) if c[7] is not None else None
        if existing is not None:
            reason = f"external id {c[7]} is already in the campaign (contact {existing})"
            problems.append(RowProblem(c[0], None, reason, c[7], ProblemKind.DUPLICATE))
            continue
        kept.append(c)
    return kept


async def _existing(
    conn: AsyncConnection, campaign_id: int, column: Any, values: list[str], batch: int
) -> dict[str, int]:
    """Value -> id of a contact of the campaign that has it in ``column``."""
    found: dict[str, int] = {}
    for start in range(0, len(values), batch):
        part = values[start : start + batch]
        rows = await conn.execute(
            select(column, ContactRow.id).where(
                ContactRow.campaign_id == campaign_id, column.in_(part)
            )
        )
        for value, cid in rows:
            if value is not None:
                found.setdefault(value, cid)
    return found


def _history_report(report: ImportReport, status: str, error: str | None = None) -> dict[str, Any]:
    by_column: dict[str, int] = {}
    for p in report.problems:
        key = f"{p.kind}: {p.column or '(row)'}"
        by_column[key] = by_column.get(key, 0) + 1
    data: dict[str, Any] = {
        "status": status,
        "task": report.task,
        "seconds": round(report.seconds, 3),
        "problems_total": len(report.problems),
        "problems_by_column": by_column,
        "problems": [p.as_dict() for p in report.problems[:MAX_PROBLEMS_KEPT]],
        "details": report.details,
    }
    if error is not None:
        data["error"] = error
    return data


async def _record_failure(
    engine: AsyncEngine,
    request: ImportRequest,
    report: ImportReport,
    campaign_id: int,
    exc: Exception,
) -> None:
    try:
        async with engine.begin() as conn:
            await conn.execute(
                insert(ImportRow).values(
                    campaign_id=campaign_id,
                    actor=request.actor[:200],
                    at=report.started_at or datetime.now(UTC),
                    file_name=request.file_name[:1000],
                    mode=str(request.mode),
                    list_name=request.list_name,
                    rows=report.rows,
                    imported=0,
                    rejected=report.rejected,
                    duplicates=report.duplicates,
                    replaced=0,
                    report=_history_report(report, "failed", str(exc) or type(exc).__name__),
                )
            )
    except Exception as record_exc:
        log.error("could not record the failed import", error=str(record_exc))


async def import_history(store: StoreLike, campaign: str, limit: int = 50) -> list[dict[str, Any]]:
    """The campaign's latest imports, newest first, as plain dicts (for the CLI and the API)."""
    engine = _engine_of(store)
    async with engine.connect() as conn:
        await conn.execution_options(**READ)
        cid = (
            await conn.execute(select(CampaignRow.id).where(CampaignRow.name == campaign))
        ).scalar_one_or_none()
        if cid is None:
            raise NotFound(f"no campaign named {campaign!r}")
        t = ImportRow.__table__
        rows = (
            await conn.execute(
                select(t).where(t.c.campaign_id == cid).order_by(t.c.id.desc()).limit(limit)
            )
        ).mappings()
        return [
            {
                "import_id": r["id"],
                "at": iso_utc(r["at"]),
                "actor": r["actor"],
                "file": r["file_name"],
                "mode": r["mode"],
                "list": r["list_name"],
                "rows": r["rows"],
                "imported": r["imported"],
                "rejected": r["rejected"],
                "duplicates": r["duplicates"],
                "replaced": r["replaced"],
                "status": (r["report"] or {}).get("status"),
                "report": r["report"] or {},
            }
            for r in rows
        ]
