"""Which contacts an operation applies to, and in what order.

Used by manual moves and bulk edits (a filtered set), by the campaign's own lease filter and sort
(campaign definition ``filter``/``sort``), and by the API's search. A field is either one of the
standard contact columns in :data:`STANDARD_FIELDS` or a custom field (kept in the contact's JSON
``fields``); ``fields.NAME`` forces the custom field when its name collides with a standard one.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from dialerd.domain.enums import Status

STANDARD_FIELDS: frozenset[str] = frozenset(
    {
        "id",
        "phone",
        "first_name",
        "last_name",
        "company",
        "email",
        "timezone",
        "external_id",
        "list_name",
        "status",
        "status_detail",
        "attempts",
        "due_at",
        "follow_up_agent",
        "created_at",
        "updated_at",
        "last_attempt_at",
        "import_id",
    }
)

Operator = Literal["eq", "ne", "lt", "le", "gt", "ge", "in", "not_in", "contains", "empty", "set"]
OPERATORS: frozenset[str] = frozenset(
    {"eq", "ne", "lt", "le", "gt", "ge", "in", "not_in", "contains", "empty", "set"}
)


def split_field(name: str) -> tuple[bool, str]:
    """``(is_custom, name)`` for a field reference as users write it."""
    if name.startswith("fields."):
        return True, name[len("fields.") :]
    return name not in STANDARD_FIELDS, name


def known_field_names(custom_fields: Collection[str]) -> list[str]:
    """Every name a user may give for a field of these contacts: the standard columns, the
    custom fields (``fields.NAME`` for one whose name is also a standard column)."""
    known = set(custom_fields)
    return (
        sorted(STANDARD_FIELDS)
        + sorted(known - STANDARD_FIELDS)
        + sorted(f"fields.{k}" for k in known & STANDARD_FIELDS)
    )


def unknown_fields(names: Sequence[str], custom_fields: Collection[str]) -> list[str]:
    """The names in ``names`` that are neither a standard column nor one of ``custom_fields``
    (a custom field the contacts have, e.g. :meth:`Store.custom_field_names`)."""
    known = set(custom_fields)
    out = []
    for name in names:
        is_custom, field = split_field(name)
        if is_custom and field not in known:
            out.append(name)
    return out


def unknown_fields_problem(
    names: Sequence[str], custom_fields: Collection[str], what: str = "field"
) -> str | None:
    """Why ``names`` do not all name a field of the contacts (None: they do), with the closest
    known name for each unknown one ("did you mean").

    A name that is not a standard column is read as a custom field, so a typo (``lsit_name``)
    or a custom field no contact has does not fail by itself: a filter on it selects nobody and
    an export column of it is empty, which both read as "no such contacts". Export columns,
    selections (bulk edit, move) and campaign filters check their names here, so the message
    is the same everywhere.
    """
    bad = unknown_fields(names, custom_fields)
    if not bad:
        return None
    valid = known_field_names(custom_fields)
    parts = []
    for name in bad:
        close = closest_field(name, custom_fields)
        parts.append(f"{name!r}" + (f" (did you mean {close!r}?)" if close else ""))
    return (
        f"unknown {what}{'s' if len(bad) > 1 else ''} {', '.join(parts)}: neither a contact "
        f"column nor a custom field of the campaign's contacts; valid: {', '.join(valid)}"
    )


def closest_field(name: str, custom_fields: Collection[str]) -> str | None:
    """The known field (standard column or one of ``custom_fields``) ``name`` is most likely
    a typo of; None: none is close."""
    close = difflib.get_close_matches(name, known_field_names(custom_fields), n=1)
    return close[0] if close else None


@dataclass(frozen=True, slots=True)
class UnknownField:
    """A field name a campaign definition gives (a filter condition's, its sort) that the
    campaign's contacts do not have, for a warning."""

    key: str
    """Where the definition names it: ``filter[1].field``, ``sort.field``."""
    name: str
    closest: str | None
    problem: str
    """What is wrong, with the closest name and what it does to the campaign."""


def unknown_definition_fields(
    named: Sequence[tuple[str, str]], custom_fields: Collection[str] | None
) -> list[UnknownField]:
    """The ``(key, name)`` pairs of a definition's field names (``filter[N].field``,
    ``sort.field``) that name no field of the contacts.

    ``custom_fields``: the contacts' custom fields; None when there are none to check against
    (no contacts yet, or the store not read). Then only a near miss of a contact column
    (``lsit_name``) can be told from a custom field still to come, and only that is returned.
    A filter on an unknown field selects nobody; a sort on one sorts nothing (every contact has
    no value), so contacts are dialed in id order.
    """
    out = []
    for key, name in named:
        sort = key.startswith("sort")
        if custom_fields is not None:
            problem = unknown_fields_problem([name], custom_fields)
            if problem is None:
                continue
            effect = (
                "the campaign dials its contacts in id order while that lasts"
                if sort
                else "the campaign dials none of its contacts while that lasts"
            )
            out.append(
                UnknownField(key, name, closest_field(name, custom_fields), f"{problem}; {effect}")
            )
        elif (close := closest_standard_field(name)) is not None:
            effect = "dials them in id order" if sort else "dials none of them"
            out.append(
                UnknownField(
                    key,
                    name,
                    close,
                    f"{name!r} is not a contact column (did you mean {close!r}?); it is read as"
                    f" a custom field, and a campaign whose contacts do not have it {effect}",
                )
            )
    return out


def closest_standard_field(name: str) -> str | None:
    """The standard column ``name`` is most likely a typo of (None: none is close), for
    checks that cannot see the contacts' custom fields (``dialerd check-config`` without
    the store)."""
    if not split_field(name)[0] or name.startswith("fields."):
        return None
    close = difflib.get_close_matches(name, sorted(STANDARD_FIELDS), n=1, cutoff=0.8)
    return close[0] if close else None


@dataclass(frozen=True, slots=True)
class Condition:
    """``field op value``; ``empty``/``set`` take no value, ``in``/``not_in`` take a list."""

    field: str
    op: Operator = "eq"
    value: Any = None

    def __post_init__(self) -> None:
        if self.op not in OPERATORS:
            raise ValueError(
                f"unknown operator {self.op!r} (one of {', '.join(sorted(OPERATORS))})"
            )
        if self.op in ("in", "not_in") and not isinstance(self.value, list | tuple):
            raise ValueError(f"operator {self.op!r} needs a list value")


@dataclass(frozen=True, slots=True)
class SortOrder:
    field: str = "id"
    descending: bool = False


@dataclass(frozen=True, slots=True)
class ContactSelection:
    """A filtered set of one campaign's contacts; every given criterion must hold.

    ``waiting=True`` selects contacts waiting on a delayed rule, ``False`` those not waiting.
    """

    task: str | None = None
    status: Status | None = None
    status_detail: str | None = None
    list_name: str | None = None
    contact_ids: tuple[int, ...] | None = None
    conditions: tuple[Condition, ...] = ()
    waiting: bool | None = None


def parse_condition(text: str) -> Condition:
    """Parse the command line form ``field=value``, ``field!=value``, ``field>=value`` ...

    ``field~value`` is "contains"; ``field=`` (empty value) is "empty"; a value with commas after
    ``=`` stays one value (use the API for lists).
    """
    for token, op in (
        ("!=", "ne"),
        (">=", "ge"),
        ("<=", "le"),
        ("=", "eq"),
        (">", "gt"),
        ("<", "lt"),
        ("~", "contains"),
    ):
        if token in text:
            field, value = text.split(token, 1)
            field = field.strip()
            if not field:
                raise ValueError(f"condition {text!r} names no field")
            if op == "eq" and value == "":
                return Condition(field, "empty")
            return Condition(field, op, value)  # type: ignore[arg-type]
    raise ValueError(f"condition {text!r} is not FIELD=VALUE (or !=, <, <=, >, >=, ~)")
