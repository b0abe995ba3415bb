"""Contact selections, filters and sort orders as SQL, for SQLite and PostgreSQL alike.

Custom fields live in the JSON ``fields`` column. Comparisons with a number compare numerically,
anything else as text (CSV imports store text). Sorting a custom field uses the JSON value's own
type (SQLite ``json_extract``, PostgreSQL ``jsonb`` order), so numbers sort as numbers.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, and_, false, func, literal_column, or_, true
from sqlalchemy.sql.elements import UnaryExpression

from dialerd.domain.selection import Condition, ContactSelection, SortOrder, split_field
from dialerd.store.errors import InvalidChange
from dialerd.store.models import ContactRow

_DATETIME_FIELDS = {"due_at", "created_at", "updated_at", "last_attempt_at"}
_INT_FIELDS = {"id", "attempts", "import_id"}
_NOT_NULL = {"id", "attempts", "status", "status_detail", "created_at", "updated_at"}


def _column(name: str) -> Any:
    return getattr(ContactRow, name)


def _coerce(name: str, value: Any) -> Any:
    if value is None:
        return None
    if name in _DATETIME_FIELDS and isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            raise InvalidChange(f"{name}: {value!r} is not an ISO date/time") from None
    if name in _INT_FIELDS and isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            raise InvalidChange(f"{name}: {value!r} is not a whole number") from None
    return value


def _bool(expr: Any) -> ColumnElement[bool]:
    return cast(ColumnElement[bool], expr)


def condition_clause(cond: Condition) -> ColumnElement[bool]:
    custom, name = split_field(cond.field)
    numeric = isinstance(cond.value, int | float) and not isinstance(cond.value, bool)
    if custom:
        elem = ContactRow.fields[name]
        expr: Any = elem.as_float() if numeric else elem.as_string()
        value: Any = cond.value
        if cond.op in ("in", "not_in"):
            value = [str(v) for v in cond.value]
        elif not numeric and value is not None:
            value = str(value)
    else:
        expr = _column(name)
        value = (
            [_coerce(name, v) for v in cond.value]
            if cond.op in ("in", "not_in")
            else _coerce(name, cond.value)
        )
    op = cond.op
    if op == "empty":
        return (
            or_(expr.is_(None), expr == "")
            if name not in _INT_FIELDS | _DATETIME_FIELDS
            else expr.is_(None)
        )
    if op == "set":
        return (
            and_(expr.is_not(None), expr != "")
            if name not in _INT_FIELDS | _DATETIME_FIELDS
            else expr.is_not(None)
        )
    if op == "eq":
        return _bool(expr.is_(None) if value is None else expr == value)
    if op == "ne":
        return expr.is_not(None) if value is None else or_(expr != value, expr.is_(None))
    if op == "lt":
        return _bool(expr < value)
    if op == "le":
        return _bool(expr <= value)
    if op == "gt":
        return _bool(expr > value)
    if op == "ge":
        return _bool(expr >= value)
    if op == "in":
        return _bool(expr.in_(value))
    if op == "not_in":
        return or_(expr.not_in(value), expr.is_(None))
    if op == "contains":
        return func.lower(expr).contains(str(value).lower(), autoescape=True)
    raise InvalidChange(f"unknown operator {op!r}")  # pragma: no cover - Condition checks it


def selection_clauses(
    campaign_id: int,
    sel: ContactSelection,
    task_ids: Mapping[str, int],
    *,
    unindexed: bool = False,
) -> list[ColumnElement[bool]]:
    """The selection as conditions on ``contacts``.

    ``unindexed``: the campaign and task conditions in a form no index answers
    (``campaign_id + 0``), for a statement whose outer loop must be another table (the SQLite
    FTS search: see :meth:`dialerd.store.search.ContactFilter.in_campaign`)."""
    c = ContactRow
    campaign: Any = c.campaign_id + 0 if unindexed else c.campaign_id
    task: Any = c.task_id + 0 if unindexed else c.task_id
    out: list[ColumnElement[bool]] = [_bool(campaign == campaign_id)]
    if sel.task is not None:
        if sel.task not in task_ids:
            raise InvalidChange(
                f"no task {sel.task!r} in this campaign (tasks: {', '.join(task_ids)})"
            )
        out.append(_bool(task == task_ids[sel.task]))
    if sel.status is not None:
        out.append(c.status == sel.status.value)
    if sel.status_detail is not None:
        out.append(c.status_detail == sel.status_detail)
    if sel.list_name is not None:
        out.append(c.list_name == sel.list_name)
    if sel.contact_ids is not None:
        out.append(c.id.in_(sel.contact_ids) if sel.contact_ids else false())
    if sel.waiting is True:
        out.append(c.pending_task_id.is_not(None))
    elif sel.waiting is False:
        out.append(c.pending_task_id.is_(None))
    out.extend(condition_clause(cond) for cond in sel.conditions)
    return out


@dataclass(frozen=True, slots=True)
class SortKey:
    """One term of an ORDER BY: the expression and how it is ordered, so the same order can
    be put on another column holding its value (a subquery's, a union's)."""

    expr: Any
    descending: bool = False
    nulls_last: bool = False

    def on(self, expr: Any) -> UnaryExpression[Any]:
        """This key's order on ``expr``."""
        out = expr.desc() if self.descending else expr.asc()
        return cast(UnaryExpression[Any], out.nulls_last() if self.nulls_last else out)

    def clause(self) -> UnaryExpression[Any]:
        return self.on(self.expr)


