"""Attempts by number: the calls-per-day cap counts the calls to a number in the last 24 hours,
whichever campaign or contact record dialed it, and no number is leased while a call to it is
in flight. Both are a range of this index per leased contact; without it, a full scan of the
attempts for every contact the lease looks at.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 16:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_attempts_phone", "attempts", ["phone", "originated_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_attempts_phone", table_name="attempts")
