"""Never-tried contacts in id order: the lease takes them by id, and the index on (task, status,
attempts) gave them in no useful order, so PostgreSQL walked the primary key instead, past every
contact already tried. Measured with 500,000 contacts of which the first 400,000 were tried:
271 ms per lease of 50; with ``id`` in the index, 0.5 ms (the same at any share tried). SQLite
keeps index entries of equal keys in rowid order already; the index is the same there.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 19:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_contacts_fresh_id", "contacts", ["task_id", "status", "attempts", "id"], unique=False
    )
    op.drop_index("ix_contacts_fresh", table_name="contacts")


def downgrade() -> None:
    op.create_index(
        "ix_contacts_fresh", "contacts", ["task_id", "status", "attempts"], unique=False
    )
    op.drop_index("ix_contacts_fresh_id", table_name="contacts")
