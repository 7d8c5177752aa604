"""Tables of automatic assignments (the per-run snapshot), manual overrides and history."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from segmint.metadata.base import Amount, Base, UtcDateTime, utcnow


class Assignment(Base):
    """One customer's automatic result in one run: the snapshot row.

    Pareto fills ``eligible_sales``, ``rank`` and ``share_before`` (the % of the pool's sales
    ahead of the customer, which with the thresholds explains its tier); RFM fills the R/F/M
    figures and scores, with ``eligible_sales`` holding M. ``segment_id`` is None for customers
    outside the pool of a type without a default segment. No foreign keys: a run writes up to
    millions of these and they must outlive a segment being renamed or removed. On SQLite a
    WITHOUT ROWID table: the rows live in the primary-key B-tree, one B-tree to write per row
    instead of two, and comparing two runs finds ``segment_id`` in the key lookup.
    """

    __tablename__ = "assignments"
    __table_args__ = ({"sqlite_with_rowid": False},)

    run_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    customer_key: Mapped[str] = mapped_column(String(200), primary_key=True)
    segment_id: Mapped[int | None] = mapped_column(Integer)
    eligible_sales: Mapped[Decimal | None] = mapped_column(Amount)
    rank: Mapped[int | None] = mapped_column(BigInteger)
    share_before: Mapped[Decimal | None] = mapped_column(Amount)
    recency_days: Mapped[int | None] = mapped_column(Integer)
    frequency: Mapped[int | None] = mapped_column(Integer)
    r_score: Mapped[int | None] = mapped_column(SmallInteger)
    f_score: Mapped[int | None] = mapped_column(SmallInteger)
    m_score: Mapped[int | None] = mapped_column(SmallInteger)


class ManualOverride(Base):
    """A segment a person chose for a customer; it wins over every run until cleared."""

    __tablename__ = "manual_overrides"
    __table_args__ = (UniqueConstraint("type_id", "customer_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    type_id: Mapped[int] = mapped_column(ForeignKey("segment_types.id", ondelete="CASCADE"))
    customer_key: Mapped[str] = mapped_column(String(200))
    # NO ACTION (not RESTRICT): checked at the end of the statement, so deleting a type
    # cascades to its overrides and segments in one go.
    segment_id: Mapped[int] = mapped_column(ForeignKey("segments.id"))
    reason: Mapped[str | None] = mapped_column(Text)
    set_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    set_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class SegmentHistory(Base):
    """A change of a customer's automatic or effective segment, with segment names as they
    were at the time (so the timeline reads the same after a rename or removal).

    No foreign keys (migration 0003): a type's first run writes a row for every customer in a
    segment, and checking three keys per row cost PostgreSQL more than writing the rows.
    :func:`segmint.segments.service.delete_type` deletes a type's history itself; users and
    organizations are deactivated, never deleted. Read by type and customer only, through
    ``ix_segment_history_type_customer``.
    """

    __tablename__ = "segment_history"
    __table_args__ = (Index("ix_segment_history_type_customer", "type_id", "customer_key", "id"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    organization_id: Mapped[int] = mapped_column(Integer)
    type_id: Mapped[int] = mapped_column(Integer)
    customer_key: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    source: Mapped[str] = mapped_column(String(16))  # run | manual | clear_all
    run_id: Mapped[int | None] = mapped_column(BigInteger)
    user_id: Mapped[int | None] = mapped_column(Integer)
    auto_from: Mapped[str | None] = mapped_column(String(120))
    auto_to: Mapped[str | None] = mapped_column(String(120))
    effective_from: Mapped[str | None] = mapped_column(String(120))
    effective_to: Mapped[str | None] = mapped_column(String(120))
    reason: Mapped[str | None] = mapped_column(Text)
