"""Contact search indexes (issue 9): trigram indexes for substring search on a million contacts.

SQLite: an FTS5 table with the ``trigram`` tokenizer over ``contacts`` (external content: the
text stays in ``contacts`` only), kept in sync by triggers and filled from the existing rows.
Left out when this SQLite has no FTS5 or is older than 3.34 (no trigram); search then falls back
to ``LIKE`` (see ``dialerd.store.search``). PostgreSQL: ``pg_trgm`` GIN indexes, which
``ILIKE '%x%'`` uses.

Neither can be declared as SQLAlchemy models (a virtual table, triggers, operator-class GIN
indexes on one dialect only); tests/component/test_store_migrations.py ignores them by name.

A later revision that rebuilds ``contacts`` with ``batch_alter_table`` on SQLite drops the
triggers with the old table: it must create them again (``create_sqlite_search``).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 17:30:00
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FTS_TABLE = "contacts_search"
COLUMNS = ("first_name", "last_name", "company", "email", "phone")
TRIGGERS = ("contacts_search_ai", "contacts_search_ad", "contacts_search_au")
PG_INDEXES = {f"ix_contacts_trgm_{c}": c for c in COLUMNS}


def _sqlite_has_trigram() -> bool:
    if sqlite3.sqlite_version_info < (3, 34, 0):
        return False
    options = {str(r[0]).upper() for r in op.get_bind().exec_driver_sql("PRAGMA compile_options")}
    return "ENABLE_FTS5" in options


def create_sqlite_search() -> None:
    cols = ", ".join(COLUMNS)
    new = ", ".join(f"new.{c}" for c in COLUMNS)
    old = ", ".join(f"old.{c}" for c in COLUMNS)
    op.execute(
        f"CREATE VIRTUAL TABLE IF NOT EXISTS {FTS_TABLE} USING fts5({cols}, "
        "content='contacts', content_rowid='id', tokenize='trigram')"
    )
    op.execute(
        f"CREATE TRIGGER IF NOT EXISTS contacts_search_ai AFTER INSERT ON contacts BEGIN "
        f"INSERT INTO {FTS_TABLE}(rowid, {cols}) VALUES (new.id, {new}); END"
    )
    op.execute(
        f"CREATE TRIGGER IF NOT EXISTS contacts_search_ad AFTER DELETE ON contacts BEGIN "
        f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, {cols}) VALUES ('delete', old.id, {old}); "
        "END"
    )
    op.execute(
        f"CREATE TRIGGER IF NOT EXISTS contacts_search_au AFTER UPDATE OF {cols} ON contacts "
        f"BEGIN INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, {cols}) "
        f"VALUES ('delete', old.id, {old}); "
        f"INSERT INTO {FTS_TABLE}(rowid, {cols}) VALUES (new.id, {new}); END"
    )
    op.execute(f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('rebuild')")


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        if _sqlite_has_trigram():
            create_sqlite_search()
    elif dialect == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        for name, col in PG_INDEXES.items():
            op.execute(
                f"CREATE INDEX IF NOT EXISTS {name} ON contacts USING gin ({col} gin_trgm_ops)"
            )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for trigger in TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        op.execute(f"DROP TABLE IF EXISTS {FTS_TABLE}")
    elif dialect == "postgresql":
        for name in PG_INDEXES:
            op.execute(f"DROP INDEX IF EXISTS {name}")
        # The extension stays: other objects may use it, and it is harmless.
