"""Manual overrides and the effective segment of every customer.

The effective segment is the manual one when a person set one, else the automatic one of the
type's current run. Overrides live in their own table that runs never write, so a run can never
change or lose one; every change of a customer's effective segment is written to the history in
the same transaction as the change itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, and_, func, literal, null, select, union_all
from sqlalchemy.orm import Session, aliased

from segmint.accounts.actor import Actor
from segmint.accounts.models import Organization
from segmint.assignments.models import Assignment, ManualOverride, SegmentHistory
from segmint.audit.service import record
from segmint.errors import NotFound, PermissionDenied, ValidationError
from segmint.metadata.base import utcnow
from segmint.segments.models import Segment, SegmentType
from segmint.segments.service import _lock, get_type


@dataclass(frozen=True)
class EffectiveSegment:
    """One customer's segments in one type, with what explains the automatic one."""

    customer_key: str
    automatic: str | None
    manual: str | None
    effective: str | None
    eligible_sales: Decimal | None
    reason: str | None
    set_by: int | None
    set_at: datetime | None
    rank: int | None = None
    share_before: Decimal | None = None
    recency_days: int | None = None
    frequency: int | None = None
    r_score: int | None = None
    f_score: int | None = None
    m_score: int | None = None


def _check_key(customer_key: object) -> str:
    if not isinstance(customer_key, str) or not customer_key.strip():
        raise ValidationError("customer: a customer key is needed", field="customer_key")
    if len(customer_key) > 200 or "\x00" in customer_key:
        raise ValidationError(
            f"customer: {customer_key[:40]!r}… is not a customer key", field="customer_key"
        )
    return customer_key.strip()


def _segment(segment_type: SegmentType, segment: int | str) -> Segment:
    for candidate in segment_type.segments:
        if candidate.id == segment or (
            isinstance(segment, str) and candidate.name.casefold() == segment.strip().casefold()
        ):
            return candidate
    names = ", ".join(s.name for s in segment_type.segments)
    raise ValidationError(
        f"segment {segment!r} is not a segment of {segment_type.name!r} (its segments: {names})",
        field="segment",
    )


def _auto(session: Session, segment_type: SegmentType, customer_key: str) -> Assignment | None:
    if segment_type.current_run_id is None:
        return None
    return session.get(Assignment, (segment_type.current_run_id, customer_key))


def _name(segment_type: SegmentType, segment_id: int | None) -> str | None:
    return next((s.name for s in segment_type.segments if s.id == segment_id), None)


def known_to_store(store: Any, org: str, identity: str, customer_key: str) -> bool:
    """Whether the sales store knows the customer (by ID, or by normalized VAT number)."""
    with store.attached() as con:
        if identity == "vat":
            sql = "SELECT count(*) FROM store.customers WHERE org = ? AND vat_key = ?"
            params = [org, customer_key]
        else:
            sql = (
                "SELECT (SELECT count(*) FROM store.customers WHERE org = ? AND customer_id = ?)"
                " + (SELECT count(*) FROM (SELECT 1 FROM store.sales_lines"
                " WHERE org = ? AND customer_id = ? LIMIT 1))"
            )
            params = [org, customer_key, org, customer_key]
        return bool(con.execute(sql, params).fetchall()[0][0])


def _override(session: Session, type_id: int, customer_key: str) -> ManualOverride | None:
    return session.scalars(
        select(ManualOverride).where(
            ManualOverride.type_id == type_id, ManualOverride.customer_key == customer_key
        )
    ).first()


def _manual_change(
    session: Session,
    actor: Actor,
    type_id: int,
    customer_key: str,
    auto: str | None,
    effective_from: str | None,
    effective_to: str | None,
    reason: str | None,
) -> None:
    """The history row of a person changing a customer's segment (the automatic one stays)."""
    session.add(
        SegmentHistory(
            organization_id=actor.organization_id,
            type_id=type_id,
            customer_key=customer_key,
            source="manual",
            user_id=actor.user_id,
            auto_from=auto,
            auto_to=auto,
            effective_from=effective_from,
            effective_to=effective_to,
            reason=reason,
        )
    )


