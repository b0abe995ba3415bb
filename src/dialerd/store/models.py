"""ORM tables of dialerd (SQLAlchemy 2 declarative, typed columns).

The same models serve SQLite and PostgreSQL. Enums are stored as their string values (plain
``String`` columns, not database enums) so adding a value never needs a schema migration on
PostgreSQL. Times are stored in UTC via :class:`UTCDateTime`, which hands back aware datetimes on
both back ends (SQLite has no time zone type). Rows never leave ``dialerd.store``: the
:class:`~dialerd.store.store.Store` converts them to ``dialerd.domain`` dataclasses.

Any change here needs a new Alembic revision in ``dialerd/store/migrations/versions``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

# SQLite only aliases ROWID (fast, auto-increment) for a column declared exactly INTEGER PRIMARY
# KEY; PostgreSQL gets 64-bit keys for campaigns of many millions of contacts and history rows.
BigId = BigInteger().with_variant(Integer(), "sqlite")

# Ids that leave the store (API, webhooks, exports, MQTT, history) must never name a second row.
# SQLite's INTEGER PRIMARY KEY hands out max(id) + 1, so deleting the newest contact gave its id
# to the next one; AUTOINCREMENT (the ``sqlite_sequence`` high-water mark) never reuses an id,
# as PostgreSQL's sequences never do. It needs the column to be exactly INTEGER PRIMARY KEY (see
# BigId) and costs one sqlite_sequence update per insert, so only tables whose ids are shown to
# users or other systems carry it (revision 0005 rebuilds existing SQLite tables with it).
NEVER_REUSE_IDS: dict[str, Any] = {"sqlite_autoincrement": True}

# JSONB on PostgreSQL so custom fields can be indexed and merged (``||``) in SQL.
JsonDoc = JSON().with_variant(JSONB(), "postgresql")

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on every back end.

    Naive datetimes are refused: a naive time in a dialer is a call at the wrong hour waiting to
    happen. On SQLite the value is stored naive (in UTC) so string comparison orders correctly.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: dialerd stores aware UTC times only")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class CampaignRow(Base):
    """One campaign. ``settings`` holds the whole validated campaign definition (JSON)."""

    __tablename__ = "campaigns"
    __table_args__ = (NEVER_REUSE_IDS,)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    status: Mapped[str] = mapped_column(String(16), default="disabled")
    dial_mode: Mapped[str] = mapped_column(String(16), default="progressive")
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    settings: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict)
    start_task_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    file_applied: Mapped[dict[str, Any] | None] = mapped_column(JsonDoc, nullable=True)
    """What the campaign file last applied (``dialerd.domain.campaign_file.FileRecord``); None
    for a campaign no file manages."""


class TaskRow(Base):
    """One step of a campaign. ``settings`` holds type-specific settings and the retry policy."""

    __tablename__ = "tasks"
    __table_args__ = (UniqueConstraint("campaign_id", "name"), NEVER_REUSE_IDS)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    campaign_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("campaigns.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(16))
    position: Mapped[int] = mapped_column(Integer, default=0)
    settings: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict)


class TaskflowRuleRow(Base):
    """(from task, status, optional status_detail) -> (to task, delay)."""

    __tablename__ = "taskflow_rules"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    campaign_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("campaigns.id", ondelete="CASCADE"), index=True
    )
    from_task_id: Mapped[int] = mapped_column(BigId, ForeignKey("tasks.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16))
    status_detail: Mapped[str | None] = mapped_column(String(100), nullable=True)
    to_task_id: Mapped[int] = mapped_column(BigId, ForeignKey("tasks.id", ondelete="CASCADE"))
    delay_seconds: Mapped[float] = mapped_column(Float, default=0.0)


class ImportRow(Base):
    """History of contact imports: who imported which file, how, and with what result."""

    __tablename__ = "imports"
    __table_args__ = (NEVER_REUSE_IDS,)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    campaign_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("campaigns.id", ondelete="CASCADE"), index=True
    )
    actor: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    file_name: Mapped[str] = mapped_column(String(1000))
    mode: Mapped[str] = mapped_column(String(16))
    list_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    rows: Mapped[int] = mapped_column(Integer, default=0)
    imported: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    duplicates: Mapped[int] = mapped_column(Integer, default=0)
    replaced: Mapped[int] = mapped_column(Integer, default=0)
    report: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict)


class ContactRow(Base):
    """One contact of one campaign, in exactly one task.

    Scheduling columns: ``due_at`` is "not before" (retry due time, personal callback time, the
    abandonment hold-off); ``pending_task_id``/``pending_due_at`` mark a contact *waiting* on a
    delayed taskflow rule; ``lease_holder``/``lease_expires_at`` mark a claim by a runner (an
    expired lease is simply ignored, which returns the contact to the pool).
    """

    __tablename__ = "contacts"
    __table_args__ = (
        Index("ix_contacts_campaign_phone", "campaign_id", "phone"),
        # Overview (group by task x status x detail x pending, min due) is an index-only scan.
        Index(
            "ix_contacts_overview",
            "campaign_id",
            "task_id",
            "status",
            "status_detail",
            "pending_task_id",
            "pending_due_at",
        ),
        # Leasing: retries of a task by due time; never-tried contacts in id order.
        Index("ix_contacts_lease", "task_id", "status", "due_at"),
        Index("ix_contacts_fresh_id", "task_id", "status", "attempts", "id"),
        Index("ix_contacts_pending_due", "pending_due_at"),
        # The work queue's last group and contact pages: a campaign's contacts by id.
        Index("ix_contacts_campaign_id", "campaign_id", "id"),
        Index("ix_contacts_campaign_list", "campaign_id", "list_name"),
        Index("ix_contacts_campaign_external", "campaign_id", "external_id"),
        # Calling-hours guard: the distinct time zones of a campaign's contacts.
        Index("ix_contacts_campaign_tz", "campaign_id", "timezone"),
        # Leasing: is another record of the number (any campaign) leased for a call? Partial:
        # only leased contacts (a few per agent), so it stays small and cheap to keep.
        Index(
            "ix_contacts_leased_phone",
            "phone",
            postgresql_where=text("lease_holder IS NOT NULL"),
            sqlite_where=text("lease_holder IS NOT NULL"),
        ),
        NEVER_REUSE_IDS,
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    campaign_id: Mapped[int] = mapped_column(BigId, ForeignKey("campaigns.id", ondelete="CASCADE"))
    task_id: Mapped[int] = mapped_column(BigId, ForeignKey("tasks.id"))
    status: Mapped[str] = mapped_column(String(16), default="open")
    status_detail: Mapped[str] = mapped_column(String(100), default="$none")
    phone: Mapped[str | None] = mapped_column(String(32), nullable=True)
    first_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    last_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    company: Mapped[str | None] = mapped_column(String(300), nullable=True)
    email: Mapped[str | None] = mapped_column(String(300), nullable=True)
    timezone: Mapped[str | None] = mapped_column(String(64), nullable=True)
    external_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    list_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    fields: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict)
    import_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("imports.id", ondelete="SET NULL"), nullable=True
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    follow_up_agent: Mapped[str | None] = mapped_column(String(200), nullable=True)
    pending_task_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("tasks.id"), nullable=True
    )
    pending_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    lease_holder: Mapped[str | None] = mapped_column(String(200), nullable=True)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class HistoryRow(Base):
    """Append-only status history of a contact: who/what changed it, from what, to what, when."""

    __tablename__ = "status_history"
    __table_args__ = (Index("ix_status_history_contact", "contact_id", "id"), NEVER_REUSE_IDS)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    campaign_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("campaigns.id", ondelete="CASCADE"), index=True
    )
    contact_id: Mapped[int] = mapped_column(BigId, ForeignKey("contacts.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(200))
    from_task_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    to_task_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    from_status: Mapped[str | None] = mapped_column(String(16), nullable=True)
    to_status: Mapped[str | None] = mapped_column(String(16), nullable=True)
    from_detail: Mapped[str | None] = mapped_column(String(100), nullable=True)
    to_detail: Mapped[str | None] = mapped_column(String(100), nullable=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)


class AttemptRow(Base):
    """One dialing of one contact: its timeline and outcome (append-only once finished)."""

    __tablename__ = "attempts"
    __table_args__ = (
        Index("ix_attempts_contact", "contact_id"),
        Index("ix_attempts_campaign_hungup", "campaign_id", "hungup_at"),
        # Calls to one number in the last 24 hours, and calls to it in flight (leasing).
        Index("ix_attempts_phone", "phone", "originated_at"),
        # Reports: the attempts placed within a range of days.
        Index("ix_attempts_originated", "originated_at", "campaign_id"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    campaign_id: Mapped[int] = mapped_column(BigId, ForeignKey("campaigns.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(BigId, ForeignKey("contacts.id", ondelete="CASCADE"))
    task_id: Mapped[int] = mapped_column(BigId)
    phone: Mapped[str] = mapped_column(String(32))
    server: Mapped[str | None] = mapped_column(String(100), nullable=True)
    agent: Mapped[str | None] = mapped_column(String(200), nullable=True)
    originated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    ringing_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    connected_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    hungup_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    result: Mapped[str | None] = mapped_column(String(32), nullable=True)
    cause: Mapped[str | None] = mapped_column(String(200), nullable=True)
    disposition: Mapped[str | None] = mapped_column(String(100), nullable=True)
    ring_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    talk_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)


class JournalAppliedRow(Base):
    """An outcome of the daemon's journal written into the store by a replay at a start
    (``dialerd.engine.journal``): the marker is written in the same transaction as the outcome,
    so a replay cut at any point (a crash before the journal file is removed) never applies a
    line twice, also when nothing else would show it was applied (its contact deleted since:
    its attempts went with it). Keyed by the attempt id (one outcome line per attempt); the
    rows of a journal are deleted once its file is gone."""

    __tablename__ = "journal_applied"
    __table_args__ = (Index("ix_journal_applied_journal", "journal"),)

    attempt_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    journal: Mapped[str] = mapped_column(String(200))
    """The journal file's name (``unwritten-<db>-<hash>.jsonl``: one per store and holder)."""
    applied_at: Mapped[datetime] = mapped_column(UTCDateTime())


