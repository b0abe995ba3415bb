"""The outcomes a journal replay has written (``journal_applied``): one row per journaled
outcome, written in the same transaction as the outcome, so that a replay cut by a crash
between that write and the removal of the journal file does not apply the line a second time
at the next start. Before, the only sign of an applied line was its finished attempt, which a
contact deleted meanwhile takes with it: such a line was applied again at every replay, and a
live answer counted again in the abandonment figures.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-08 00:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "journal_applied",
        sa.Column("attempt_id", sa.String(length=64), nullable=False),
        sa.Column("journal", sa.String(length=200), nullable=False),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("attempt_id", name=op.f("pk_journal_applied")),
    )
    op.create_index(
        op.f("ix_journal_applied_journal"), "journal_applied", ["journal"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_journal_applied_journal"), table_name="journal_applied")
    op.drop_table("journal_applied")
