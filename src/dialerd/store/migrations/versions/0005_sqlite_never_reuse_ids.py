"""SQLite: ids that users and other systems see are never handed out twice (AUTOINCREMENT).

A table whose key is a plain ``INTEGER PRIMARY KEY`` gives a new row max(id) + 1, so deleting the
contact with the highest id gave that id to the next contact created: a CRM, an export or a
screen pop holding the old id then named another person. ``AUTOINCREMENT`` keeps a high-water
mark in ``sqlite_sequence`` and never goes below it, as PostgreSQL's sequences never do (there
this revision does nothing).

SQLite cannot add ``AUTOINCREMENT`` to a table, so each one is rebuilt (Alembic batch mode:
create the new table, copy every row with its id, drop the old one, rename the new one; then its
indexes), in the one transaction of the upgrade. Rebuilt: the tables whose ids leave the store,
``campaigns``, ``tasks``, ``imports``, ``contacts``, ``status_history``, ``lead_notes``. Not
rebuilt: ``dnc``, ``agents``, ``taskflow_rules``, ``predefined_notes`` (their ids are never
shown), ``attempts`` (text ids), ``lead_work`` and ``abandonment_buckets`` (no id of their own).

This needs foreign keys off: with them on, dropping the old ``contacts`` deletes its rows first
and cascades to their history, attempts and notes. ``dialerd.store.migrate`` opens the
connection with them off (the pragma is ignored inside a transaction); the upgrade refuses to
start otherwise, and fails, rolling everything back, if a row or a foreign key does not come
out as it went in. The ``contacts_search`` triggers of revision 0004 go with the old
``contacts`` table and are created again from their stored SQL.

Ids freed before this revision cannot be known any more, except task ids that the status history
still names: the high-water mark starts at the largest id still present (or named).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07 16:00:00
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from alembic import op
from sqlalchemy.engine import Connection

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger(__name__)

#: Parents before children (not needed with foreign keys off, but easier to follow).
TABLES = ("campaigns", "tasks", "imports", "contacts", "status_history", "lead_notes")

#: Columns without a foreign key that may name a deleted row: the mark starts above them too.
NAMED_ELSEWHERE = {
    "tasks": (
        ("campaigns", "start_task_id"),
        ("status_history", "from_task_id"),
        ("status_history", "to_task_id"),
        ("attempts", "task_id"),
    ),
}


class MigrationFailed(RuntimeError):
    """The rebuild did not keep the data as it was; the whole upgrade is rolled back."""


def _scalar(conn: Connection, sql: str) -> int | None:
    value = conn.exec_driver_sql(sql).scalar()
    return None if value is None else int(value)


def _fk_problems(conn: Connection) -> set[tuple[object, ...]]:
    return {tuple(r) for r in conn.exec_driver_sql("PRAGMA foreign_key_check").all()}


def _has_autoincrement(conn: Connection, table: str) -> bool:
    sql = conn.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
    ).scalar()
    return "AUTOINCREMENT" in str(sql or "").upper()


def _index_names(conn: Connection, table: str) -> set[str]:
    """The table's own indexes (those with SQL: not the automatic ones of UNIQUE)."""
    rows = conn.exec_driver_sql(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL",
        (table,),
    )
    return {str(name) for (name,) in rows.all()}


def _high_water_mark(conn: Connection, table: str) -> int:
    marks = [_scalar(conn, f"SELECT max(id) FROM {table}") or 0]
    for other, column in NAMED_ELSEWHERE.get(table, ()):
        marks.append(_scalar(conn, f"SELECT max({column}) FROM {other}") or 0)
    return max(marks)


def _rebuild(conn: Connection, table: str) -> None:
    rows = _scalar(conn, f"SELECT count(*) FROM {table}")
    checksum = _scalar(conn, f"SELECT total(id) FROM {table}")
    mark = _high_water_mark(conn, table)
    triggers = [
        str(sql)
        for (sql,) in conn.exec_driver_sql(
            "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ? ORDER BY name",
            (table,),
        ).all()
    ]
    indexes = _index_names(conn, table)

    with op.batch_alter_table(
        table, recreate="always", table_kwargs={"sqlite_autoincrement": True}
    ):
        pass

    for sql in triggers:
        conn.exec_driver_sql(sql)
    # Copying rows with their ids already raised the mark to the largest one; a task id only the
    # history still names needs it higher.
    seq = _scalar(conn, f"SELECT seq FROM sqlite_sequence WHERE name = '{table}'")
    if seq is None and mark > 0:
        conn.exec_driver_sql("INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)", (table, mark))
    elif seq is not None and seq < mark:
        conn.exec_driver_sql("UPDATE sqlite_sequence SET seq = ? WHERE name = ?", (mark, table))

    after_indexes = _index_names(conn, table)
    after = (
        _scalar(conn, f"SELECT count(*) FROM {table}"),
        _scalar(conn, f"SELECT total(id) FROM {table}"),
    )
    if after != (rows, checksum) or after_indexes != indexes or not _has_autoincrement(conn, table):
        raise MigrationFailed(
            f"rebuilding {table} changed it: rows {rows} -> {after[0]}, "
            f"sum of ids {checksum} -> {after[1]}, indexes {sorted(indexes)} -> "
            f"{sorted(after_indexes)}; nothing was changed (rolled back)"
        )


def upgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "sqlite":
        return  # PostgreSQL: the id sequences never hand out an id twice.
    if _scalar(conn, "PRAGMA foreign_keys"):
        raise MigrationFailed(
            "revision 0005 rebuilds tables and must run with foreign keys off (with them on, "
            "rebuilding contacts would delete their history): run it with `dialerd migrate`"
        )
    before = _fk_problems(conn)
    if before:
        # Not ours to repair (and refusing would leave the ids reusable): said, and kept as is.
        log.warning(
            "revision 0005: %d row(s) already named a missing row before the rebuild: %s",
            len(before),
            sorted(before, key=str)[:20],
        )
    for table in TABLES:
        if not _has_autoincrement(conn, table):
            _rebuild(conn, table)
    new = _fk_problems(conn) - before
    if new:
        shown = ", ".join(f"{r[0]} row {r[1]} -> {r[2]}" for r in sorted(new, key=str)[:20])
        raise MigrationFailed(
            f"after rebuilding the tables {len(new)} row(s) name a row that is not there: "
            f"{shown}; nothing was changed (rolled back)"
        )


def downgrade() -> None:
    # Nothing to undo: AUTOINCREMENT changes no column and no query, and the schema of 0004
    # works with it. Taking it away would only bring back the reuse of ids.
    pass
