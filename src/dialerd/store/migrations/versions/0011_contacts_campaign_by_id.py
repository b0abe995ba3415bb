"""A campaign's contacts in id order: the work queue's last group (contacts that are not new
work: finished, in another task, or tried and not due yet) is read in the campaign's order
with ``LIMIT``, and by id PostgreSQL walked the primary key past every contact of the other
campaigns before it. Measured with a campaign of 100,000 contacts, every one tried, after
600,000 contacts of other campaigns: ``work/next`` took 0.4-1.0 s (each time); with this index
it reads only the campaign's own contacts. It also serves the contact list's pages by id
(``GET .../contacts?after=``). SQLite keeps index entries of equal keys in rowid order
already; the index is the same there.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 21:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_contacts_campaign_id", "contacts", ["campaign_id", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_contacts_campaign_id", table_name="contacts")
