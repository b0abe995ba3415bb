"""Leased numbers: no number is leased while another record of it (in any campaign) is leased
for a call. The attempt is written only when the call is placed, so until then (a preview on
offer to an agent, the moment between a lease and its dial) the lease is what says the number
is taken. A partial index over leased contacts only (a few per agent) makes that a range read
per contact the lease looks at; without it, a scan of every campaign's contacts.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 19:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LEASED = "lease_holder IS NOT NULL"


def upgrade() -> None:
    op.create_index(
        "ix_contacts_leased_phone",
        "contacts",
        ["phone"],
        unique=False,
        postgresql_where=sa.text(LEASED),
        sqlite_where=sa.text(LEASED),
    )


def downgrade() -> None:
    op.drop_index("ix_contacts_leased_phone", table_name="contacts")
