"""The lease finds never-tried contacts through an index in id order, also late in a campaign.

With the first 400,000 of 500,000 contacts tried, PostgreSQL found the next 50 never-tried
ones by walking the primary key past every tried contact: 271 ms per lease, growing with the
campaign. Revision 0009's index (task, status, attempts, id) hands them over in order: 0.5 ms.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pg_plans import plan_nodes
from sqlalchemy import event, text

from dialerd.domain.campaign_spec import CampaignSpec
from dialerd.store import Store
from dialerd.taskflow.import_job import import_file

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
ROWS = 20_000
TRIED = 16_000


@pytest.mark.parametrize("backend", [pytest.param("postgres", marks=pytest.mark.postgres)])
async def test_the_lease_reads_no_tried_contact_to_find_fresh_ones(
    fresh_pg_store: Store, tmp_path: Path
) -> None:
    store = fresh_pg_store
    spec = CampaignSpec.model_validate(
        {"name": "late", "tasks": [{"name": "call", "type": "call"}], "rules": []}
    )
    camp = await store.create_campaign(spec, NOW)
    p = tmp_path / "late.csv"
    p.write_text(
        "phone,last_name\n" + "".join(f"+4930{1000000 + i},N{i}\n" for i in range(ROWS)),
        encoding="utf-8",
    )
    assert (await import_file(store, p, campaign="late", actor="t", workers=0)).imported == ROWS
    async with store.engine.begin() as conn:
        # Late in the campaign: the oldest contacts were tried and wait for a retry tomorrow.
        await conn.execute(
            text(
                "UPDATE contacts SET attempts = 1, status_detail = '$follow_up_auto', "
                "due_at = :due WHERE campaign_id = :c AND id < "
                "(SELECT min(id) + :tried FROM contacts WHERE campaign_id = :c)"
            ),
            {"due": NOW + timedelta(days=1), "c": camp.id, "tried": TRIED},
        )
    async with store.engine.connect() as conn:
        auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await auto.exec_driver_sql("VACUUM ANALYZE contacts")

    leases: list[tuple[str, Any]] = []

    def catch(conn: Any, cursor: Any, statement: str, params: Any, ctx: Any, many: bool) -> None:
        if statement.lstrip().startswith("SELECT contacts.id") and "FOR UPDATE" in statement:
            leases.append((statement, params))

    event.listen(store.engine.sync_engine, "before_cursor_execute", catch)
    try:
        got = await store.lease(camp.id, 50, "probe", timedelta(minutes=1), NOW)
    finally:
        event.remove(store.engine.sync_engine, "before_cursor_execute", catch)
    assert len(got) == 50
    assert all(c.attempts == 0 for c in got)
    fresh = [(s, p) for s, p in leases if "contacts.attempts <= " in s]
    assert fresh, "the lease asked for never-tried contacts"
    statement, params = fresh[0]
    async with store.engine.connect() as conn:
        raw = await conn.exec_driver_sql("EXPLAIN (ANALYZE, FORMAT JSON) " + statement, params)
        plan = raw.scalar_one()
        await conn.rollback()
    data = plan if isinstance(plan, list) else json.loads(plan)
    scans = [n for n in plan_nodes(data[0]["Plan"]) if n.get("Relation Name") == "contacts"]
    read = sum(n["Actual Rows"] + n.get("Rows Removed by Filter", 0) for n in scans)
    # Without the index: the primary key walked past the 16,000 tried contacts (or all
    # 20,000 were read and sorted).
    assert read < 500, json.dumps(scans, indent=1)[:2000]
