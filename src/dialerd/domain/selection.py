"""Which contacts an operation applies to, and in what order.

Used by manual moves and bulk edits (a filtered set), by the campaign's own lease filter and sort
(campaign definition ``filter``/``sort``), and by the API's search. A field is either one of the
standard contact columns in :data:`STANDARD_FIELDS` or a custom field (kept in the contact's JSON
``fields``); ``fields.NAME`` forces the custom field when its name collides with a standard one.
"""

from __future__ import annotations

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
