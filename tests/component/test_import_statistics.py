"""After a big import PostgreSQL's planner knows the new contacts (statistics refreshed).

Without statistics PostgreSQL guessed that almost none of 500,000 just imported contacts was
open and fresh, and ran the daemon's lease as a nested loop over all of them: 44 s per lease
against 1 ms with statistics (see ``dialerd.store.imports._refresh_statistics``).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from dialerd.domain.campaign_spec import CampaignSpec
from dialerd.store import Store
from dialerd.taskflow.import_job import import_file

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
ROWS = 4000


async def _estimated_fresh(store: Store, task_id: int) -> float:
    """The planner's row estimate for the lease's first condition: fresh open contacts."""
    async with store.engine.connect() as conn:
        plan = await conn.scalar(
            text(
                "EXPLAIN (FORMAT JSON) SELECT id FROM contacts "
                "WHERE task_id = :t AND status = 'open' AND attempts = 0"
            ),
            {"t": task_id},
        )
    data = plan if isinstance(plan, list) else json.loads(plan)
    return float(data[0]["Plan"]["Plan Rows"])


@pytest.mark.parametrize("backend", [pytest.param("postgres", marks=pytest.mark.postgres)])
async def test_big_import_leaves_the_planner_knowing_the_new_contacts(
    fresh_pg_store: Store, tmp_path: Path
) -> None:
    store = fresh_pg_store
    spec = CampaignSpec.model_validate(
        {"name": "big", "tasks": [{"name": "call", "type": "call"}], "rules": []}
    )
    camp = await store.create_campaign(spec, NOW)
    task_id = (await store.tasks(camp.id))[0].id
    p = tmp_path / "big.csv"
    p.write_text(
        "phone,last_name\n" + "".join(f"+4930{1000000 + i},N{i}\n" for i in range(ROWS)),
        encoding="utf-8",
    )
    report = await import_file(store, p, campaign="big", actor="t", workers=0)
    assert report.imported == ROWS
    # Without the refresh the estimate was 1 row (the planner's default selectivities).
    assert await _estimated_fresh(store, task_id) >= ROWS / 2
