"""Values that cross layers during a contact import.

The parser (``dialerd.taskflow.importing``) produces them, the store
(``dialerd.store.imports``) writes them, the CLI and the API show them. They live in the domain
because the store may not import the taskflow layer.

``ParsedContact`` and ``RowProblem`` are named tuples rather than dataclasses on purpose: millions
of them travel between parser worker processes and the importer, and tuples pickle and unpack
several times faster.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, NamedTuple

from dialerd.domain.clock import iso_utc

#: Contact attributes a file column (or a variable) can be mapped to, besides custom fields.
CONTACT_FIELDS: tuple[str, ...] = (
    "phone",
    "first_name",
    "last_name",
    "company",
    "email",
    "timezone",
    "external_id",
)

#: Longest value the store keeps per contact attribute (the column sizes of the contacts table);
#: longer values are reported as bad rows instead of failing the whole import in PostgreSQL.
MAX_LENGTH: dict[str, int] = {
    "phone": 32,
    "first_name": 200,
    "last_name": 200,
    "company": 300,
    "email": 300,
    "timezone": 64,
    "external_id": 200,
    "list_name": 200,
}

#: Longest value of one custom field (``fields.<name>``), in characters. Custom fields are
#: shown to agents and sent in webhooks; a cell longer than this is a mistake in the file (a
#: whole document pasted into a cell, a quote gone wrong) and is reported, not stored.
MAX_FIELD_VALUE = 64 * 1024

CUSTOM_PREFIX = "fields."


class ImportMode(StrEnum):
    """``replace`` first removes the list's contacts nobody has touched yet."""

    APPEND = "append"
    REPLACE = "replace"


class ProblemKind(StrEnum):
    INVALID = "invalid"
    DUPLICATE = "duplicate"


class ParsedContact(NamedTuple):
    """One good row of an import file, normalised (phone in E.164, time zone an IANA name).

    Custom fields travel as JSON text (``json.dumps`` of a ``dict[str, str]``), serialised by
    the parser workers so the importing process, which also feeds the database, does not have
    to; :attr:`fields` decodes them.
    """

    row: int
    phone: str
    first_name: str | None
    last_name: str | None
    company: str | None
    email: str | None
    timezone: str | None
    external_id: str | None
    fields_json: str = "{}"

    @property
    def fields(self) -> dict[str, str]:
        value: dict[str, str] = json.loads(self.fields_json)
        return value


class RowProblem(NamedTuple):
    """Why one row of the file was not imported.

    ``row`` is the row number a spreadsheet shows for the file (the header is row 1);
    ``column`` is the file's column header (``None`` when the problem is the whole row).
    """

    row: int
    column: str | None
    reason: str
    value: str | None = None
    kind: ProblemKind = ProblemKind.INVALID

    def as_dict(self) -> dict[str, Any]:
        return {
            "row": self.row,
            "column": self.column,
            "kind": str(self.kind),
            "reason": self.reason,
            "value": self.value,
        }


#: A good row as a plain tuple in :class:`ParsedContact`'s field order. Chunks carry these
#: rather than named tuples: a million of them cross a process boundary and plain tuples
#: pickle four times faster. ``ParsedContact._make(record)`` gives named access.
ContactRecord = tuple[
    int, str, str | None, str | None, str | None, str | None, str | None, str | None, str
]


@dataclass(frozen=True, slots=True)
class ParsedChunk:
    """A slice of the file, in file order: its good contacts and its problems.

    ``rows`` counts the non-blank data rows of the slice (good + bad + duplicate).
    ``contacts`` holds :data:`ContactRecord` tuples (or :class:`ParsedContact` values).
    """

    contacts: list[ContactRecord]
    problems: list[RowProblem]
    rows: int


@dataclass(frozen=True, slots=True)
class ImportRequest:
    """What to import where. ``task`` ``None`` means the campaign's start task."""

    campaign: str
    file_name: str
    mode: ImportMode = ImportMode.APPEND
    list_name: str | None = None
    task: str | None = None
    actor: str = "unknown"
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class ImportReport:
    """The outcome of one import, as recorded in the import history.

    ``rows`` = ``imported`` + ``rejected`` + ``duplicates``. ``replaced`` counts untouched
    contacts of the list removed by a ``replace`` import. ``problems`` holds every bad and
    duplicate row (the history row keeps only the first ones, see ``dialerd.store.imports``).
    """

    campaign: str
    file_name: str
    mode: ImportMode
    list_name: str | None
    task: str | None
    actor: str
    import_id: int | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    rows: int = 0
    imported: int = 0
    rejected: int = 0
    duplicates: int = 0
    replaced: int = 0
    problems: list[RowProblem] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        if self.started_at is None or self.finished_at is None:
            return 0.0
        return (self.finished_at - self.started_at).total_seconds()

    def as_dict(self, max_problems: int | None = None) -> dict[str, Any]:
        problems = self.problems if max_problems is None else self.problems[:max_problems]
        return {
            "import_id": self.import_id,
            "campaign": self.campaign,
            "file": self.file_name,
            "mode": str(self.mode),
            "list": self.list_name,
            "task": self.task,
            "actor": self.actor,
            "started_at": iso_utc(self.started_at) if self.started_at else None,
            "finished_at": iso_utc(self.finished_at) if self.finished_at else None,
            "seconds": round(self.seconds, 3),
            "rows": self.rows,
            "imported": self.imported,
            "rejected": self.rejected,
            "duplicates": self.duplicates,
            "replaced": self.replaced,
            "problems": [p.as_dict() for p in problems],
            "problems_total": len(self.problems),
            "details": self.details,
        }
