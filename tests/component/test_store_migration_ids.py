"""Revision 0005: a database of 0004 with data keeps every row and id, and ids are never reused.

On SQLite the revision rebuilds the tables whose ids users see (with AUTOINCREMENT); on
PostgreSQL it does nothing (sequences never reuse ids). The data is written at 0004 with the
daemon's own connection settings (foreign keys on) and compared table by table after the upgrade.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from alembic import command
from sqlalchemy import Table, delete, func, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from dialerd.store import Store, upgrade
from dialerd.store.engine import make_engine
from dialerd.store.migrate import alembic_config, current_revision, head_revision
from dialerd.store.models import Base

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
T = Base.metadata.tables
REBUILT = ("campaigns", "tasks", "imports", "contacts", "status_history", "lead_notes")
# Columns the models have that later revisions add: not there at 0004 or 0005.
ADDED_LATER = {"campaigns": {"file_applied"}}  # 0006
TABLES_ADDED_LATER = {"journal_applied"}  # 0013


async def _id(conn: AsyncConnection, table: str, **values: Any) -> int:
    t = T[table]
    return int((await conn.execute(insert(t).values(**values).returning(t.c.id))).scalar_one())


def _contact(campaign: int, task: int, imp: int, n: int) -> dict[str, Any]:
    return {
        "campaign_id": campaign,
        "task_id": task,
        "import_id": imp,
        "status": "open",
        "status_detail": "$none",
        "phone": f"+4930{n:07d}",
        "first_name": f"Ada{n}",
        "last_name": "Lovelace",
        "fields": {"n": n},
        "attempts": 1,
        "created_at": NOW,
        "updated_at": NOW,
    }


async def _fill(conn: AsyncConnection) -> int:
    """Two campaigns with tasks, imports, contacts, history, attempts, notes, DNC entries.

    Returns the id of a task deleted before the upgrade that the history still names.
    """
    camps: list[int] = []
    for name in ("sales", "survey"):
        camps.append(
            await _id(
                conn,
                "campaigns",
                name=name,
                status="enabled",
                dial_mode="progressive",
                timezone="UTC",
                settings={"name": name},
                created_at=NOW,
                updated_at=NOW,
            )
        )
    tasks = {}
    for camp in camps:
        for pos, (name, type_) in enumerate((("call", "call"), ("later", "wait"))):
            tasks[camp, name] = await _id(
                conn, "tasks", campaign_id=camp, name=name, type=type_, position=pos, settings={}
            )
        await conn.execute(
            update(T["campaigns"])
            .where(T["campaigns"].c.id == camp)
            .values(start_task_id=tasks[camp, "call"])
        )
    gone = await _id(conn, "tasks", campaign_id=camps[0], name="gone", type="call", settings={})
    await conn.execute(
        insert(T["taskflow_rules"]).values(
            campaign_id=camps[0],
            from_task_id=tasks[camps[0], "call"],
            status="success",
            to_task_id=tasks[camps[0], "later"],
            delay_seconds=0.0,
        )
    )
    n = 0
    for camp, count in zip(camps, (40, 10), strict=True):
        imp = await _id(
            conn,
            "imports",
            campaign_id=camp,
            actor="cli",
            at=NOW,
            file_name="l.csv",
            mode="append",
            rows=count,
            imported=count,
            report={},
        )
        for _ in range(count):
            n += 1
            cid = await _id(conn, "contacts", **_contact(camp, tasks[camp, "call"], imp, n))
            for to_task in (tasks[camp, "call"], gone if camp == camps[0] else None):
                await conn.execute(
                    insert(T["status_history"]).values(
                        campaign_id=camp,
                        contact_id=cid,
                        at=NOW,
                        actor="import",
                        to_task_id=to_task,
                        to_status="open",
                    )
                )
            await conn.execute(
                insert(T["attempts"]).values(
                    id=f"att-{cid}",
                    campaign_id=camp,
                    contact_id=cid,
                    task_id=tasks[camp, "call"],
                    phone=f"+4930{n:07d}",
                    originated_at=NOW,
                    result="no_answer",
                )
            )
            if n % 10 == 0:
                note = await _id(
                    conn,
                    "lead_notes",
                    campaign_id=camp,
                    contact_id=cid,
                    agent="agent-1",
                    at=NOW,
                    text="call back",
                    result_class="partial",
                    closes=False,
                )
                await conn.execute(
                    insert(T["lead_work"]).values(
                        contact_id=cid, campaign_id=camp, last_note_id=note, closed=False
                    )
                )
    await conn.execute(
        insert(T["dnc"]),
        [
            {"campaign_id": None, "phone": "+49301111111", "added_at": NOW, "actor": "api"},
            {"campaign_id": camps[0], "phone": "+49302222222", "added_at": NOW, "actor": "api"},
        ],
    )
    await conn.execute(
        insert(T["predefined_notes"]).values(
            campaign_id=camps[0],
            key="sale",
            text="Sale",
            result_label="sale",
            result_class="positive",
            closes=True,
            position=0,
        )
    )
    await conn.execute(
        insert(T["abandonment_buckets"]).values(
            campaign_id=camps[0], bucket_start=NOW, live_answers=3, abandoned=0
        )
    )
    await conn.execute(
        insert(T["agents"]).values(
            name="agent-1", interface="PJSIP/1", campaigns=[], skills=[], state="offline"
        )
    )
    # The task is removed; history rows of the contacts still name it (no foreign key there).
    await conn.execute(delete(T["tasks"]).where(T["tasks"].c.id == gone))
    return gone


async def _snapshot(engine: AsyncEngine) -> dict[str, list[tuple[Any, ...]]]:
    out: dict[str, list[tuple[Any, ...]]] = {}
    async with engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            if table.name in TABLES_ADDED_LATER:
                continue
            order = list(table.primary_key.columns)
            later = ADDED_LATER.get(table.name, set())
            columns = [c for c in table.columns if c.name not in later]
            rows = await conn.execute(select(*columns).order_by(*order))
            out[table.name] = [tuple(r) for r in rows.all()]
    return out


def _sqlite_schema(conn: Connection) -> dict[str, str]:
    rows = conn.exec_driver_sql(
        "SELECT type || ' ' || name, coalesce(sql, '') FROM sqlite_master ORDER BY 1"
    ).all()
    return {str(k): str(v) for k, v in rows}


async def _count(engine: AsyncEngine, table: Table) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())


async def test_upgrade_keeps_every_row_and_id_and_then_never_reuses_an_id(
    empty_db_url: str,
) -> None:
    url = empty_db_url
    await upgrade(url, "0004")
    engine = make_engine(url)  # the daemon's settings: foreign keys on
    try:
        async with engine.begin() as conn:
            gone_task = await _fill(conn)
        before = await _snapshot(engine)
        history = await _count(engine, T["status_history"])
        attempts = await _count(engine, T["attempts"])
        assert (history, attempts) == (100, 50)
        sqlite = engine.dialect.name == "sqlite"
        if sqlite:
            async with engine.connect() as conn:
                schema_before = await conn.run_sync(_sqlite_schema)

        assert await upgrade(url, "0005") == ("0004", "0005")

        assert await _snapshot(engine) == before  # every row of every table, ids included
        assert await _count(engine, T["status_history"]) == history
        assert await _count(engine, T["attempts"]) == attempts
        if sqlite:
            async with engine.connect() as conn:
                schema_after = await conn.run_sync(_sqlite_schema)
                assert (await conn.exec_driver_sql("PRAGMA foreign_key_check")).all() == []
                found = await conn.exec_driver_sql(
                    "SELECT rowid FROM contacts_search WHERE contacts_search MATCH 'Ada17'"
                )
                assert [r[0] for r in found] == [17]
            # Same tables, indexes, triggers; the rebuilt tables now carry AUTOINCREMENT.
            assert set(schema_after) == set(schema_before) | {"table sqlite_sequence"}
            for table in REBUILT:
                assert "AUTOINCREMENT" in schema_after[f"table {table}"]
                assert "AUTOINCREMENT" not in schema_before[f"table {table}"]

        assert await upgrade(url) == ("0005", head_revision())
        async with await Store.open(url) as store:
            assert [c.name for c in await store.list_campaigns()] == ["sales", "survey"]

        # The newest contact is deleted with its history; the next one gets a new id.
        async with engine.begin() as conn:
            newest = int((await conn.execute(select(func.max(T["contacts"].c.id)))).scalar_one())
            row = (
                await conn.execute(select(T["contacts"]).where(T["contacts"].c.id == newest))
            ).one()
            await conn.execute(delete(T["contacts"]).where(T["contacts"].c.id == newest))
            assert await _count_in(conn, "status_history", newest) == 0  # cascaded as before
            fresh = await _id(
                conn, "contacts", **_contact(row.campaign_id, row.task_id, row.import_id, 999)
            )
            task = await _id(
                conn, "tasks", campaign_id=row.campaign_id, name="new", type="wait", settings={}
            )
        assert fresh > newest
        assert task > gone_task  # a task id the history still names is not handed out again
        if sqlite:
            async with engine.connect() as conn:
                found = await conn.exec_driver_sql(
                    "SELECT rowid FROM contacts_search WHERE contacts_search MATCH 'Ada999'"
                )
                assert [r[0] for r in found] == [fresh]  # the search triggers are back
    finally:
        await engine.dispose()


async def _count_in(conn: AsyncConnection, table: str, contact_id: int) -> int:
    t = T[table]
    q = select(func.count()).select_from(t).where(t.c.contact_id == contact_id)
    return int((await conn.execute(q)).scalar_one())


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_the_rebuild_refuses_to_run_with_foreign_keys_on(empty_db_url: str) -> None:
    # With foreign keys on, dropping the old contacts table would delete every status history
    # row and attempt: the revision must refuse and leave the database as it was.
    url = empty_db_url
    await upgrade(url, "0004")
    engine = make_engine(url)  # foreign keys on
    try:
        async with engine.begin() as conn:
            await _fill(conn)
        before = await _snapshot(engine)

        def run(sync_conn: Connection) -> None:
            cfg = alembic_config(url)
            cfg.attributes["connection"] = sync_conn
            command.upgrade(cfg, "head")

        with pytest.raises(RuntimeError, match="foreign keys off"):
            async with engine.begin() as conn:
                await conn.run_sync(run)
        assert await current_revision(engine) == "0004"
        assert await _snapshot(engine) == before
    finally:
        await engine.dispose()


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_tables_whose_ids_users_see_never_reuse_them_in_models_and_migrations(
    empty_db_url: str,
) -> None:
    # compare_metadata (test_store_migrations) does not look at AUTOINCREMENT: check it here.
    await upgrade(empty_db_url)
    engine = make_engine(empty_db_url)
    try:
        async with engine.connect() as conn:
            schema = await conn.run_sync(_sqlite_schema)
    finally:
        await engine.dispose()
    in_models = {
        t.name for t in Base.metadata.sorted_tables if t.kwargs.get("sqlite_autoincrement")
    }
    migrated = {
        t.name for t in Base.metadata.sorted_tables if "AUTOINCREMENT" in schema[f"table {t.name}"]
    }
    assert in_models == migrated == set(REBUILT)
