"""The table of connections between organizations."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from segmint.metadata.base import Base, UtcDateTime, utcnow

STATUSES = ("pending", "active", "declined", "ended")
#: A pending invitation or an active connection: at most one per pair of organizations.
OPEN = "status IN ('pending', 'active')"


def pair_key(first: int, second: int) -> str:
    """The pair of organizations whoever invited whom: ``pair_key(7, 3) == pair_key(3, 7)``.

    >>> pair_key(7, 3)
    '3:7'
    """
    low, high = sorted((first, second))
    return f"{low}:{high}"


class Connection(Base):
    """One invitation from ``inviter_id`` to ``invitee_id`` and what became of it.

    ``pending`` (invited) becomes ``active`` (accepted) or ``declined``; a pending or active
    connection becomes ``ended`` when an admin of either side ends it. A row is never deleted:
    declined and ended rows keep who did what and when; connecting again is a new invitation.
    A partial unique index on ``pair_key`` holds at most one pending-or-active connection per
    pair of organizations, whichever of them invited.
    """

    __tablename__ = "org_connections"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'active', 'declined', 'ended')", name="status"),
        CheckConstraint("inviter_id <> invitee_id", name="two_organizations"),
        Index(
            "uq_org_connections_one_open_per_pair",
            "pair_key",
            unique=True,
            sqlite_where=text(OPEN),
            postgresql_where=text(OPEN),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    inviter_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    invitee_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    pair_key: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    #: Users are deactivated, never deleted; None is Segmint itself (the CLI, the demo).
    invited_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    invited_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    responded_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    responded_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    ended_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    ended_by_org_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"))
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
