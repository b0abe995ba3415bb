"""Migrations on SQLite and PostgreSQL: refuse unmigrated, upgrade, models match revisions."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection

from dialerd.store import SchemaNotCurrent, Store, upgrade
from dialerd.store.engine import make_engine
from dialerd.store.migrate import MIGRATIONS_DIR, downgrade, head_revision
from dialerd.store.models import Base


async def test_unmigrated_database_is_refused_with_the_command_to_run(empty_db_url: str) -> None:
    with pytest.raises(SchemaNotCurrent) as info:
        await Store.open(empty_db_url)
    message = str(info.value)
    assert "run: dialerd migrate --db " in message
    assert head_revision() in message


async def test_a_missing_sqlite_file_is_refused_and_not_created(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "d.sqlite"
    with pytest.raises(SchemaNotCurrent) as info:
        await Store.open(f"sqlite+aiosqlite:///{path}")
    assert not (tmp_path / "sub").exists()
    assert "has no dialerd schema (the file does not exist)" in str(info.value)
    assert f"run: dialerd migrate --db sqlite+aiosqlite:///{path}" in str(info.value)


async def test_upgrade_then_open_and_downgrade_round_trip(empty_db_url: str) -> None:
    before, after = await upgrade(empty_db_url)
    assert (before, after) == (None, head_revision())
    assert await upgrade(empty_db_url) == (head_revision(), head_revision())
    async with await Store.open(empty_db_url) as store:
        assert await store.list_campaigns() == []
    await downgrade(empty_db_url, "base")
    with pytest.raises(SchemaNotCurrent):
        await Store.open(empty_db_url)
    await upgrade(empty_db_url)


def _diff(conn: Connection) -> list[object]:
    ctx = MigrationContext.configure(conn, opts={"compare_type": True})
    return [d for d in compare_metadata(ctx, Base.metadata) if not _expression_index(d)]


def _expression_index(diff: object) -> bool:
    # Expression indexes (coalesce(campaign_id, 0)) cannot be reflected for comparison.
    # The contact search indexes of revision 0004 cannot be models: on SQLite an FTS5 virtual
    # table (reflected as its shadow tables contacts_search_*) kept in sync by triggers, on
    # PostgreSQL GIN indexes with the pg_trgm operator class on that dialect only. The sort
    # indexes (ix_contacts_sort_*, PostgreSQL) are made by the store for the campaigns' sorts
    # (Store.ensure_sort_index; revision 0012 for those stored before), not by the models.
    text = repr(diff)
    return (
        "uq_dnc_scope_phone" in text
        or "contacts_search" in text
        or "ix_contacts_trgm_" in text
        or "ix_contacts_sort_" in text
    )


@pytest.mark.filterwarnings("ignore:.*expression-based index")
async def test_models_match_the_migrations(store_url: str) -> None:
    engine = make_engine(store_url)
    try:
        async with engine.connect() as conn:
            diff = await conn.run_sync(_diff)
    finally:
        await engine.dispose()
    assert diff == []


def test_migration_scripts_ship_inside_the_package() -> None:
    assert (MIGRATIONS_DIR / "env.py").is_file()
    assert (MIGRATIONS_DIR / "script.py.mako").is_file()
    assert list((MIGRATIONS_DIR / "versions").glob("*.py"))
    assert MIGRATIONS_DIR.is_relative_to(Path(__file__).resolve().parents[2] / "src")


async def test_sqlite_reads_do_not_wait_for_a_writer(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'w.sqlite'}"
    await upgrade(url)
    async with await Store.open(url) as a, await Store.open(url) as b, a.write():
        # a holds the write lock (BEGIN IMMEDIATE); b can still read at once
        assert await asyncio.wait_for(b.list_campaigns(), timeout=2) == []


async def test_database_of_a_newer_dialerd_is_refused_without_migrate_advice(
    empty_db_url: str,
) -> None:
    store_url = empty_db_url  # its own database: the shared session one must stay current
    await upgrade(store_url)
    engine = make_engine(store_url)
    try:
        async with engine.begin() as conn:
            await conn.exec_driver_sql("UPDATE alembic_version SET version_num = 'f00dfeed'")
    finally:
        await engine.dispose()
    with pytest.raises(SchemaNotCurrent, match="newer dialerd") as info:
        await Store.open(store_url)
    assert "dialerd migrate" not in str(info.value)


@pytest.mark.parametrize("backend", [pytest.param("postgres", marks=pytest.mark.postgres)])
async def test_revision_0012_indexes_the_sorts_of_stored_campaigns(empty_db_url: str) -> None:
    """A campaign sorted by a field, stored before 0012, gets the index of its sort; the store
    makes the one of a campaign stored later; the downgrade drops them."""
    from datetime import UTC, datetime

    from sqlalchemy import text

    from dialerd.domain.campaign_spec import CampaignSpec
    from dialerd.domain.selection import SortOrder
    from dialerd.store.query import sort_index

    await upgrade(empty_db_url, "0011")
    engine = make_engine(empty_db_url)

    async def indexes() -> set[str]:
        async with engine.connect() as conn:
            rows = await conn.execute(
                text("SELECT indexname FROM pg_indexes WHERE indexname LIKE 'ix_contacts_sort_%'")
            )
            return {str(r[0]) for r in rows}

    try:
        async with engine.begin() as conn:
            for name, sort in (("a", {"field": "last_name", "direction": "desc"}), ("b", None)):
                settings: dict[str, object] = {
                    "name": name,
                    "tasks": [{"name": "call", "type": "call"}],
                }
                if sort:
                    settings["sort"] = sort
                await conn.execute(
                    text(
                        "INSERT INTO campaigns (name, status, dial_mode, timezone, settings,"
                        " created_at, updated_at) VALUES (:n, 'active', 'preview', 'UTC',"
                        " CAST(:s AS jsonb), now(), now())"
                    ),
                    {"n": name, "s": json.dumps(settings)},
                )
        await upgrade(empty_db_url)
        by_name = sort_index(SortOrder("last_name", True))
        assert by_name is not None
        assert await indexes() == {by_name.name}
        store = await Store.open(empty_db_url)
        try:
            spec = CampaignSpec.model_validate(
                {
                    "name": "c",
                    "tasks": [{"name": "call", "type": "call"}],
                    "sort": {"field": "fields.score"},
                }
            )
            await store.create_campaign(spec, datetime(2026, 3, 2, tzinfo=UTC))
        finally:
            await store.close()
        by_score = sort_index(SortOrder("fields.score"))
        assert by_score is not None
        assert await indexes() == {by_name.name, by_score.name}
        await downgrade(empty_db_url, "0011")
        assert await indexes() == set()
    finally:
        await engine.dispose()


async def test_a_sort_index_that_cannot_be_built_leaves_the_campaign_stored(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The campaign is committed before its sort's index is built: a build that fails (a
    timeout, another daemon building the same index) is logged, not the campaign refused."""
    from datetime import UTC, datetime

    from dialerd.domain.campaign_spec import CampaignSpec
    from dialerd.domain.selection import SortOrder
    from dialerd.store import StoreUnavailable

    async def fails(self: Store, order: SortOrder) -> bool:
        raise StoreUnavailable("the build timed out")

    monkeypatch.setattr(Store, "ensure_sort_index", fails)
    spec = CampaignSpec.model_validate(
        {"name": "s", "tasks": [{"name": "call", "type": "call"}], "sort": {"field": "last_name"}}
    )
    async with await Store.open(store_url) as store:
        made = await store.create_campaign(spec, datetime(2026, 3, 2, tzinfo=UTC))
        changed = spec.model_copy(update={"description": "changed"})
        await store.update_campaign(changed, datetime(2026, 3, 2, tzinfo=UTC))
        assert (await store.get_campaign("s")).id == made.id
