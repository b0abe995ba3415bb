"""Campaigns remember what their campaign file last applied (``campaigns.file_applied``).

A start or SIGHUP applied every campaign file's whole definition again, undoing changes made
through the API (a campaign stopped by a supervisor was dialing again after the next reload).
With the file's digest and the definition it applied stored beside the campaign, the daemon
applies a file again only when it changed (``dialerd.domain.campaign_file``), and the API can
refuse a queue that a file gives another campaign. Existing campaigns start without a record:
their file is applied once more at the next start, keeping the stored status.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 16:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("campaigns") as batch:
        batch.add_column(
            sa.Column(
                "file_applied",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                nullable=True,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("campaigns") as batch:
        batch.drop_column("file_applied")