def _may_override(session: Session, actor: Actor) -> None:
    if actor.can_manage:
        return
    organization = session.get(Organization, actor.organization_id)
    if actor.role == "rep" and organization is not None and organization.reps_can_override:
        return
    raise PermissionDenied("changing a customer's segment needs the manager role")


def set_override(
    *,
    session: Session,
    actor: Actor,
    type_id: int,
    customer_key: str,
    segment: int | str,
    reason: str | None = None,
    store: Any = None,
) -> ManualOverride:
    """Put a customer in a segment by hand (or change the segment it was put in).

    The customer must be known: in the type's current result, or to the sales store when one
    is given. ``reason`` is optional and kept with the override and in the history.
    """
    _may_override(session, actor)
    customer_key = _check_key(customer_key)
    if reason is not None:
        reason = reason.strip() or None
        if reason and (len(reason) > 2000 or "\x00" in reason):
            raise ValidationError("reason: at most 2000 characters of text", field="reason")
    segment_type = _lock(session, actor, type_id)
    chosen = _segment(segment_type, segment)
    auto = _auto(session, segment_type, customer_key)
    if auto is None and not (
        store is not None
        and known_to_store(store, actor.org_slug, segment_type.identity, customer_key)
    ):
        what = "VAT number" if segment_type.identity == "vat" else "customer"
        raise NotFound(f"no {what} {customer_key!r} in this organization")
    existing = _override(session, type_id, customer_key)
    auto_name = _name(segment_type, auto.segment_id) if auto else None
    before = _name(segment_type, existing.segment_id) if existing else auto_name
    if existing is None:
        existing = ManualOverride(
            organization_id=actor.organization_id, type_id=type_id, customer_key=customer_key
        )
        session.add(existing)
    existing.segment_id = chosen.id
    existing.reason = reason
    existing.set_by = actor.user_id
    existing.set_at = utcnow()
    _manual_change(session, actor, type_id, customer_key, auto_name, before, chosen.name, reason)
    session.flush()
    record(
        session=session,
        actor=actor,
        action="override.set",
        entity="customer",
        entity_id=customer_key,
        type_id=type_id,
        segment=chosen.name,
        reason=reason,
    )
    return existing


def clear_override(
    *,
    session: Session,
    actor: Actor,
    type_id: int,
    customer_key: str,
    reason: str | None = None,
) -> None:
    """Remove a customer's manual segment: the automatic one applies again."""
    _may_override(session, actor)
    customer_key = _check_key(customer_key)
    segment_type = _lock(session, actor, type_id)
    existing = _override(session, type_id, customer_key)
    if existing is None:
        raise NotFound(f"customer {customer_key!r} has no manual segment in {segment_type.name!r}")
    auto = _auto(session, segment_type, customer_key)
    auto_name = _name(segment_type, auto.segment_id) if auto else None
    _manual_change(
        session,
        actor,
        type_id,
        customer_key,
        auto_name,
        _name(segment_type, existing.segment_id),
        auto_name,
        reason,
    )
    session.delete(existing)
    session.flush()
    record(
        session=session,
        actor=actor,
        action="override.clear",
        entity="customer",
        entity_id=customer_key,
        type_id=type_id,
    )


