"""PostgreSQL: an index per campaign sort other than by id, for the never-tried contacts.

A campaign sorted by a field (``last_name``, ``fields.score``) had every lease and every
work-queue page read and sort all never-tried contacts of each call task: 500,000 contacts,
1 s per lease and 0.2-0.3 s per page. ``(task_id, status, attempts, <sort expression>, id)``
hands them over in that order (``dialerd.store.query.sort_index``). From now on the store
makes the index of a sort when a campaign with it is stored (``Store.ensure_sort_index``);
this revision makes those of the campaigns stored before. SQLite: nothing.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-08 00:30:00
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from dialerd.domain.selection import SortOrder
from dialerd.store.query import sort_index

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _orders(bind: Any) -> list[SortOrder]:
    out: list[SortOrder] = []
    for (settings,) in bind.execute(sa.text("SELECT settings FROM campaigns")):
        data = json.loads(settings) if isinstance(settings, str) else (settings or {})
        sort = data.get("sort") or {}
        out.append(SortOrder(str(sort.get("field") or "id"), sort.get("direction") == "desc"))
    return out


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    made: set[str] = set()
    for order in _orders(bind):
        index = sort_index(order)
        if index is not None and index.name not in made:
            made.add(index.name)
            op.execute(f'CREATE INDEX IF NOT EXISTS "{index.name}" ON contacts ({index.columns})')


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    names = bind.execute(
        sa.text(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'contacts' "
            "AND indexname LIKE 'ix\\_contacts\\_sort\\_%'"
        )
    ).scalars()
    for name in list(names):
        op.execute(f'DROP INDEX IF EXISTS "{name}"')
