"""Tasks beyond the call and intake channels (issue 8).

The executors keep their state on the contact (status, status_detail, fields, history) and the
drop folder records its files in the existing import history, so no new table is needed; the
revision exists so later revisions chain after a stable id.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 17:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