def clear_all_overrides(*, session: Session, actor: Actor, type_id: int) -> int:
    """Remove every manual segment of a type; returns how many were removed. Each customer's
    history records the change back to its automatic segment."""
    actor.require_manager("clearing manual segments")
    segment_type = _lock(session, actor, type_id)
    manual_segment = aliased(Segment)
    auto_segment = aliased(Segment)
    run_id = segment_type.current_run_id if segment_type.current_run_id is not None else -1
    now = utcnow()
    rows = (
        select(
            literal(actor.organization_id),
            literal(type_id),
            ManualOverride.customer_key,
            literal(now, type_=SegmentHistory.__table__.c.at.type),
            literal("clear_all"),
            literal(actor.user_id, type_=SegmentHistory.__table__.c.user_id.type),
            auto_segment.name,
            auto_segment.name,
            manual_segment.name,
            auto_segment.name,
        )
        .select_from(ManualOverride)
        .join(manual_segment, manual_segment.id == ManualOverride.segment_id)
        .outerjoin(
            Assignment,
            and_(
                Assignment.run_id == run_id,
                Assignment.customer_key == ManualOverride.customer_key,
            ),
        )
        .outerjoin(auto_segment, auto_segment.id == Assignment.segment_id)
        .where(ManualOverride.type_id == type_id)
    )
    history = SegmentHistory.__table__
    session.execute(
        history.insert().from_select(
            [
                "organization_id",
                "type_id",
                "customer_key",
                "at",
                "source",
                "user_id",
                "auto_from",
                "auto_to",
                "effective_from",
                "effective_to",
            ],
            rows,
        )
    )
    removed = session.execute(
        ManualOverride.__table__.delete().where(ManualOverride.type_id == type_id)
    ).rowcount
    record(
        session=session,
        actor=actor,
        action="override.clear_all",
        entity="segment_type",
        entity_id=type_id,
        removed=removed,
    )
    return removed


FIGURES = ("rank", "share_before", "recency_days", "frequency", "r_score", "f_score", "m_score")


def effective_selects(
    type_id: Any, run_id: Any, customer_keys: Any = None
) -> tuple[Select[Any], Select[Any]]:
    """The two halves (to ``UNION ALL``) of the effective-segment query of one type: the
    customers of run ``run_id`` with their override if any, and the customers with only an
    override. Columns: ``customer_key, auto_id, manual_id``, then :class:`EffectiveSegment`'s
    fields from ``eligible_sales`` on. ``type_id``, ``run_id`` and ``customer_keys`` (None: every
    customer) are values or bound parameters."""
    a = Assignment.__table__.c
    m = ManualOverride.__table__.c
    with_auto = (
        select(
            a.customer_key,
            a.segment_id.label("auto_id"),
            m.segment_id.label("manual_id"),
            a.eligible_sales,
            m.reason,
            m.set_by,
            m.set_at,
            *(a[c] for c in FIGURES),
        )
        .select_from(
            Assignment.__table__.outerjoin(
                ManualOverride.__table__,
                and_(m.type_id == type_id, m.customer_key == a.customer_key),
            )
        )
        .where(a.run_id == run_id)
    )
    manual_only = (
        select(
            m.customer_key,
            null().label("auto_id"),
            m.segment_id.label("manual_id"),
            null().label("eligible_sales"),
            m.reason,
            m.set_by,
            m.set_at,
            *(null().label(c) for c in FIGURES),
        )
        .where(m.type_id == type_id)
        .where(
            ~select(a.customer_key)
            .where(a.run_id == run_id, a.customer_key == m.customer_key)
            .exists()
        )
    )
    if customer_keys is not None:
        with_auto = with_auto.where(a.customer_key.in_(customer_keys))
        manual_only = manual_only.where(m.customer_key.in_(customer_keys))
    return with_auto, manual_only


def effective_from_row(row: Sequence[Any], names: Mapping[int, str]) -> EffectiveSegment:
    """An :class:`EffectiveSegment` from a row of :func:`effective_selects` (segment ids named by
    ``names``): the manual segment wins over the automatic one."""
    key, auto_id, manual_id, *rest = row
    auto, manual = names.get(auto_id), names.get(manual_id)
    return EffectiveSegment(key, auto, manual, manual if manual_id is not None else auto, *rest)


