"""A report of one day reads that day's attempts, not the whole call history.

With 311,000 attempts over three weeks on PostgreSQL, one day's report took 0.46-0.62 s: each
of its queries read every attempt (a sequential scan), and it grew with the history. Revision
0010's index on the attempts' origination time limits it to the range asked for.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pg_plans import plan_nodes
from sqlalchemy import event, text

from dialerd.domain.agentwork import ReportFilter
from dialerd.domain.campaign_spec import CampaignSpec
from dialerd.store import Store
from dialerd.store.agentwork import report
from dialerd.taskflow.import_job import import_file

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
DAYS = 30
PER_DAY = 1000


@pytest.mark.parametrize("backend", [pytest.param("postgres", marks=pytest.mark.postgres)])
async def test_a_one_day_report_reads_only_that_days_attempts(
    fresh_pg_store: Store, tmp_path: Path
) -> None:
    store = fresh_pg_store
    spec = CampaignSpec.model_validate(
        {"name": "rep", "tasks": [{"name": "call", "type": "call"}], "rules": []}
    )
    camp = await store.create_campaign(spec, NOW)
    p = tmp_path / "one.csv"
    p.write_text("phone\n+49301234567\n", encoding="utf-8")
    await import_file(store, p, campaign="rep", actor="t", workers=0)
    first = NOW - timedelta(days=DAYS)
    async with store.engine.begin() as conn:
        # A month of calls to one contact: PER_DAY attempts a day, a quarter connected.
        at = "CAST(:first AS timestamptz) + (g * interval '1 day') / CAST(:per_day AS int)"
        await conn.execute(
            text(
                "INSERT INTO attempts (id, campaign_id, contact_id, task_id, phone, agent, "
                "originated_at, hungup_at, connected_at, result, talk_seconds) "
                f"SELECT 'a' || g, c.campaign_id, c.id, c.task_id, c.phone, 'agent-1', {at}, "
                f"{at} + interval '40 s', CASE WHEN g % 4 = 0 THEN {at} END, "
                "CASE WHEN g % 4 = 0 THEN 'connected' ELSE 'no_answer' END, 20 "
                "FROM generate_series(0, :n - 1) g, contacts c WHERE c.campaign_id = :c"
            ),
            {"first": first, "per_day": PER_DAY, "n": DAYS * PER_DAY, "c": camp.id},
        )
    async with store.engine.connect() as conn:
        auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await auto.exec_driver_sql("VACUUM ANALYZE attempts")

    asked: list[tuple[str, Any]] = []

    def catch(conn: Any, cursor: Any, statement: str, params: Any, ctx: Any, many: bool) -> None:
        if "FROM attempts" in statement and "originated_at >=" in statement:
            asked.append((statement, params))

    day = first + timedelta(days=10)
    event.listen(store.engine.sync_engine, "before_cursor_execute", catch)
    try:
        figures = await report(store, ReportFilter(start=day, end=day + timedelta(days=1)))
    finally:
        event.remove(store.engine.sync_engine, "before_cursor_execute", catch)
    assert figures.totals.calls == PER_DAY
    assert asked
    for statement, params in asked:
        async with store.engine.connect() as conn:
            raw = await conn.exec_driver_sql("EXPLAIN (ANALYZE, FORMAT JSON) " + statement, params)
            plan = raw.scalar_one()
        data = plan if isinstance(plan, list) else json.loads(plan)
        scans = [n for n in plan_nodes(data[0]["Plan"]) if n.get("Relation Name") == "attempts"]
        read = sum(
            (n["Actual Rows"] + n.get("Rows Removed by Filter", 0)) * n.get("Actual Loops", 1)
            for n in scans
        )
        # Without the index every query read all 30,000 attempts.
        assert read <= 2 * PER_DAY, (statement, json.dumps(scans)[:1500])