class AbandonmentBucketRow(Base):
    """Live answers and abandoned calls per campaign per time bucket.

    Written in the same transaction as the finished attempt, so the abandonment rate survives a
    restart; a window ("current hour", "current day", "rolling 30 days") is a sum over at most a
    few thousand rows found by primary key.
    """

    __tablename__ = "abandonment_buckets"

    campaign_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True
    )
    bucket_start: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)
    live_answers: Mapped[int] = mapped_column(Integer, default=0)
    abandoned: Mapped[int] = mapped_column(Integer, default=0)


class DncRow(Base):
    """Do-not-call numbers: global (``campaign_id`` NULL) or for one campaign."""

    __tablename__ = "dnc"
    __table_args__ = (
        # NULLs are distinct in unique constraints, so uniqueness of global entries uses 0.
        Index(
            "uq_dnc_scope_phone",
            func.coalesce(text("campaign_id"), 0),
            "phone",
            unique=True,
        ),
        Index("ix_dnc_phone", "phone"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    campaign_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("campaigns.id", ondelete="CASCADE"), nullable=True
    )
    phone: Mapped[str] = mapped_column(String(32))
    added_at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(200))
    note: Mapped[str | None] = mapped_column(Text, nullable=True)


class AgentRow(Base):
    """An agent known to dialerd (from the configuration or the API) and its last state."""

    __tablename__ = "agents"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    interface: Mapped[str] = mapped_column(String(200))
    campaigns: Mapped[list[str]] = mapped_column(JSON, default=list)
    skills: Mapped[list[str]] = mapped_column(JSON, default=list)
    state: Mapped[str] = mapped_column(String(16), default="offline")
    state_since: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
