"""The work queue and the lead search read a page's worth of contacts, not the campaign.

At 500,000 contacts ``GET .../work/queue`` took 1.1 s and ``work/next`` 1.2-1.7 s: one query
ranked every contact of the campaign (never contacted, due follow-ups, the rest) and sorted
them all for one page. The queue is now read group by group in each group's order with
``LIMIT``, from ``ix_contacts_fresh_id`` (never contacted), ``ix_contacts_lease`` (due) and
revision 0011's ``ix_contacts_campaign_id`` (the rest, by id): a page reads about a page of
contacts, at any campaign size.

The lead search (``work/search``) asked for its first 20 matches by id; PostgreSQL, expecting
many, walked the campaign by id, past everything before matches that sit together (a range of
phone numbers): 0.23-0.45 s at 500,000 contacts. It now takes the page from the ids it counts.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from pg_plans import plan_nodes
from sqlalchemy import event, text

from dialerd.domain.agentwork import LeadState
from dialerd.domain.campaign_spec import CampaignSpec
from dialerd.domain.selection import Condition
from dialerd.store import Store
from dialerd.store import agentwork as work

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
OTHER, BIG, LATE = 10_000, 20_000, 5_000


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


async def _contacts(store: Store, camp: dict[str, int], n: int, shape: str) -> None:
    """``n`` contacts of ``camp``, ``shape``: ``mixed`` (never tried, due, not due, finished,
    in the wait task, in the second call task) or ``late`` (every one tried, none due)."""
    at = "CAST(:now AS timestamptz)"
    call, recall, after = (f"CAST(:{t} AS bigint)" for t in ("call", "recall", "after"))
    if shape == "mixed":
        values = (
            f"CASE WHEN g % 10 = 9 THEN {recall} WHEN g % 10 = 8 THEN {after} ELSE {call} END, "
            f"CASE WHEN g % 10 = 7 THEN 'success' ELSE 'open' END, "
            f"CASE WHEN g % 10 IN (5, 6, 7) THEN 1 ELSE 0 END, "
            f"CASE WHEN g % 10 = 5 THEN {at} - g * interval '1 s' "
            f"WHEN g % 10 = 6 THEN {at} + interval '1 day' END"
        )
    else:
        values = (
            f"{call}, CASE WHEN g % 5 = 0 THEN 'success' ELSE 'open' END, 1, "
            f"{at} + interval '1 day' + g * interval '1 s'"
        )
    async with store.engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO contacts (campaign_id, task_id, status, attempts, due_at,"
                " status_detail, phone, last_name, fields, created_at, updated_at) "
                f"SELECT :c, {values}, '$none', '+4930' || (1000000 + g), 'N' || g, '{{}}',"
                " :now, :now FROM generate_series(1, :n) g"
            ),
            {
                "c": camp["id"],
                "call": camp["call"],
                "recall": camp["recall"],
                "after": camp["after"],
                "n": n,
                "now": NOW,
            },
        )


async def _contacts_read(store: Store, call: Callable[[], Awaitable[Any]]) -> tuple[int, str]:
    """Rows of ``contacts`` the statements of ``call`` read (returned and filtered away, over
    every loop), by ``EXPLAIN ANALYZE``; and the plans, for the failure message."""
    seen: list[tuple[str, Any]] = []

    def catch(conn: Any, cursor: Any, statement: str, params: Any, ctx: Any, many: bool) -> None:
        if statement.lstrip().startswith("SELECT") and "FROM contacts" in statement:
            seen.append((statement, params))

    event.listen(store.engine.sync_engine, "before_cursor_execute", catch)
    try:
        await call()
    finally:
        event.remove(store.engine.sync_engine, "before_cursor_execute", catch)
    assert seen
    read, plans = 0, []
    async with store.engine.connect() as conn:
        for statement, params in seen:
            raw = await conn.exec_driver_sql("EXPLAIN (ANALYZE, FORMAT JSON) " + statement, params)
            plan = raw.scalar_one()
            data = plan if isinstance(plan, list) else json.loads(plan)
            for node in plan_nodes(data[0]["Plan"]):
                if node.get("Relation Name") == "contacts":
                    per_loop = node["Actual Rows"] + node.get("Rows Removed by Filter", 0)
                    read += per_loop * node["Actual Loops"]
            plans.append(json.dumps(data[0]["Plan"], indent=1))
    return read, "\n".join(plans)[:6000]


@pytest.mark.parametrize("backend", [pytest.param("postgres", marks=pytest.mark.postgres)])
async def test_a_page_of_the_work_queue_reads_about_a_page_of_contacts(
    fresh_pg_store: Store,
) -> None:
    store = fresh_pg_store
    # Another campaign's contacts first (lower ids), then a mixed and a late one.
    other = await _campaign(store, "other")
    big = await _campaign(store, "big")
    late = await _campaign(store, "late")
    await _contacts(store, other, OTHER, "mixed")
    await _contacts(store, big, BIG, "mixed")
    await _contacts(store, late, LATE, "late")
    first = await store.find_contacts(big["id"], limit=30)
    await work.reserve(store, first[1].id, "anna", NOW)
    await work.add_note(store, first[2].id, "ben", NOW, text="kein Interesse", close=True)
    async with store.engine.connect() as conn:
        auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await auto.exec_driver_sql("VACUUM ANALYZE")

    calls: dict[str, Callable[[], Awaitable[Any]]] = {
        "work/queue": lambda: work.work_queue(store, big["id"], NOW),
        "work/queue page 3": lambda: work.work_queue(store, big["id"], NOW, offset=100),
        "work/next": lambda: work.next_lead(store, big["id"], "anna", NOW),
        "work/queue available": lambda: work.work_queue(store, big["id"], NOW, available_for="ben"),
        "work/queue closed": lambda: work.work_queue(store, big["id"], NOW, state=LeadState.CLOSED),
        "work/queue none": lambda: work.work_queue(store, big["id"], NOW, state=LeadState.NONE),
        # Nothing new nor due: the last group, by id, past the other campaigns' contacts.
        "late work/next": lambda: work.next_lead(store, late["id"], "anna", NOW),
        "late work/queue": lambda: work.work_queue(store, late["id"], NOW),
    }
    for name, call in calls.items():
        read, plans = await _contacts_read(store, call)
        # Before: every contact of the campaign read and sorted (20,000; the late one 5,000
        # after walking the primary key past the 30,000 of the others).
        assert read < 1_000, f"{name}: {read} contacts read\n{plans}"
    assert len(await work.work_queue(store, late["id"], NOW)) == 50
    nxt = await work.next_lead(store, big["id"], "ben", NOW)
    assert nxt is not None and nxt.contact.id == first[0].id


@pytest.mark.parametrize("backend", [pytest.param("postgres", marks=pytest.mark.postgres)])
async def test_a_lead_search_reads_the_matches_not_the_contacts_before_them(
    fresh_pg_store: Store,
) -> None:
    store = fresh_pg_store
    other = await _campaign(store, "other")
    big = await _campaign(store, "big")
    await _contacts(store, other, OTHER, "mixed")
    await _contacts(store, big, BIG, "mixed")
    async with store.engine.connect() as conn:
        auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
        # Exact statistics: the planner knows 1,000 of the campaign's numbers match (not
        # where: numbers 15,000 to 15,999 of 20,000, "+4930 1015...").
        await auto.exec_driver_sql("ALTER TABLE contacts ALTER COLUMN phone SET STATISTICS 10000")
        await auto.exec_driver_sql("VACUUM ANALYZE contacts")
    search = lambda: work.search_leads(store, big["id"], "030 1015")  # noqa: E731
    leads, total = await search()
    assert total == 1000
    assert [x.contact.phone for x in leads] == [f"+493010{15000 + i}" for i in range(20)]
    read, plans = await _contacts_read(store, search)
    # Before: the first 15,000 of the campaign's contacts (and the other campaign's 10,000).
    assert read < 2_500, f"{read} contacts read\n{plans}"


@pytest.mark.parametrize("backend", [pytest.param("postgres", marks=pytest.mark.postgres)])
@pytest.mark.parametrize(
    "sort",
    [
        {"field": "last_name", "direction": "desc"},
        {"field": "fields.score", "direction": "asc"},
    ],
)
async def test_a_sorted_campaign_reads_a_page_not_all_its_new_contacts(
    fresh_pg_store: Store, sort: dict[str, str]
) -> None:
    """A campaign sorted by a field other than id: every work-queue page and every lease read
    and sorted all never-tried contacts of each call task (500,000 contacts: 0.2-0.3 s per
    page, 1 s per lease). The index of the campaign's sort (made when it is stored) gives
    them in that order."""
    from datetime import timedelta

    store = fresh_pg_store
    other = await _campaign(store, "other")
    spec = CampaignSpec.model_validate(
        {
            "name": "big",
            "tasks": [
                {"name": "call", "type": "call"},
                {"name": "recall", "type": "call"},
                {"name": "after", "type": "wait"},
            ],
            "rules": [],
            "sort": sort,
        }
    )
    camp = await store.create_campaign(spec, NOW)
    big = {"id": camp.id, **{t.name: t.id for t in await store.tasks(camp.id)}}
    await _contacts(store, other, OTHER, "mixed")
    await _contacts(store, big, BIG, "mixed")
    async with store.engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE contacts SET fields = jsonb_build_object('score', id % 997) "
                "WHERE campaign_id = :c AND id % 13 <> 0"
            ),
            {"c": camp.id},
        )
    async with store.engine.connect() as conn:
        auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await auto.exec_driver_sql("VACUUM ANALYZE")

    async def lease() -> None:
        got = await store.lease(camp.id, 50, "probe", timedelta(minutes=1), NOW)
        assert len(got) == 50
        await store.release([c.id for c in got], "probe")

    calls: dict[str, Callable[[], Awaitable[Any]]] = {
        "work/queue": lambda: work.work_queue(store, camp.id, NOW),
        "work/queue page 3": lambda: work.work_queue(store, camp.id, NOW, offset=100),
        "work/next": lambda: work.next_lead(store, camp.id, "anna", NOW),
        "lease": lease,
    }
    for name, call in calls.items():
        read, plans = await _contacts_read(store, call)
        # Before: the never-tried contacts of the call task read and sorted (10,000 of 20,000).
        assert read < 1_000, f"{name}: {read} contacts read\n{plans}"


@pytest.mark.parametrize("backend", [pytest.param("postgres", marks=pytest.mark.postgres)])
@pytest.mark.parametrize(("old_n", "new_n"), [(40_000, 20_000), (50_000, 2_000)])
async def test_a_lease_reads_its_campaigns_contacts_not_an_older_campaigns(
    fresh_pg_store: Store, old_n: int, new_n: int
) -> None:
    """Two campaigns, the older one large and first by id. A lease of the newer one asked by
    id order for never-tried contacts (``attempts = 0``) must not walk the primary key past
    the older campaign's contacts: each of its statements reads about what it leases."""
    from datetime import timedelta

    store = fresh_pg_store
    old = await _campaign(store, "old")
    new = await _campaign(store, "new")
    await _contacts(store, old, old_n, "mixed")
    await _contacts(store, new, new_n, "mixed")
    async with store.engine.connect() as conn:
        auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await auto.exec_driver_sql("VACUUM ANALYZE")

    async with store.engine.begin() as conn:
        # One list name in both campaigns (a supplier's list imported into each).
        await conn.execute(text("UPDATE contacts SET list_name = 'spring'"))
    async with store.engine.connect() as conn:
        auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await auto.exec_driver_sql("VACUUM ANALYZE")
    spring = [Condition("list_name", "eq", "spring")]

    async def lease(n: int, conditions: list[Condition] | None = None) -> None:
        got = await store.lease(
            new["id"], n, "probe", timedelta(minutes=1), NOW, conditions=conditions
        )
        assert len(got) == n
        assert {c.campaign_id for c in got} == {new["id"]}
        await store.release([c.id for c in got], "probe")

    for n in (1, 50, 500):
        for cond in (None, spring):
            read, plans = await _contacts_read(store, lambda n=n, c=cond: lease(n, c))  # type: ignore[misc]
            assert read < 3 * n + 1_000, f"lease {n} {cond}: {read} contacts read\n{plans}"
