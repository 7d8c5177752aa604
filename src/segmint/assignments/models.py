"""Tables of run results and their changes (one compressed blob per run), manual overrides and
the history of what people changed."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from segmint.metadata.base import Base, UtcDateTime, utcnow


class RunResult(Base):
    """A run's result, every customer's automatic segment and the figures behind it, as one
    compressed Arrow IPC stream (see :mod:`segmint.assignments.results`), split into parts of
    at most :data:`~segmint.assignments.results.PART_BYTES` (PostgreSQL's ``bytea`` and
    SQLite's blobs stop at 1 GB; a part is never near that).

    One row per run instead of one per customer: a run writes its result in the swap's
    transaction in a few tens of milliseconds, where a million rows took 1-1.5 s (decision
    0002). Kept for the newest ``SEGMINT_RUNS_KEPT`` succeeded runs of a type and always for its
    current run; results never change once written, so readers cache them by run id. No
    foreign keys, like the history: :func:`segmint.segments.service.delete_type` deletes a
    type's results itself. ``organization_id`` makes a row's owner plain to see.
    """

    __tablename__ = "run_results"

    run_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    part: Mapped[int] = mapped_column(Integer, primary_key=True)
    organization_id: Mapped[int] = mapped_column(Integer)
    type_id: Mapped[int] = mapped_column(Integer, index=True)
    rows: Mapped[int] = mapped_column(BigInteger)
    token: Mapped[str] = mapped_column(String(32))  # new with every write; see results.py
    data: Mapped[bytes] = mapped_column(LargeBinary)


class RunChanges(Base):
    """The automatic changes a run made: every customer whose automatic segment differs from
    the previous current run's (on a type's first run, every customer in a segment), with the
    segment names before and after, automatic and effective (overrides as they were at the
    swap), as one compressed Arrow IPC stream in parts like :class:`RunResult`.

    This is the part of a customer's history that a run writes; what people do (overrides set
    and cleared) stays in ``segment_history``, one row each. ``after_history_id`` is the
    highest ``segment_history`` id of the type when the run swapped in (0: none), which places
    the run's changes between the manual rows in a timeline; ``at`` is the swap's time. Kept
    as long as the type exists (pruning old results leaves them).
    """

    __tablename__ = "run_changes"

    run_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    part: Mapped[int] = mapped_column(Integer, primary_key=True)
    organization_id: Mapped[int] = mapped_column(Integer)
    type_id: Mapped[int] = mapped_column(Integer, index=True)
    rows: Mapped[int] = mapped_column(BigInteger)
    after_history_id: Mapped[int] = mapped_column(BigInteger)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    token: Mapped[str] = mapped_column(String(32))
    data: Mapped[bytes] = mapped_column(LargeBinary)


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
    """A change of a customer's segment made by a person (an override set or cleared, one by
    one or all at once), with segment names as they were at the time (so the timeline reads
    the same after a rename or removal).

    The changes runs make are kept per run in :class:`RunChanges` (migration 0004 moved the
    ``source = 'run'`` rows there); :func:`segmint.assignments.history.timeline` returns both as
    instances of this class, the runs' ones not stored (their ``id`` is minus the run id).

    No foreign keys (migration 0003). :func:`segmint.segments.service.delete_type` deletes a
    type's history itself; users and organizations are deactivated, never deleted. Read by type
    and customer only, through ``ix_segment_history_type_customer``.
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
