"""Alembic migrations, run from inside the package (no alembic.ini needed at run time).

``dialerd migrate`` and the tests call :func:`upgrade`; :func:`check_current` is what makes
``Store.open`` refuse a database that is not at this version's head. The migration scripts live
in ``dialerd/store/migrations`` and ship as package data, so an installed dialerd finds them.

On SQLite migrations run with foreign keys off, as SQLite's own procedure for changing a table
asks: with them on, the ``DROP TABLE`` of a rebuilt parent table (revision 0005 rebuilds
``contacts``) deletes its rows first and cascades to their history and attempts. ``PRAGMA
foreign_keys`` is ignored inside a transaction and all revisions run in one, so it is set when the
connection opens. A revision that rebuilds tables checks the result with ``PRAGMA
foreign_key_check`` itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.engine import URL, Connection
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from dialerd.store.engine import display_url, make_engine, normalise_url, unavailable
from dialerd.store.errors import SchemaNotCurrent

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str | URL | None = None) -> Config:
    # alembic is imported lazily: it costs a noticeable part of every command's start-up.
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        u = normalise_url(url)
        cfg.set_main_option(
            "sqlalchemy.url", u.render_as_string(hide_password=False).replace("%", "%%")
        )
    return cfg


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the package always ships revisions
        raise RuntimeError(f"no migrations found in {MIGRATIONS_DIR}")
    return head


def _current(sync_conn: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(sync_conn).get_current_revision()


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as conn:
        return await conn.run_sync(_current)


async def check_current(engine: AsyncEngine) -> None:
    """Raise :class:`SchemaNotCurrent` unless the database is at the head revision."""
    try:
        current = await current_revision(engine)
    except (OperationalError, DBAPIError, OSError) as exc:
        raise unavailable(exc, engine.url) from exc
    head = head_revision()
    if current != head:
        raise SchemaNotCurrent(display_url(engine.url), current, head, newer=not _known(current))


def _known(revision: str | None) -> bool:
    if revision is None:
        return True
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    try:
        return ScriptDirectory.from_config(alembic_config()).get_revision(revision) is not None
    except CommandError:
        return False


async def upgrade(url: str | URL, revision: str = "head") -> tuple[str | None, str | None]:
    """Upgrade the database at ``url``; returns (revision before, revision after).

    Raises ``StoreUnavailable`` when the database cannot be reached.
    """
    try:
        return await _upgrade(url, revision)
    except (OperationalError, DBAPIError, OSError) as exc:
        raise unavailable(exc, url) from exc


async def _upgrade(url: str | URL, revision: str) -> tuple[str | None, str | None]:
    from alembic import command

    engine = make_engine(url, foreign_keys=False)
    try:
        cfg = alembic_config(url)

        def run(sync_conn: Connection) -> tuple[str | None, str | None]:
            before = _current(sync_conn)
            cfg.attributes["connection"] = sync_conn
            command.upgrade(cfg, revision)
            return before, _current(sync_conn)

        async with engine.begin() as conn:
            return await conn.run_sync(run)
    finally:
        await engine.dispose()


async def downgrade(url: str | URL, revision: str) -> None:
    from alembic import command

    engine = make_engine(url, foreign_keys=False)
    try:
        cfg = alembic_config(url)

        def run(sync_conn: Connection) -> None:
            cfg.attributes["connection"] = sync_conn
            command.downgrade(cfg, revision)

        async with engine.begin() as conn:
            await conn.run_sync(run)
    finally:
        await engine.dispose()