def effective_segments(
    *,
    session: Session,
    actor: Actor,
    type_id: int,
    customer_keys: list[str] | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> list[EffectiveSegment]:
    """Every customer of the type's current result or with a manual segment, ordered by key:
    automatic, manual and effective segment, the override's reason and the figures behind the
    automatic segment."""
    segment_type = get_type(session=session, actor=actor, type_id=type_id)
    names = {s.id: s.name for s in segment_type.segments}
    run_id = segment_type.current_run_id if segment_type.current_run_id is not None else -1
    with_auto, manual_only = effective_selects(type_id, run_id, customer_keys)
    combined = union_all(with_auto, manual_only).subquery()
    query = select(combined).order_by(combined.c.customer_key).offset(offset)
    if limit is not None:
        query = query.limit(limit)
    return [effective_from_row(row, names) for row in session.execute(query)]


def effective_count(*, session: Session, actor: Actor, type_id: int) -> int:
    """How many customers :func:`effective_segments` lists (e.g. for a progress bar)."""
    segment_type = get_type(session=session, actor=actor, type_id=type_id)
    run_id = segment_type.current_run_id if segment_type.current_run_id is not None else -1
    a = Assignment.__table__.c
    m = ManualOverride.__table__.c
    automatic = session.scalar(select(func.count()).where(a.run_id == run_id))
    manual_only = session.scalar(
        select(func.count())
        .where(m.type_id == type_id)
        .where(
            ~select(a.customer_key)
            .where(a.run_id == run_id, a.customer_key == m.customer_key)
            .exists()
        )
    )
    return int(automatic or 0) + int(manual_only or 0)


def override_count(*, session: Session, actor: Actor, type_id: int) -> int:
    get_type(session=session, actor=actor, type_id=type_id)
    return session.scalar(
        select(func.count()).select_from(ManualOverride).where(ManualOverride.type_id == type_id)
    )


@dataclass(frozen=True)
class OverridePage:
    total: int
    items: list[dict[str, Any]]


def list_overrides(
    *, session: Session, actor: Actor, type_id: int, limit: int = 100, offset: int = 0
) -> OverridePage:
    """A type's manual segments ordered by customer key: key, segment name, reason, who, when."""
    segment_type = get_type(session=session, actor=actor, type_id=type_id)
    names = {s.id: s.name for s in segment_type.segments}
    where = ManualOverride.type_id == type_id
    total = session.scalar(select(func.count()).select_from(ManualOverride).where(where)) or 0
    rows = session.scalars(
        select(ManualOverride)
        .where(where)
        .order_by(ManualOverride.customer_key)
        .limit(limit)
        .offset(offset)
    )
    return OverridePage(
        total=total,
        items=[
            {
                "customer_key": row.customer_key,
                "segment": names.get(row.segment_id, ""),
                "reason": row.reason,
                "set_by": row.set_by,
                "set_at": row.set_at,
            }
            for row in rows
        ],
    )


def timeline(
    *, session: Session, actor: Actor, type_id: int, customer_key: str
) -> list[SegmentHistory]:
    """A customer's segment changes in one type, oldest first."""
    get_type(session=session, actor=actor, type_id=type_id)
    return list(
        session.scalars(
            select(SegmentHistory)
            .where(
                SegmentHistory.organization_id == actor.organization_id,
                SegmentHistory.type_id == type_id,
                SegmentHistory.customer_key == customer_key,
            )
            .order_by(SegmentHistory.id)
        )
    )


def customer_segments(
    *, session: Session, actor: Actor, customer_id: str, vat_key: str | None = None
) -> dict[int, EffectiveSegment | None]:
    """One customer's effective segment in every type of the organization, by type id: ID
    types look it up by ``customer_id``, VAT types by ``vat_key`` (None when it has none)."""
    from segmint.segments.service import list_types

    result: dict[int, EffectiveSegment | None] = {}
    for segment_type in list_types(session=session, actor=actor):
        key = vat_key if segment_type.identity == "vat" else customer_id
        rows = (
            effective_segments(
                session=session, actor=actor, type_id=segment_type.id, customer_keys=[key]
            )
            if key
            else []
        )
        result[segment_type.id] = rows[0] if rows else None
    return result
