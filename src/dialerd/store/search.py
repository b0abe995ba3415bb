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

from sqlalchemy import ColumnElement, and_, bindparam, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from dialerd.store.models import ContactRow

__all__ = [
    "FTS_TABLE",
    "MIN_INDEXED",
    "SearchTerms",
    "fts_available",
    "match_clauses",
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


def _fts_clause(query: str) -> ColumnElement[bool]:
    matches = (
        select(text("rowid"))
        .select_from(text(FTS_TABLE))
        .where(
            text(f"{FTS_TABLE} MATCH :fts_query").bindparams(
                bindparam("fts_query", query, unique=True)
            )
        )
    )
    clause: ColumnElement[bool] = ContactRow.id.in_(matches.scalar_subquery())
    return clause


def match_clauses(dialect: str, terms: SearchTerms, *, fts: bool) -> list[ColumnElement[bool]]:
    """WHERE conditions for ``terms`` on ``contacts``, using the trigram index where one exists.

    ``fts`` says the SQLite FTS table exists (see :func:`fts_available`). All indexable parts
    go into a single MATCH so FTS5 intersects their lists itself.
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
            phone.append(_fts_clause(_fts_term(("phone",), terms.phone_digits)))
        else:
            # Digits only: no case folding needed, and PostgreSQL's trigram index serves LIKE.
            phone.append(ContactRow.phone.like(_like_pattern(terms.phone_digits), escape="\\"))
    if phone:
        where.append(or_(*phone))
    if fts_parts:
        where.append(_fts_clause(" AND ".join(fts_parts)))
    return [and_(*where)] if len(where) > 1 else where
