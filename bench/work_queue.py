"""The agents' lead endpoints on one big campaign: the store calls behind them, timed.

Fills a PostgreSQL database with a campaign ``big`` of ``--contacts`` contacts in mid-campaign
shape, a campaign ``other`` of 100,000 whose contacts come first by id, and a campaign ``late``
of a fifth of ``--contacts`` in which every contact was tried and none is due (after ``big``),
then times each store call that a busy team of agents hits every few seconds: the work queue
(``work/queue``, also with its filters, a far page and another sort), the next lead
(``work/next``), the lease of 1 and of 50 (by id and by two other sorts), lead search, reserve and
release, one lead and one contact by id. The sorts other than id get their index
(``Store.ensure_sort_index``, when the code has it) before the timing. Prints min
and median of ``--runs`` runs per call, in ms, and with ``--explain`` the ``EXPLAIN ANALYZE``
of each statement of the calls on stderr.

    .venv/bin/python bench/work_queue.py --server postgresql+asyncpg://root@127.0.0.1:5432/test

``--server`` creates a database of its own there and drops it at the end; ``--db URL`` takes
an existing database, migrates it, fills what it lacks (campaign ``big``, ``late``) and keeps it.

Shape of the big campaign (by contact number ``i``): two call tasks (``call``, ``recall``) and
a wait task (``done``). ``i % 10`` in 0-5: never tried; 6: tried, due again (an hour ago to now,
every 7th a personal callback of agent-1 .. agent-9); 7: tried, due tomorrow; 8: finished (half
``success`` in ``call``, half in ``done``); 9: in ``recall``, half never tried, half due. 200 of
the first never-tried contacts are leased (a call in progress), 300 leads are held by agents, 500
closed, 2,000 have a note.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from dialerd.domain.agentwork import LeadState
from dialerd.domain.campaign_spec import CampaignSpec
from dialerd.domain.selection import SortOrder
from dialerd.store import Store, upgrade
from dialerd.store import agentwork as work

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
OTHER = 100_000


async def _admin(server: str, sql: str) -> None:
    engine = create_async_engine(make_url(server), isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.exec_driver_sql(sql)
    finally:
        await engine.dispose()


async def _campaign(store: Store, name: str, sort: dict[str, str] | None = None) -> int:
    body: dict[str, Any] = {
        "name": name,
        "tasks": [
            {"name": "call", "type": "call"},
            {"name": "recall", "type": "call"},
            {"name": "done", "type": "wait"},
        ],
        "rules": [],
    }
    if sort:
        body["sort"] = sort
    return (await store.create_campaign(CampaignSpec.model_validate(body), NOW)).id


async def fill(store: Store, contacts: int) -> None:
    """The other campaign first (lower ids), then the big one; see the module docstring."""
    other = await _campaign(store, "other")
    big = await _campaign(store, "big")
    async with store.engine.begin() as conn:
        tasks = {
            (cid, name): tid
            for cid, name, tid in (
                await conn.execute(text("SELECT campaign_id, name, id FROM tasks"))
            ).all()
        }
        insert = text(
            "INSERT INTO contacts (campaign_id, task_id, status, status_detail, phone, first_name,"
            " last_name, email, fields, attempts, created_at, updated_at) "
            "SELECT :c, :t, 'open', '$none', '+4930' || (1000000 + g), 'Vorname' || (g % 997),"
            " 'Name' || (g % 50021), 'p' || g || '@example.com',"
            " json_build_object('score', g % 1000), 0, :now, :now "
            "FROM generate_series(1, :n) g"
        )
        await conn.execute(insert, {"c": other, "t": tasks[other, "call"], "n": OTHER, "now": NOW})
        await conn.execute(insert, {"c": big, "t": tasks[big, "call"], "n": contacts, "now": NOW})
        first = int(
            await conn.scalar(
                text("SELECT min(id) FROM contacts WHERE campaign_id = :c"), {"c": big}
            )
        )
        p = {"c": big, "first": first, "now": NOW}
        i = "(id - :first)"
        await conn.execute(
            text(
                f"UPDATE contacts SET attempts = 1 + {i} % 3, status_detail = '$follow_up_auto', "
                f"due_at = CAST(:now AS timestamptz) - ({i} % 3600) * interval '1 s', "
                f"follow_up_agent = CASE WHEN {i} % 7 = 0 THEN 'agent-' || (1 + {i} % 9) END, "
                f"last_attempt_at = CAST(:now AS timestamptz) - interval '1 day' "
                f"WHERE campaign_id = :c AND {i} % 10 = 6"
            ),
            p,
        )
        await conn.execute(
            text(
                f"UPDATE contacts SET attempts = 1, status_detail = '$no_answer', "
                f"due_at = CAST(:now AS timestamptz) + interval '1 day' "
                f"+ ({i} % 3600) * interval '1 s' "
                f"WHERE campaign_id = :c AND {i} % 10 = 7"
            ),
            p,
        )
        await conn.execute(
            text(
                f"UPDATE contacts SET attempts = CASE WHEN {i} % 20 = 8 THEN 2 ELSE 0 END, "
                f"status = CASE WHEN {i} % 20 = 8 THEN 'success' ELSE 'open' END, "
                f"status_detail = CASE WHEN {i} % 20 = 8 THEN 'sale' ELSE '$none' END, "
                f"task_id = CASE WHEN {i} % 20 = 8 THEN task_id ELSE :done END "
                f"WHERE campaign_id = :c AND {i} % 10 = 8"
            ),
            {**p, "done": tasks[big, "done"]},
        )
        await conn.execute(
            text(
                f"UPDATE contacts SET task_id = :recall, "
                f"attempts = CASE WHEN {i} % 20 = 9 THEN 0 ELSE 1 END, "
                f"due_at = CASE WHEN {i} % 20 = 9 THEN NULL "
                f"ELSE CAST(:now AS timestamptz) - ({i} % 600) * interval '1 s' END "
                f"WHERE campaign_id = :c AND {i} % 10 = 9"
            ),
            {**p, "recall": tasks[big, "recall"]},
        )
        await conn.execute(
            text(
                f"UPDATE contacts SET lease_holder = 'runner', "
                f"lease_expires_at = CAST(:now AS timestamptz) + interval '1 min' "
                f"WHERE id IN (SELECT id FROM contacts WHERE campaign_id = :c AND {i} % 10 < 6 "
                f"ORDER BY id LIMIT 200)"
            ),
            p,
        )
        # Lead work: holds and notes on never-tried contacts, closes on finished ones.
        await conn.execute(
            text(
                "INSERT INTO lead_notes (campaign_id, contact_id, agent, at, text, result_class,"
                " closes) "
                f"SELECT :c, id, 'agent-' || (1 + id % 9), :now, 'spoke', 'unclassified', false "
                f"FROM contacts WHERE campaign_id = :c AND {i} % 250 = 3"
            ),
            p,
        )
        await conn.execute(
            text(
                "INSERT INTO lead_work (contact_id, campaign_id, holder, held_since, last_note_id,"
                " closed) "
                "SELECT contact_id, :c, NULL, NULL, max(id), false FROM lead_notes "
                "WHERE campaign_id = :c GROUP BY contact_id"
            ),
            p,
        )
        await conn.execute(
            text(
                "INSERT INTO lead_work (contact_id, campaign_id, holder, held_since, closed) "
                f"SELECT id, :c, 'agent-' || (1 + id % 9), :now, false FROM contacts "
                f"WHERE campaign_id = :c AND {i} % 1000 = 1 LIMIT 300"
            ),
            p,
        )
        await conn.execute(
            text(
                "INSERT INTO lead_work (contact_id, campaign_id, closed, closed_at, closed_by) "
                f"SELECT id, :c, true, :now, 'agent-1' FROM contacts "
                f"WHERE campaign_id = :c AND {i} % 20 = 8 LIMIT 500"
            ),
            p,
        )
    async with store.engine.connect() as conn:
        auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await auto.exec_driver_sql("VACUUM ANALYZE")


async def fill_late(store: Store, contacts: int) -> None:
    """A campaign late on: every contact tried, a fifth finished, the rest due tomorrow (no
    never-tried and no due contact left: ``work/next`` reads the third group)."""
    late = await _campaign(store, "late")
    async with store.engine.begin() as conn:
        call = await conn.scalar(
            text("SELECT id FROM tasks WHERE campaign_id = :c AND name = 'call'"), {"c": late}
        )
        await conn.execute(
            text(
                "INSERT INTO contacts (campaign_id, task_id, status, status_detail, phone,"
                " last_name, fields, attempts, due_at, created_at, updated_at) "
                "SELECT :c, :t, CASE WHEN g % 5 = 0 THEN 'success' ELSE 'open' END,"
                " CASE WHEN g % 5 = 0 THEN 'sale' ELSE '$no_answer' END, '+4940' || (1000000 + g),"
                " 'Spaet' || (g % 5003), '{}', 1 + g % 3,"
                " CASE WHEN g % 5 <> 0 THEN CAST(:now AS timestamptz) + interval '1 day'"
                " + (g % 3600) * interval '1 s' END, :now, :now "
                "FROM generate_series(1, :n) g"
            ),
            {"c": late, "t": call, "n": contacts, "now": NOW},
        )
    async with store.engine.connect() as conn:
        auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await auto.exec_driver_sql("VACUUM ANALYZE contacts")


async def _has(store: Store, campaign: str) -> bool:
    async with store.engine.connect() as conn:
        found = await conn.scalar(
            text("SELECT count(*) FROM campaigns WHERE name = :n"), {"n": campaign}
        )
    return bool(found)


async def _timed(runs: int, call: Callable[[], Awaitable[Any]]) -> tuple[float, float]:
    spent = []
    for _ in range(runs):
        t0 = time.perf_counter()
        await call()
        spent.append((time.perf_counter() - t0) * 1000)
    return min(spent), statistics.median(spent)


async def _explain(store: Store, call: Callable[[], Awaitable[Any]]) -> list[str]:
    seen: list[tuple[str, Any]] = []

    def catch(conn: Any, cursor: Any, statement: str, params: Any, ctx: Any, many: bool) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append((statement, params))

    event.listen(store.engine.sync_engine, "before_cursor_execute", catch)
    try:
        await call()
    finally:
        event.remove(store.engine.sync_engine, "before_cursor_execute", catch)
    out = []
    async with store.engine.connect() as conn:
        for statement, params in seen:
            raw = await conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement, params)
            out.append(statement + "\n" + "\n".join(r[0] for r in raw.all()))
    return out


async def measure(store: Store, runs: int, explain: bool, only: str | None) -> None:
    async with store.engine.connect() as conn:
        ids = dict((await conn.execute(text("SELECT name, id FROM campaigns"))).all())
        big, late = ids["big"], ids["late"]
        some = int(
            await conn.scalar(
                text(
                    "SELECT id FROM contacts WHERE campaign_id = :c "
                    "ORDER BY id OFFSET 123457 LIMIT 1"
                ),
                {"c": big},
            )
        )

    async def sorted_queue(sort: str, **kw: Any) -> Any:
        """The queue as if the campaign were sorted by ``sort`` (same contacts)."""
        original = store.campaign_spec

        async def with_sort(campaign_id: int) -> CampaignSpec:
            s = await original(campaign_id)
            return s.model_copy(update={"sort": s.sort.model_copy(update={"field": sort})})

        store.campaign_spec = with_sort  # type: ignore[method-assign]
        try:
            return await work.work_queue(store, big, NOW, **kw)
        finally:
            store.campaign_spec = original  # type: ignore[method-assign]

    ensure = getattr(store, "ensure_sort_index", None)  # the code before had none
    for field in ("last_name", "fields.score"):
        if ensure is not None:
            await ensure(SortOrder(field))

    async def lease_release(sort: str | None = None, n: int = 50) -> None:
        order = SortOrder(sort) if sort else None
        got = await store.lease(big, n, "bench", timedelta(minutes=1), NOW, sort=order)
        await store.release([c.id for c in got], "bench")

    async def reserve_release() -> None:
        await work.reserve(store, some, "agent-5", NOW)
        await work.release(store, some, "agent-5")

    calls: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
        ("work/queue (50)", lambda: work.work_queue(store, big, NOW)),
        ("work/queue offset 1000", lambda: work.work_queue(store, big, NOW, offset=1000)),
        ("work/queue offset 300000", lambda: work.work_queue(store, big, NOW, offset=300_000)),
        ("work/queue limit 1000", lambda: work.work_queue(store, big, NOW, limit=1000)),
        (
            "work/queue available_for",
            lambda: work.work_queue(store, big, NOW, available_for="agent-3"),
        ),
        (
            "work/queue state=none",
            lambda: work.work_queue(store, big, NOW, state=LeadState.NONE),
        ),
        (
            "work/queue state=in_progress",
            lambda: work.work_queue(store, big, NOW, state=LeadState.IN_PROGRESS),
        ),
        (
            "work/queue state=closed",
            lambda: work.work_queue(store, big, NOW, state=LeadState.CLOSED),
        ),
        ("work/next", lambda: work.next_lead(store, big, "agent-3", NOW)),
        (
            "work/next, no due work",
            lambda: work.next_lead(store, big, "agent-3", NOW - timedelta(days=2)),
        ),
        ("work/next, late campaign", lambda: work.next_lead(store, late, "agent-3", NOW)),
        ("work/queue, late campaign", lambda: work.work_queue(store, late, NOW)),
        (
            "work/queue, late campaign, available_for",
            lambda: work.work_queue(store, late, NOW, available_for="agent-3"),
        ),
        ("work/queue sort last_name", lambda: sorted_queue("last_name")),
        ("work/queue sort fields.score", lambda: sorted_queue("fields.score")),
        (
            "work/next sort last_name",
            lambda: sorted_queue("last_name", available_for="agent-3", limit=1),
        ),
        ("lease 1 + release", lambda: lease_release(n=1)),
        ("lease 50 + release", lambda: lease_release()),
        ("lease 50 sort last_name + release", lambda: lease_release("last_name")),
        ("lease 50 sort fields.score + release", lambda: lease_release("fields.score")),
        ("work/search name", lambda: work.search_leads(store, big, "Name4711")),
        ("work/search phone", lambda: work.search_leads(store, big, "030 1234")),
        ("work/search e-mail", lambda: work.search_leads(store, big, "p4711@")),
        ("reserve + release", reserve_release),
        ("leads/{id}", lambda: work.get_lead(store, some)),
        ("leads/{id} notes", lambda: work.lead_notes(store, some)),
        ("contacts/{id}", lambda: store.get_contact(some)),
    ]
    print("| store call | min ms | median ms |")
    print("|---|---|---|")
    for name, call in calls:
        if only and only not in name:
            continue
        await call()  # warm
        low, mid = await _timed(runs, call)
        print(f"| {name} | {low:.1f} | {mid:.1f} |", flush=True)
        if explain:
            for plan in await _explain(store, call):
                print(plan, "\n", file=sys.stderr)


async def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    where = ap.add_mutually_exclusive_group(required=True)
    where.add_argument("--server", help="PostgreSQL URL; a database of its own is made there")
    where.add_argument("--db", help="an existing database (kept)")
    ap.add_argument("--contacts", type=int, default=500_000)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--explain", action="store_true", help="EXPLAIN ANALYZE to stderr")
    ap.add_argument("--only", help="only the calls whose name contains this")
    args = ap.parse_args()
    name = None
    if args.server:
        name = f"dialerd_bench_{uuid.uuid4().hex[:12]}"
        server = make_url(args.server).set(drivername="postgresql+asyncpg")
        await _admin(server.render_as_string(hide_password=False), f'CREATE DATABASE "{name}"')
        url = server.set(database=name).render_as_string(hide_password=False)
    else:
        url = args.db
    try:
        await upgrade(url)
        store = await Store.open(url, command_timeout=None)
        try:
            t0 = time.perf_counter()
            if not await _has(store, "big"):
                await fill(store, args.contacts)
            if not await _has(store, "late"):
                await fill_late(store, args.contacts // 5)
            print(f"filled in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
            await measure(store, args.runs, args.explain, args.only)
        finally:
            await store.close()
    finally:
        if name is not None:
            await _admin(
                server.render_as_string(hide_password=False),
                f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)',
            )
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
