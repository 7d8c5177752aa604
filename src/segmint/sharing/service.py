"""Connecting organizations, and reading the segment types they share with each other.

**Connections** are mutual. An admin of organization A invites B by B's slug; an admin of B
accepts or declines; an admin of either side ends a pending or active connection. Every step
keeps who did it and when (on the row, and in the acting organization's audit log) and tells
the other organization's admins (a notification). At most one pending-or-active connection
exists per pair of organizations, whoever invited.

**Sharing** follows from the segment types' ``shared`` flag, which only VAT-based types may
carry (:mod:`segmint.segments.service` refuses it on ID-based ones, naming the field
``shared``). While a connection is active, each side sees the other's shared types on its own
customers, matched by normalized VAT number: the owner's *effective* segment (manual if set,
else automatic), its name and the segment's description and recommended action. Nothing else of
the owner's (eligible sales, R/F/M values, ranks, reasons, who overrode) leaves this module:
:class:`SharedSegment` has no field for it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from sqlalchemy import ColumnElement, Select, and_, bindparam, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from segmint.accounts.actor import Actor
from segmint.accounts.models import Organization, User
from segmint.assignments.service import effective_segments
from segmint.audit.service import record
from segmint.errors import Conflict, NotFound, ValidationError
from segmint.metadata.base import utcnow
from segmint.runs.models import Notification
from segmint.segments.models import SegmentType
from segmint.sharing.models import Connection, pair_key

OPEN_STATUSES = ("pending", "active")
MAX_SLUG = 64


# --- what callers get -------------------------------------------------------------------------


@dataclass(frozen=True)
class ConnectionView:
    """A connection as one of its two organizations sees it. User ids are given for the
    viewer's own users only (the other organization's users are none of its business)."""

    id: int
    status: str
    #: ``outgoing``: the viewer invited; ``incoming``: the viewer was invited.
    direction: Literal["outgoing", "incoming"]
    partner_slug: str
    partner_name: str
    invited_at: datetime
    invited_by: int | None
    responded_at: datetime | None
    responded_by: int | None
    ended_at: datetime | None
    ended_by: int | None
    #: ``us`` or ``partner`` once ended, else None.
    ended_by_side: Literal["us", "partner"] | None

    @property
    def can_respond(self) -> bool:
        """Whether the viewer's admins may accept or decline it."""
        return self.status == "pending" and self.direction == "incoming"


@dataclass(frozen=True)
class SharedSegmentInfo:
    name: str
    description: str
    recommended_action: str


@dataclass(frozen=True)
class SharedType:
    """A segment type another organization shares with the viewer (its settings and figures
    stay the owner's: only what a rep needs to read a segment name)."""

    id: int
    name: str
    method: str
    owner_slug: str
    owner_name: str
    segments: list[SharedSegmentInfo] = field(default_factory=list)


@dataclass(frozen=True)
class SharedSegment:
    """The owner's effective segment of one of the viewer's customers in one shared type."""

    type_id: int
    type_name: str
    owner_slug: str
    owner_name: str
    segment: str
    description: str
    recommended_action: str


# --- connections ------------------------------------------------------------------------------


def _view(actor: Actor, row: Connection, partner: Organization) -> ConnectionView:
    outgoing = row.inviter_id == actor.organization_id
    ours_ended = row.ended_by_org_id == actor.organization_id
    return ConnectionView(
        id=row.id,
        status=row.status,
        direction="outgoing" if outgoing else "incoming",
        partner_slug=partner.slug,
        partner_name=partner.name,
        invited_at=row.invited_at,
        invited_by=row.invited_by if outgoing else None,
        responded_at=row.responded_at,
        responded_by=None if outgoing else row.responded_by,
        ended_at=row.ended_at,
        ended_by=row.ended_by if ours_ended else None,
        ended_by_side=None if row.ended_by_org_id is None else ("us" if ours_ended else "partner"),
    )


def _involves(actor: Actor) -> ColumnElement[bool]:
    return or_(
        Connection.inviter_id == actor.organization_id,
        Connection.invitee_id == actor.organization_id,
    )


