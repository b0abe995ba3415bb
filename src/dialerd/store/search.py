"""Contact search conditions shared by the API's contact search and the work-queue search.

A substring search (``LIKE '%x%'``) cannot seek in a b-tree, so on a million contacts a rare
term costs a full scan (seconds). Both back ends get a trigram index instead (migration 0004):

- SQLite: an FTS5 table ``contacts_search`` with the ``trigram`` tokenizer, external content
  over ``contacts`` (first name, last name, company, e-mail, phone), kept in sync by triggers.
  A quoted FTS term with 3+ characters is a substring match that seeks in the index; the
  trigram tokenizer also folds case beyond ASCII (``MÜLLER`` finds ``Müller``).
- PostgreSQL: ``pg_trgm`` GIN indexes on the same columns, used by ``ILIKE '%x%'``.

Terms shorter than three characters have no trigram to look up; they fall back to ``LIKE`` on
the contacts row (and so does everything on a SQLite built without FTS5/trigram, where the
migration leaves the table out). Phone numbers are stored as E.164, so a typed number is
reduced to its digits without the trunk or international prefix: ``030 1234`` becomes
``301234``, which ``+49301234…`` contains.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, bindparam, column, or_, select, table, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from dialerd.store.models import ContactRow

__all__ = [
    "FTS_TABLE",
    "MIN_INDEXED",
    "ContactFilter",
    "SearchTerms",
    "contact_filter",
    "fts_available",
    "index_import",
    "suspend_insert_indexing",
    "phone_digits",
    "typed_terms",
]

#: The SQLite FTS5 table over ``contacts`` (created by migration 0004 when FTS5 has trigram).
FTS_TABLE = "contacts_search"
#: Shortest term the trigram indexes can look up.
MIN_INDEXED = 3
_PHONE_CHARS = re.compile(r"^[\d\s+()/.-]+$")

#: Column groups, by the name the FTS table and ``contacts`` share.
NAME_COLUMNS = ("first_name", "last_name", "company")
WORD_COLUMNS = ("first_name", "last_name", "company", "email")


@dataclass(frozen=True, slots=True)
class SearchTerms:
    """What to look for; every given part must match (``phone_exact`` OR ``phone_digits``)."""

    #: Each word must appear in one of ``word_columns``.
    words: Sequence[str] = ()
    word_columns: Sequence[str] = WORD_COLUMNS
    email: str | None = None
    phone_digits: str | None = None
    phone_exact: str | None = None


def phone_digits(typed: str) -> str:
    """Digits of a typed number as they appear in an E.164 number (no ``0``/``00`` prefix)."""
    digits = re.sub(r"\D", "", typed)
    if digits.startswith("00"):
        return digits[2:]
    if digits.startswith("0"):
        return digits[1:]
    return digits


def typed_terms(typed: str) -> SearchTerms:
    """One search box: phone digits, an e-mail part, or name words (each anywhere)."""
    typed = typed.strip()
    digits = re.sub(r"\D", "", typed)
    if len(digits) >= 3 and _PHONE_CHARS.match(typed):
        return SearchTerms(phone_digits=phone_digits(typed))
    if "@" in typed:
        return SearchTerms(email=typed)
    return SearchTerms(words=tuple(typed.split()))


async def fts_available(s: AsyncSession, dialect: str) -> bool:
    """Whether this database has the FTS table (SQLite only; a catalogue look-up, ~0.1 ms)."""
    if dialect != "sqlite":
        return False
    found = await s.scalar(
        text("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = :n"),
        {"n": FTS_TABLE},
    )
    return found is not None


def _like_pattern(part: str) -> str:
    escaped = part.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _has(dialect: str, column: str, part: str) -> ColumnElement[bool]:
    """Substring test on the contacts row. PostgreSQL: ``ILIKE`` (pg_trgm GIN-indexed).
    SQLite: plain ``LIKE`` (ASCII case folding), not ``lower(col)``: a function per row and
    column made the fallback scan several times slower."""
    col: Any = getattr(ContactRow, column)
    if dialect == "postgresql":
        found: ColumnElement[bool] = col.ilike(_like_pattern(part), escape="\\")
    else:
        found = col.like(_like_pattern(part), escape="\\")
    return found


def _fts_term(columns: Sequence[str], part: str) -> str:
    quoted = '"' + part.replace('"', '""') + '"'
    return "{" + " ".join(columns) + "} : " + quoted


_FTS = table(FTS_TABLE, column("rowid"))


def _fts_clause(query: str) -> ColumnElement[bool]:
    matches = (
        select(text("rowid"))
        .select_from(text(FTS_TABLE))
        .where(text(f"{FTS_TABLE} MATCH :q").bindparams(bindparam("q", query, unique=True)))
    )
    clause: ColumnElement[bool] = ContactRow.id.in_(matches.scalar_subquery())
    return clause


@dataclass(frozen=True, slots=True)
class ContactFilter:
    """Search conditions to put on a SELECT over ``contacts`` (see :func:`contact_filter`).

    With FTS the index is *joined* (``JOIN contacts_search ON rowid = contacts.id``), not used
    through ``id IN (SELECT rowid …)``: the join reads the index lazily in rowid order, so a
    page of 20 or a count capped at 1001 of a term in 100,000 contacts stops early (under a
    millisecond), where the ``IN`` list is built in full first (100+ ms).
    """

    where: tuple[ColumnElement[bool], ...]
    fts_query: str | None = None

    def apply(self, stmt: Select[Any]) -> Select[Any]:
        if self.fts_query is not None:
            match = text(f"{FTS_TABLE} MATCH :fts_q").bindparams(
                bindparam("fts_q", self.fts_query, unique=True)
            )
            stmt = stmt.join(_FTS, _FTS.c.rowid == ContactRow.id).where(match)
        return stmt.where(*self.where)

    def in_campaign(self, campaign_id: int) -> ColumnElement[bool]:
        """``campaign_id = :id``; with the FTS join one that no index may answer
        (``campaign_id + 0``). SQLite without statistics (no ``ANALYZE``) takes an indexed
        equality for about ten rows, so it looped over the campaign's contacts outside and
        looked each up in the FTS table with the MATCH, which reads the term's whole list
        every time: 24 s for a phone search in 20,000 contacts. Kept from the index, the
        MATCH is the outer loop: 10 ms."""
        if self.fts_query is not None:
            return (ContactRow.campaign_id + 0) == campaign_id
        return ContactRow.campaign_id == campaign_id

    def id_order(self) -> Any:
        """Contact id order the index can give without sorting (``rowid`` is ``contacts.id``)."""
        return _FTS.c.rowid if self.fts_query is not None else ContactRow.id


def contact_filter(dialect: str, terms: SearchTerms, *, fts: bool) -> ContactFilter:
    """Conditions for ``terms`` on ``contacts``, using the trigram index where one exists.

    ``fts`` says the SQLite FTS table exists (see :func:`fts_available`). All indexable parts
    that must hold together go into one MATCH, so FTS5 intersects their lists itself.
    """
    where: list[ColumnElement[bool]] = []
    fts_parts: list[str] = []

    def indexed(part: str) -> bool:
        return fts and len(part) >= MIN_INDEXED

    for word in terms.words:
        if indexed(word):
            fts_parts.append(_fts_term(terms.word_columns, word))
        else:
            where.append(or_(*(_has(dialect, c, word) for c in terms.word_columns)))
    if terms.email:
        if indexed(terms.email):
            fts_parts.append(_fts_term(("email",), terms.email))
        else:
            where.append(_has(dialect, "email", terms.email))
    phone: list[ColumnElement[bool]] = []
    if terms.phone_exact:
        phone.append(ContactRow.phone == terms.phone_exact)
    if terms.phone_digits:
        if indexed(terms.phone_digits) and not phone:
            fts_parts.append(_fts_term(("phone",), terms.phone_digits))
        elif indexed(terms.phone_digits):
            # OR with the exact number: cannot be a join; a (fully built) id list instead.
            phone.append(_fts_clause(_fts_term(("phone",), terms.phone_digits)))
        else:
            # Digits only: no case folding needed, and PostgreSQL's trigram index serves LIKE.
            phone.append(ContactRow.phone.like(_like_pattern(terms.phone_digits), escape="\\"))
    if phone:
        where.append(or_(*phone))
    return ContactFilter(tuple(where), " AND ".join(fts_parts) if fts_parts else None)


# -- bulk indexing for imports (SQLite) ---------------------------------------------------------

#: The trigger that indexes one inserted contact (migration 0004).
INSERT_TRIGGER = "contacts_search_ai"
_INDEXED = ("first_name", "last_name", "company", "email", "phone")


@dataclass(frozen=True, slots=True)
class SuspendedIndexing:
    """The dropped trigger's SQL and the highest contact id before the import's rows."""

    trigger_sql: str
    max_id_before: int


async def suspend_insert_indexing(conn: AsyncConnection) -> SuspendedIndexing | None:
    """Drop the per-row FTS insert trigger inside the caller's (import) transaction.

    Indexing a million rows one trigger call at a time costs about six times the CPU of one
    ``INSERT … SELECT`` into the FTS table afterwards (measured: 21.6 s against 3.5 s for 200,000
    rows), which would take a one-million-row import far past two minutes. The drop is part of
    the import's transaction, which holds SQLite's write lock throughout: no other writer can
    insert a contact while the trigger is gone, and a failed import rolls the drop back.
    Call it after any deletions of the import; returns ``None`` without FTS or on PostgreSQL.
    """
    if conn.dialect.name != "sqlite":
        return None
    sql = (
        await conn.execute(
            text("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = :n"),
            {"n": INSERT_TRIGGER},
        )
    ).scalar_one_or_none()
    if sql is None:
        return None
    max_id = (await conn.exec_driver_sql("SELECT coalesce(max(id), 0) FROM contacts")).scalar_one()
    await conn.exec_driver_sql(f"DROP TRIGGER {INSERT_TRIGGER}")
    return SuspendedIndexing(str(sql), int(max_id))


async def index_import(
    conn: AsyncConnection, import_id: int, suspended: SuspendedIndexing | None
) -> None:
    """Index the contacts of one import in bulk and put the insert trigger back.

    The import's rows are those after ``max_id_before`` (a rowid range: no scan of the
    campaign's older contacts) with its ``import_id``.
    """
    if suspended is None:
        return
    cols = ", ".join(_INDEXED)
    await conn.execute(
        text(
            f"INSERT INTO {FTS_TABLE}(rowid, {cols}) SELECT id, {cols} FROM contacts "
            "WHERE id > :after AND import_id = :import_id"
        ),
        {"after": suspended.max_id_before, "import_id": int(import_id)},
    )
    await conn.exec_driver_sql(suspended.trigger_sql)
