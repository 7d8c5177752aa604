"""Tables of segment types and segments."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from segmint.metadata.base import Amount, Base, UtcDateTime, utcnow

METHODS = ("pareto", "rfm")
IDENTITIES = ("id", "vat")
INTERVALS = ("rolling", "fixed_year")


class SegmentType(Base):
    """One way an organization segments its customers ("Sales Performance", "Visit Priority").

    ``current_run_id`` points at the run whose automatic assignments are in force; swapping it
    is what makes a new result visible, in one transaction. RFM cut points are four values per
    metric as decimal strings, ``None`` until the first run suggests them.
    """

    __tablename__ = "segment_types"
    __table_args__ = (
        UniqueConstraint("organization_id", "name"),
        CheckConstraint("method IN ('pareto', 'rfm')", name="method"),
        CheckConstraint("identity IN ('id', 'vat')", name="identity"),
        CheckConstraint("interval IN ('rolling', 'fixed_year')", name="interval"),
        CheckConstraint("timespan_months >= 1", name="timespan"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    method: Mapped[str] = mapped_column(String(16))
    identity: Mapped[str] = mapped_column(String(8), default="id")
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    shared: Mapped[bool] = mapped_column(Boolean, default=False)
    branches: Mapped[list[str]] = mapped_column(JSON, default=list)
    brands: Mapped[list[str]] = mapped_column(JSON, default=list)
    min_sales: Mapped[Decimal] = mapped_column(Amount, default=Decimal(0))
    timespan_months: Mapped[int] = mapped_column(Integer, default=12)
    interval: Mapped[str] = mapped_column(String(16), default="rolling")
    notify: Mapped[bool] = mapped_column(Boolean, default=True)
    r_cuts: Mapped[list[str] | None] = mapped_column(JSON)
    f_cuts: Mapped[list[str] | None] = mapped_column(JSON)
    m_cuts: Mapped[list[str] | None] = mapped_column(JSON)
    schedule: Mapped[str | None] = mapped_column(String(120))
    next_run_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    run_after_import: Mapped[bool] = mapped_column(Boolean, default=False)
    # No foreign key: runs reference types, and a cycle would need ALTER on SQLite.
    current_run_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)

    segments: Mapped[list[Segment]] = relationship(
        back_populates="type",
        order_by="Segment.position",
        cascade="all, delete-orphan",
        passive_deletes=True,
    )


class Segment(Base):
    """A segment of a type. ``threshold`` is its % of sales (Pareto); ``cells`` are its (R, FM)
    cells of the RFM map, e.g. ``["55", "54", "45"]``."""

    __tablename__ = "segments"
    __table_args__ = (
        UniqueConstraint("type_id", "name"),
        CheckConstraint("visit_every_days IS NULL OR visit_every_days >= 1", name="visit"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    type_id: Mapped[int] = mapped_column(
        ForeignKey("segment_types.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(120))
    position: Mapped[int] = mapped_column(Integer, default=0)
    threshold: Mapped[Decimal] = mapped_column(Amount, default=Decimal(0))
    visit_every_days: Mapped[int | None] = mapped_column(Integer)
    priority: Mapped[int | None] = mapped_column(Integer)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    excluded: Mapped[bool] = mapped_column(Boolean, default=False)
    description: Mapped[str] = mapped_column(Text, default="")
    recommended_action: Mapped[str] = mapped_column(Text, default="")
    cells: Mapped[list[str]] = mapped_column(JSON, default=list)

    type: Mapped[SegmentType] = relationship(back_populates="segments")