def _partner_id(actor: Actor, row: Connection) -> int:
    return row.invitee_id if row.inviter_id == actor.organization_id else row.inviter_id


def list_connections(
    *, session: Session, actor: Actor, statuses: Sequence[str] | None = None
) -> list[ConnectionView]:
    """The connections of the actor's organization (every status unless ``statuses`` says
    which), newest first. Anyone in the organization may read them."""
    query = select(Connection).where(_involves(actor))
    if statuses:
        query = query.where(Connection.status.in_(list(statuses)))
    rows = list(session.scalars(query.order_by(Connection.id.desc())))
    partners = _organizations(session, {_partner_id(actor, r) for r in rows})
    return [_view(actor, r, partners[_partner_id(actor, r)]) for r in rows]


def get_connection(*, session: Session, actor: Actor, connection_id: int) -> ConnectionView:
    row = _load(session, actor, connection_id, lock=False)
    partner = session.get(Organization, _partner_id(actor, row))
    assert partner is not None
    return _view(actor, row, partner)


def _organizations(session: Session, ids: Iterable[int]) -> dict[int, Organization]:
    wanted = set(ids)
    if not wanted:
        return {}
    return {
        o.id: o for o in session.scalars(select(Organization).where(Organization.id.in_(wanted)))
    }


def _load(session: Session, actor: Actor, connection_id: int, *, lock: bool) -> Connection:
    """A connection of the actor's organization (row-locked on PostgreSQL for a change), or
    :class:`NotFound`: another pair's connection does not exist as far as the actor knows."""
    query = select(Connection).where(Connection.id == connection_id, _involves(actor))
    if lock:
        query = query.with_for_update()
    found = session.scalars(query).first()
    if found is None:
        raise NotFound(f"no connection {connection_id}")
    return found


