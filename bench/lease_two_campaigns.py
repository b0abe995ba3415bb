"""The lease of a newer campaign behind an older, larger one (PostgreSQL), timed.

Makes a database of its own on ``--server`` (dropped at the end): campaign ``old`` with
``--old`` contacts first by id, then ``new`` with ``--new`` contacts, both in the mixed shape
of tests/component/test_work_queue_plan.py (never tried, due, not due, finished, in a wait
task, in a second call task), then one list name set on every contact (an UPDATE of the whole
table, as a list rename would do) and ``VACUUM ANALYZE``. Times ``Store.lease`` of 1, 50 and
500 contacts of ``new`` (each given back at once) and, by ``EXPLAIN ANALYZE`` of its
statements, the contacts rows they read. Prints min and median of ``--runs`` runs, in ms.

    PYTHONPATH=src .venv/bin/python bench/lease_two_campaigns.py \
        --server postgresql+asyncpg://root@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from dialerd.domain.campaign_spec import CampaignSpec
from dialerd.store import Store, upgrade

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


async def _admin(server: str, sql: str) -> None:
    engine = create_async_engine(make_url(server), isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.exec_driver_sql(sql)
    finally:
        await engine.dispose()


async def _campaign(store: Store, name: str) -> dict[str, int]:
    spec = CampaignSpec.model_validate(
        {
            "name": name,
            "tasks": [
                {"name": "call", "type": "call"},
                {"name": "recall", "type": "call"},
                {"name": "after", "type": "wait"},
            ],
            "rules": [],
        }
    )
    camp = await store.create_campaign(spec, NOW)
    return {"id": camp.id, **{t.name: t.id for t in await store.tasks(camp.id)}}


async def _contacts(store: Store, camp: dict[str, int], n: int) -> None:
    at = "CAST(:now AS timestamptz)"
    call, recall, after = (f"CAST(:{t} AS bigint)" for t in ("call", "recall", "after"))
    values = (
        f"CASE WHEN g % 10 = 9 THEN {recall} WHEN g % 10 = 8 THEN {after} ELSE {call} END, "
        f"CASE WHEN g % 10 = 7 THEN 'success' ELSE 'open' END, "
        f"CASE WHEN g % 10 IN (5, 6, 7) THEN 1 ELSE 0 END, "
        f"CASE WHEN g % 10 = 5 THEN {at} - g * interval '1 s' "
        f"WHEN g % 10 = 6 THEN {at} + interval '1 day' END"
    )
    async with store.engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO contacts (campaign_id, task_id, status, attempts, due_at,"
                " status_detail, phone, last_name, fields, created_at, updated_at) "
                f"SELECT :c, {values}, '$none', '+49' || :p || (1000000 + g), 'N' || g, '{{}}',"
                " :now, :now FROM generate_series(1, :n) g"
            ),
            {**camp, "c": camp["id"], "n": n, "now": NOW, "p": "30"},
        )


def _nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    out = [plan]
    for child in plan.get("Plans", []):
        out.extend(_nodes(child))
    return out


async def _read(store: Store, campaign_id: int, n: int) -> int:
    seen: list[tuple[str, Any]] = []

    def catch(conn: Any, cursor: Any, statement: str, params: Any, ctx: Any, many: bool) -> None:
        if statement.lstrip().startswith("SELECT") and "FROM contacts" in statement:
            seen.append((statement, params))

    event.listen(store.engine.sync_engine, "before_cursor_execute", catch)
    try:
        got = await store.lease(campaign_id, n, "bench", timedelta(minutes=1), NOW)
    finally:
        event.remove(store.engine.sync_engine, "before_cursor_execute", catch)
    await store.release([c.id for c in got], "bench")
    read = 0
    async with store.engine.connect() as conn:
        for statement, params in seen:
            raw = await conn.exec_driver_sql("EXPLAIN (ANALYZE, FORMAT JSON) " + statement, params)
            plan = raw.scalar_one()
            data = plan if isinstance(plan, list) else json.loads(plan)
            for node in _nodes(data[0]["Plan"]):
                if node.get("Relation Name") == "contacts":
                    rows = node["Actual Rows"] + node.get("Rows Removed by Filter", 0)
                    read += rows * node["Actual Loops"]
        await conn.rollback()
    return read


async def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--server", required=True, help="PostgreSQL URL; a database of its own")
    ap.add_argument("--old", type=int, default=500_000)
    ap.add_argument("--new", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    name = f"dialerd_bench_{uuid.uuid4().hex[:12]}"
    server = make_url(args.server).set(drivername="postgresql+asyncpg")
    admin = server.render_as_string(hide_password=False)
    await _admin(admin, f'CREATE DATABASE "{name}"')
    url = server.set(database=name).render_as_string(hide_password=False)
    try:
        await upgrade(url)
        store = await Store.open(url, command_timeout=None)
        try:
            t0 = time.perf_counter()
            old = await _campaign(store, "old")
            new = await _campaign(store, "new")
            await _contacts(store, old, args.old)
            await _contacts(store, new, args.new)
            async with store.engine.begin() as conn:
                await conn.execute(text("UPDATE contacts SET list_name = 'spring'"))
            async with store.engine.connect() as conn:
                auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
                await auto.exec_driver_sql("VACUUM ANALYZE")
            print(f"filled in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
            print(
                f"| lease of `new` ({args.new:,} after {args.old:,}) | rows read | min ms "
                "| median ms |"
            )
            print("|---|---:|---:|---:|")
            for n in (1, 50, 500):
                read = await _read(store, new["id"], n)
                spent = []
                for _ in range(args.runs):
                    t1 = time.perf_counter()
                    got = await store.lease(new["id"], n, "bench", timedelta(minutes=1), NOW)
                    spent.append((time.perf_counter() - t1) * 1000)
                    await store.release([c.id for c in got], "bench")
                print(
                    f"| lease {n} | {read:,} | {min(spent):.1f} | {statistics.median(spent):.1f} |",
                    flush=True,
                )
        finally:
            await store.close()
    finally:
        await _admin(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
