"""Reading and dismissing one's own in-app notifications (written by :mod:`segmint.runs.events`).

A notification belongs to one user, so every query filters on the actor's ``user_id`` as well
as the organization; Segmint's own system actor has no user and so has no notifications.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.orm import Session

from segmint.accounts.actor import Actor
from segmint.errors import NotFound
from segmint.metadata.base import utcnow
from segmint.runs.models import Notification

MAX_LIMIT = 500


def _own(actor: Actor) -> ColumnElement[bool]:
    return (Notification.user_id == actor.user_id) & (
        Notification.organization_id == actor.organization_id
    )


def list_notifications(
    *, session: Session, actor: Actor, unread_only: bool = False, limit: int = 50
) -> list[Notification]:
    """The actor's notifications, newest first."""
    if actor.user_id is None:
        return []
    query = select(Notification).where(_own(actor))
    if unread_only:
        query = query.where(Notification.read_at.is_(None))
    limit = max(1, min(int(limit), MAX_LIMIT))
    order = (Notification.created_at.desc(), Notification.id.desc())
    return list(session.scalars(query.order_by(*order).limit(limit)))


def unread_count(*, session: Session, actor: Actor) -> int:
    """The number on the bell."""
    if actor.user_id is None:
        return 0
    query = select(func.count()).where(_own(actor), Notification.read_at.is_(None))
    return session.scalar(query) or 0


def mark_read(*, session: Session, actor: Actor, notification_id: int) -> Notification:
    """Mark one of the actor's notifications read (again is fine: the first time is kept)."""
    notification = None
    if actor.user_id is not None:
        notification = session.scalars(
            select(Notification).where(Notification.id == notification_id, _own(actor))
        ).first()
    if notification is None:
        # Someone else's notification is "not found" too: its existence is not the actor's news.
        raise NotFound(f"no notification {notification_id}")
    if notification.read_at is None:
        notification.read_at = utcnow()
        session.flush()
    return notification


def mark_all_read(*, session: Session, actor: Actor) -> int:
    """Mark every unread notification of the actor read; returns how many there were."""
    if actor.user_id is None:
        return 0
    result = session.execute(
        update(Notification)
        .where(_own(actor), Notification.read_at.is_(None))
        .values(read_at=utcnow())
    )
    return result.rowcount
