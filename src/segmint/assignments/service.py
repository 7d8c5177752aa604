"""Manual overrides and the effective segment of every customer.

The effective segment is the manual one when a person set one, else the automatic one of the
type's current run. Overrides live in their own table that runs never write, so a run can never
change or lose one; every change a person makes is written to the history in the same
transaction as the change itself (a run's changes are kept with the run, see
:mod:`segmint.assignments.history`). The automatic segments are read from the current run's
result, which a process keeps in memory once read (:mod:`segmint.assignments.effective`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from segmint.accounts.actor import Actor
from segmint.accounts.models import Organization
from segmint.assignments import effective as combine
from segmint.assignments.history import timeline as timeline
from segmint.assignments.models import ManualOverride, SegmentHistory
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


def _auto(session: Session, segment_type: SegmentType, customer_key: str) -> dict | None:
    """The customer's row in the type's current result (``segment_id`` and the figures)."""
    result = combine.current_result(session, segment_type.current_run_id)
    return combine.result_rows(result, [customer_key]).get(customer_key)


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
    auto_name = _name(segment_type, auto["segment_id"]) if auto else None
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
    auto_name = _name(segment_type, auto["segment_id"]) if auto else None
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
    names = {s.id: s.name for s in segment_type.segments}
    overrides = combine.overrides_of(session, [type_id])
    result = combine.current_result(session, segment_type.current_run_id)
    automatic = combine.result_rows(result, [key for _, key in overrides])
    now = utcnow()
    rows = []
    for (_, key), override in sorted(overrides.items()):
        auto = automatic.get(key)
        auto_name = names.get(auto["segment_id"]) if auto else None
        rows.append(
            {
                "organization_id": actor.organization_id,
                "type_id": type_id,
                "customer_key": key,
                "at": now,
                "source": "clear_all",
                "user_id": actor.user_id,
                "auto_from": auto_name,
                "auto_to": auto_name,
                "effective_from": names.get(override.segment_id),
                "effective_to": auto_name,
            }
        )
    if rows:
        session.execute(insert(SegmentHistory.__table__), rows)
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


def effective_from_parts(
    key: str,
    auto: Mapping[str, Any] | None,
    override: combine.Override | None,
    names: Mapping[int, str],
) -> EffectiveSegment:
    """An :class:`EffectiveSegment` from the customer's result row (or None) and override (or
    None), segment ids named by ``names``: the manual segment wins over the automatic one."""
    automatic = names.get(auto["segment_id"]) if auto else None
    manual = names.get(override.segment_id) if override else None
    return EffectiveSegment(
        key,
        automatic,
        manual,
        manual if override is not None else automatic,
        auto["eligible_sales"] if auto else None,
        override.reason if override else None,
        override.set_by if override else None,
        override.set_at if override else None,
        *((auto[c] if auto else None) for c in FIGURES),
    )


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
    result = combine.current_result(session, segment_type.current_run_id)
    overrides = {
        key: o for (_, key), o in combine.overrides_of(session, [type_id], customer_keys).items()
    }
    if customer_keys is not None:
        automatic = combine.result_rows(result, customer_keys)
        keys = sorted(automatic.keys() | overrides.keys())
        keys = keys[offset:] if limit is None else keys[offset : offset + limit]
        return [effective_from_parts(k, automatic.get(k), overrides.get(k), names) for k in keys]
    listed = combine.page(
        result, combine.manual_only(result, overrides), offset=offset, limit=limit
    )
    rows = combine.automatic_rows(result, [row for _, row in listed])
    return [
        effective_from_parts(key, auto, overrides.get(key), names)
        for (key, _), auto in zip(listed, rows, strict=True)
    ]


def effective_count(*, session: Session, actor: Actor, type_id: int) -> int:
    """How many customers :func:`effective_segments` lists (e.g. for a progress bar)."""
    segment_type = get_type(session=session, actor=actor, type_id=type_id)
    result = combine.current_result(session, segment_type.current_run_id)
    overridden = [key for _, key in combine.overrides_of(session, [type_id])]
    return result.rows + len(combine.manual_only(result, overridden))


def effective_segment_keys(
    *, session: Session, segment_type: SegmentType, segment_ids: set[int], with_segment: bool
) -> tuple[list[str], list[str]]:
    """The customer keys whose effective segment in ``segment_type`` (which the caller has read
    for its actor) is one of ``segment_ids``; and, when ``with_segment``, every key that has an
    effective segment (for a "no segment" filter). Vectorized over the result: a filter on a
    segment of a million customers takes milliseconds, not a query of a million rows."""
    result = combine.current_result(session, segment_type.current_run_id)
    overrides = {
        key: o.segment_id
        for (_, key), o in combine.overrides_of(session, [segment_type.id]).items()
    }
    return combine.keys_with(result, overrides, segment_ids, with_segment=with_segment)


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
