"""ORM tables of agent work (issue 9): lead holder and last note, notes, predefined notes.

Kept beside ``models.py`` (same ``Base``) so the reservation columns do not widen the hot
``contacts`` rows the dialer leases from. Changes need a revision after ``0003``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from dialerd.store.models import NEVER_REUSE_IDS, Base, BigId, UTCDateTime


class LeadWorkRow(Base):
    """One row per worked contact: who holds it, its last note (denormalised), closed or not."""

    __tablename__ = "lead_work"
    __table_args__ = (
        Index("ix_lead_work_campaign_closed", "campaign_id", "closed", "closed_at"),
        Index("ix_lead_work_holder", "holder"),
    )

    contact_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True
    )
    campaign_id: Mapped[int] = mapped_column(BigId, ForeignKey("campaigns.id", ondelete="CASCADE"))
    holder: Mapped[str | None] = mapped_column(String(200), nullable=True)
    held_since: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_note_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    closed: Mapped[bool] = mapped_column(Boolean, default=False)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    closed_by: Mapped[str | None] = mapped_column(String(200), nullable=True)


class LeadNoteRow(Base):
    """Append-only notes on a lead; a closing note has ``closes`` set."""

    __tablename__ = "lead_notes"
    __table_args__ = (
        Index("ix_lead_notes_contact", "contact_id", "id"),
        Index("ix_lead_notes_campaign_at", "campaign_id", "at"),
        NEVER_REUSE_IDS,
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    campaign_id: Mapped[int] = mapped_column(BigId, ForeignKey("campaigns.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(BigId, ForeignKey("contacts.id", ondelete="CASCADE"))
    agent: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    text: Mapped[str] = mapped_column(Text)
    predefined_key: Mapped[str | None] = mapped_column(String(100), nullable=True)
    result_label: Mapped[str | None] = mapped_column(String(100), nullable=True)
    result_class: Mapped[str] = mapped_column(String(16))
    closes: Mapped[bool] = mapped_column(Boolean, default=False)


class PredefinedNoteRow(Base):
    """The notes agents of a campaign pick from; each sets a result label (and class)."""

    __tablename__ = "predefined_notes"
    __table_args__ = (UniqueConstraint("campaign_id", "key"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    campaign_id: Mapped[int] = mapped_column(BigId, ForeignKey("campaigns.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(100))
    text: Mapped[str] = mapped_column(Text)
    result_label: Mapped[str] = mapped_column(String(100))
    result_class: Mapped[str] = mapped_column(String(16))
    closes: Mapped[bool] = mapped_column(Boolean, default=False)
    position: Mapped[int] = mapped_column(BigId, default=0)