def _slug(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError("slug: the organization's slug is needed", field="slug")
    value = value.strip().lower()
    if len(value) > MAX_SLUG or "\x00" in value:
        raise ValidationError(
            f"slug: at most {MAX_SLUG} characters of text, no NUL characters", field="slug"
        )
    return value


def _admins(session: Session, organization_id: int) -> list[int]:
    return list(
        session.scalars(
            select(User.id)
            .where(
                User.organization_id == organization_id,
                User.role == "admin",
                User.active.is_(True),
            )
            .order_by(User.id)
        )
    )


def _notify(session: Session, organization_id: int, kind: str, message: str) -> None:
    """Tell the active admins of ``organization_id`` (the side that did not act)."""
    session.add_all(
        Notification(organization_id=organization_id, user_id=user_id, kind=kind, message=message)
        for user_id in _admins(session, organization_id)
    )


def _own(session: Session, actor: Actor) -> Organization:
    found = session.get(Organization, actor.organization_id)
    if found is None:
        raise NotFound("no such organization")
    return found


def invite(*, session: Session, actor: Actor, slug: str) -> ConnectionView:
    """Invite the organization ``slug`` to connect (admins). Refused, naming the field
    ``slug``, for one's own organization, an unknown slug, and a pair that is already connected
    or has an invitation pending (in either direction: the invited side accepts instead)."""
    actor.require_admin("connecting to another organization")
    wanted = _slug(slug)
    own = _own(session, actor)
    if wanted == own.slug:
        raise ValidationError(
            "slug: that is your own organization; invite another one", field="slug"
        )
    partner = session.scalars(select(Organization).where(Organization.slug == wanted)).first()
    if partner is None:
        raise ValidationError(f"slug: no organization {wanted!r}", field="slug")
    key = pair_key(own.id, partner.id)
    existing = session.scalars(
        select(Connection).where(Connection.pair_key == key, Connection.status.in_(OPEN_STATUSES))
    ).first()
    if existing is not None:
        raise _already(existing, actor, partner)
    row = Connection(
        inviter_id=own.id,
        invitee_id=partner.id,
        pair_key=key,
        status="pending",
        invited_by=actor.user_id,
        invited_at=utcnow(),
    )
    try:
        with session.begin_nested():  # the partial unique index settles a race between two
            session.add(row)
            session.flush()
    except IntegrityError:
        raise Conflict(
            f"slug: {partner.name} and you have just been connected or invited by someone else; "
            "reload the connections",
            field="slug",
        ) from None
    _notify(
        session,
        partner.id,
        "connection_invited",
        f"{own.name} invites you to connect and share VAT-based segment types "
        "(Settings > Connections).",
    )
    record(
        session=session,
        actor=actor,
        action="connection.invite",
        entity="connection",
        entity_id=row.id,
        partner=partner.slug,
    )
    return _view(actor, row, partner)


def _already(existing: Connection, actor: Actor, partner: Organization) -> Conflict:
    if existing.status == "active":
        message = f"slug: you are already connected to {partner.name}"
    elif existing.inviter_id == actor.organization_id:
        message = f"slug: {partner.name} is already invited; the invitation is waiting for them"
    else:
        message = (
            f"slug: {partner.name} has already invited you; accept their invitation "
            f"(connection {existing.id}) instead"
        )
    return Conflict(message, field="slug")


def _respond(
    session: Session, actor: Actor, connection_id: int, status: str, verb: str
) -> ConnectionView:
    actor.require_admin(f"{verb} an invitation to connect")
    row = _load(session, actor, connection_id, lock=True)
    partner = session.get(Organization, _partner_id(actor, row))
    own = _own(session, actor)
    assert partner is not None
    if row.status != "pending":
        raise Conflict(f"connection {row.id} is {row.status}, not a pending invitation")
    if row.inviter_id == actor.organization_id:
        raise Conflict(
            f"connection {row.id}: you sent this invitation; {partner.name} accepts or "
            "declines it (end it to withdraw it)"
        )
    row.status = status
    row.responded_by = actor.user_id
    row.responded_at = utcnow()
    session.flush()
    accepted = status == "active"
    _notify(
        session,
        partner.id,
        "connection_accepted" if accepted else "connection_declined",
        f"{own.name} accepted your invitation to connect: you now see each other's shared "
        "VAT-based segment types."
        if accepted
        else f"{own.name} declined your invitation to connect.",
    )
    record(
        session=session,
        actor=actor,
        action="connection.accept" if accepted else "connection.decline",
        entity="connection",
        entity_id=row.id,
        partner=partner.slug,
    )
    return _view(actor, row, partner)


def accept(*, session: Session, actor: Actor, connection_id: int) -> ConnectionView:
    """Accept a pending invitation sent to the actor's organization (admins)."""
    return _respond(session, actor, connection_id, "active", "accepting")


def decline(*, session: Session, actor: Actor, connection_id: int) -> ConnectionView:
    """Decline a pending invitation sent to the actor's organization (admins)."""
    return _respond(session, actor, connection_id, "declined", "declining")


def end(*, session: Session, actor: Actor, connection_id: int) -> ConnectionView:
    """End an active connection, or withdraw a pending invitation (admins of either side).
    Sharing stops at once in both directions; the row stays, with who ended it and when."""
    actor.require_admin("ending a connection")
    row = _load(session, actor, connection_id, lock=True)
    partner = session.get(Organization, _partner_id(actor, row))
    own = _own(session, actor)
    assert partner is not None
    if row.status not in OPEN_STATUSES:
        raise Conflict(f"connection {row.id} is already {row.status}")
    was = row.status
    row.status = "ended"
    row.ended_by = actor.user_id
    row.ended_by_org_id = actor.organization_id
    row.ended_at = utcnow()
    session.flush()
    _notify(
        session,
        partner.id,
        "connection_ended",
        f"{own.name} ended the connection with you: shared segment types are no longer "
        "visible on either side."
        if was == "active"
        else f"{own.name} withdrew its invitation to connect.",
    )
    record(
        session=session,
        actor=actor,
        action="connection.end",
        entity="connection",
        entity_id=row.id,
        partner=partner.slug,
        was=was,
    )
    return _view(actor, row, partner)


def find_connection(*, session: Session, actor: Actor, slug_or_id: str) -> ConnectionView:
    """The open (pending or active) connection with the organization ``slug_or_id``, or the
    connection with that id, for the CLI."""
    text = str(slug_or_id).strip()
    if text.isdigit():
        return get_connection(session=session, actor=actor, connection_id=int(text))
    for view in list_connections(session=session, actor=actor, statuses=OPEN_STATUSES):
        if view.partner_slug == text.lower():
            return view
    raise NotFound(f"no pending or active connection with {text!r}")


# --- shared types and segments ----------------------------------------------------------------


def _shared_types_statement() -> Select:
    me = bindparam("me")
    connected = and_(
        Connection.status == "active",
        or_(
            and_(Connection.inviter_id == me, Connection.invitee_id == SegmentType.organization_id),
            and_(Connection.invitee_id == me, Connection.inviter_id == SegmentType.organization_id),
        ),
    )
    return (
        select(SegmentType, Organization)
        .join(Connection, connected)
        .join(Organization, Organization.id == SegmentType.organization_id)
        .where(SegmentType.shared.is_(True), SegmentType.identity == "vat")
        .options(selectinload(SegmentType.segments))
        .order_by(Organization.name, SegmentType.name, SegmentType.id)
    )


# Built once: the customer list asks on every request.
_SHARED_TYPES = _shared_types_statement()


def _shared_types(session: Session, actor: Actor) -> list[tuple[SegmentType, Organization]]:
    """The shared VAT-based types of the organizations actively connected to the actor's."""
    rows = session.execute(_SHARED_TYPES, {"me": actor.organization_id})
    return [(t, o) for t, o in rows]


def shared_types(*, session: Session, actor: Actor) -> list[SharedType]:
    """The segment types connected organizations share with the actor's (anyone may read)."""
    return [
        SharedType(
            id=t.id,
            name=t.name,
            method=t.method,
            owner_slug=o.slug,
            owner_name=o.name,
            segments=[
                SharedSegmentInfo(s.name, s.description, s.recommended_action) for s in t.segments
            ],
        )
        for t, o in _shared_types(session, actor)
    ]


def shared_segments(
    *, session: Session, actor: Actor, vat_keys: Iterable[str | None]
) -> dict[str, list[SharedSegment]]:
    """For the actor's customers with these normalized VAT numbers (``vat_key``; None is
    skipped), the owner's effective segment in every type shared with the actor's
    organization: ``vat_key -> [SharedSegment]`` in owner and type order. A customer the owner
    does not know, or has no segment for, is simply absent.

    The caller has already decided which customers the actor may see (a rep limited to its own
    customers passes only those): this reads nothing of the actor's own data."""
    keys = sorted({k for k in vat_keys if k})
    found: dict[str, list[SharedSegment]] = {}
    if not keys:
        return found
    for segment_type, owner in _shared_types(session, actor):
        # The owner's effective segments, read as the owner's organization would read them:
        # through the assignments service, never its tables.
        reader = Actor.system(owner.id, owner.slug)
        by_name = {s.name: s for s in segment_type.segments}
        for row in effective_segments(
            session=session, actor=reader, type_id=segment_type.id, customer_keys=keys
        ):
            if row.effective is None:
                continue
            info = by_name.get(row.effective)
            found.setdefault(row.customer_key, []).append(
                SharedSegment(
                    type_id=segment_type.id,
                    type_name=segment_type.name,
                    owner_slug=owner.slug,
                    owner_name=owner.name,
                    segment=row.effective,
                    description=info.description if info else "",
                    recommended_action=info.recommended_action if info else "",
                )
            )
    return found


def shares(*, session: Session, actor: Actor) -> list[SegmentType]:
    """The actor's own types that connected organizations see (shared and VAT-based)."""
    return list(
        session.scalars(
            select(SegmentType)
            .where(
                SegmentType.organization_id == actor.organization_id,
                SegmentType.shared.is_(True),
                SegmentType.identity == "vat",
            )
            .order_by(SegmentType.name, SegmentType.id)
        )
    )


__all__ = [
    "ConnectionView",
    "SharedSegment",
    "SharedType",
    "accept",
    "decline",
    "end",
    "find_connection",
    "get_connection",
    "invite",
    "list_connections",
    "shared_segments",
    "shared_types",
    "shares",
]