def _sql_string(value: str) -> str:
    """``value`` as an SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def sort_keys(order: SortOrder, dialect: str) -> list[SortKey]:
    """The ORDER BY of a campaign's sort: its field, then the id (a total order).

    On PostgreSQL a custom field's key is written into the statement (``fields -> 'score'``),
    not passed as a parameter: only an expression spelled as the index's is read from its
    sort index (:func:`sort_index`), also once the server plans the statement generically."""
    custom, name = split_field(order.field)
    if custom:
        if dialect == "sqlite":
            expr: Any = func.json_extract(ContactRow.fields, f'$."{name}"')
        else:
            expr = ContactRow.fields.op("->", return_type=ContactRow.fields.type)(
                literal_column(_sql_string(name))
            )
    else:
        expr = _column(name)
    if name == "id" and not custom:
        return [SortKey(expr, order.descending)]
    # Same place for "no value" on both back ends; on NOT NULL columns it would only keep
    # SQLite from reading an index in order.
    nulls_last = custom or name not in _NOT_NULL
    return [SortKey(expr, order.descending, nulls_last), SortKey(ContactRow.id)]


def sort_expression(order: SortOrder, dialect: str) -> list[UnaryExpression[Any]]:
    return [k.clause() for k in sort_keys(order, dialect)]


def all_true() -> ColumnElement[bool]:
    return true()


@dataclass(frozen=True, slots=True)
class SortIndex:
    """A PostgreSQL index giving a call task's never-tried contacts in a campaign's sort."""

    name: str
    #: The indexed columns, as in ``CREATE INDEX ... ON contacts (<columns>)``.
    columns: str


def sort_index(order: SortOrder) -> SortIndex | None:
    """The index for ``order`` (None for the sort by id: ``ix_contacts_fresh_id`` gives it).

    ``(task_id, status, attempts, <sort field as sort_keys orders it>, id)``: the lease's and
    the work queue's never-tried contacts of one call task (``task_id = t AND status = 'open'
    AND attempts = 0``, or ``<= 0``) in the campaign's order, so a page reads a page. Without
    it every lease and every work-queue page read and sorted all of the task's never-tried
    contacts (500,000 contacts: 0.3-0.6 s per page, 1 s per lease). The expression, direction
    and place of nulls are those of :func:`sort_keys` on PostgreSQL, so the index holds the
    order the queries ask for; one index serves every campaign with the same sort."""
    custom, name = split_field(order.field)
    if name == "id" and not custom:
        return None
    expr = f"(fields -> {_sql_string(name)})" if custom else f'"{_column(name).key}"'
    direction = " DESC" if order.descending else ""
    nulls = " NULLS LAST" if custom or name not in _NOT_NULL else ""
    columns = f"task_id, status, attempts, {expr}{direction}{nulls}, id"
    digest = hashlib.sha1(columns.encode()).hexdigest()[:10]
    slug = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")[:20] or "f"
    kind = "f" if custom else "c"
    return SortIndex(
        f"ix_contacts_sort_{kind}_{slug}_{'desc' if order.descending else 'asc'}_{digest}", columns
    )
