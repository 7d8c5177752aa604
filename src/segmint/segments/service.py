"""Creating, editing and removing segment types and their segments.

Every rule is checked here, before anything is written, and a broken one raises
:class:`~segmint.errors.ValidationError` naming the field (``segments[2].threshold``), so the
CLI, the API and the web form all show the same message next to the same field.
"""

from __future__ import annotations

import copy
from decimal import Decimal, InvalidOperation
from typing import Any

from cronsim import CronSim, CronSimError
from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from segmint.accounts.actor import Actor
from segmint.assignments.models import ManualOverride
from segmint.audit.service import record
from segmint.errors import Conflict, NotFound, ValidationError
from segmint.metadata.base import utcnow
from segmint.segments.defaults import PARETO_DEFAULTS, RFM_DEFAULTS
from segmint.segments.models import IDENTITIES, INTERVALS, METHODS, Segment, SegmentType
from segmint.segments.schemas import TYPE_FIELDS, SegmentSpec

_ALL_CELLS = {f"{r}{fm}" for r in range(1, 6) for fm in range(1, 6)}
_FOUR_PLACES = Decimal("0.0001")


def _decimal(value: object, field: str) -> Decimal:
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise ValidationError(f"{field}: {value!r} is not a number", field=field) from None
    if not number.is_finite() or number != number.quantize(_FOUR_PLACES):
        raise ValidationError(
            f"{field}: {value!r} must be a number with at most 4 decimals", field=field
        )
    return number


def _text(value: object, field: str, *, limit: int, required: bool = True) -> str:
    if not isinstance(value, str):
        raise ValidationError(f"{field} must be text, got {value!r}", field=field)
    value = value.strip()
    if required and not value:
        raise ValidationError(f"{field} must not be empty", field=field)
    if len(value) > limit:
        raise ValidationError(f"{field} is longer than {limit} characters", field=field)
    if "\x00" in value:
        raise ValidationError(f"{field} must not contain NUL characters", field=field)
    return value


def _check_type_fields(values: dict[str, Any]) -> None:
    """Rules on the type's own fields (``values`` holds every field, old and changed)."""
    _text(values["name"], "name", limit=120)
    if values["method"] not in METHODS:
        raise ValidationError(
            f"method must be one of {', '.join(METHODS)}, got {values['method']!r}",
            field="method",
        )
    if values["identity"] not in IDENTITIES:
        raise ValidationError(
            f"identity must be 'id' or 'vat', got {values['identity']!r}", field="identity"
        )
    if values["interval"] not in INTERVALS:
        raise ValidationError(
            f"interval must be 'rolling' or 'fixed_year', got {values['interval']!r}",
            field="interval",
        )
    months = values["timespan_months"]
    if not isinstance(months, int) or isinstance(months, bool) or not 1 <= months <= 240:
        raise ValidationError(
            f"timespan_months must be a whole number from 1 to 240, got {months!r}",
            field="timespan_months",
        )
    if values["interval"] == "fixed_year" and months % 12:
        raise ValidationError(
            f"a fixed-year timespan is a multiple of 12 months, got {months}",
            field="timespan_months",
        )
    if values["shared"] and values["identity"] != "vat":
        raise ValidationError(
            "only VAT-based types can be shared (connected organizations match customers by "
            "VAT number)",
            field="shared",
        )
    if _decimal(values["min_sales"], "min_sales") < 0:
        raise ValidationError("min_sales must not be negative", field="min_sales")
    for name in ("branches", "brands"):
        for i, item in enumerate(values[name]):
            _text(item, f"{name}[{i}]", limit=200)
    for metric in ("r", "f", "m"):
        _check_cuts(metric, values[f"{metric}_cuts"])
    if values["schedule"] is not None:
        _check_schedule(values["schedule"])
    if values["method"] == "rfm" and (
        values["min_sales"] or values["branches"] or values["brands"]
    ):
        # RFM measures the customer's whole buying behaviour; say so instead of ignoring it.
        raise ValidationError(
            "RFM types use all sales of the period; branches, brands and minimum net sales "
            "apply to Pareto types",
            field="min_sales" if values["min_sales"] else "branches",
        )


def _check_cuts(metric: str, cuts: list[Any] | None) -> list[str] | None:
    field = f"{metric}_cuts"
    if cuts is None:
        return None
    if len(cuts) != 4:
        raise ValidationError(f"{field}: 4 cut points are needed, got {len(cuts)}", field=field)
    values = [_decimal(c, field) for c in cuts]
    if metric in ("r", "f") and any(v != v.to_integral_value() or v < 0 for v in values):
        raise ValidationError(
            f"{field}: {'days' if metric == 'r' else 'purchases'} are whole numbers ≥ 0, got "
            f"{', '.join(map(str, values))}",
            field=field,
        )
    if values != sorted(values):
        raise ValidationError(
            f"{field}: cut points must not decrease, got {', '.join(map(str, values))}",
            field=field,
        )
    return [str(v) for v in values]


def _check_schedule(schedule: str) -> None:
    try:
        CronSim(schedule, utcnow())
    except (CronSimError, ValueError) as error:
        raise ValidationError(
            f"schedule {schedule!r} is not a cron expression ({error}); e.g. '0 6 1 * *' runs "
            "monthly on day 1 at 06:00 UTC",
            field="schedule",
        ) from None


def next_run_time(schedule: str | None) -> Any:
    """When a type with this cron ``schedule`` next runs (UTC), or None."""
    return next(CronSim(schedule, utcnow())) if schedule else None


def check_segments(method: str, specs: list[SegmentSpec]) -> None:
    """The rules on a type's list of segments; raises naming ``segments[i].field``."""
    if not specs:
        raise ValidationError("a segment type needs at least one segment", field="segments")
    names: dict[str, int] = {}
    defaults = []
    for i, spec in enumerate(specs):
        where = f"segments[{i}]"
        name = _text(spec.name, f"{where}.name", limit=120)
        if name.casefold() in names:
            raise ValidationError(
                f"{where}.name: {name!r} is used twice (also segments[{names[name.casefold()]}])",
                field=f"{where}.name",
            )
        names[name.casefold()] = i
        threshold = _decimal(spec.threshold, f"{where}.threshold")
        if not 0 <= threshold <= 100:
            raise ValidationError(
                f"{where}.threshold: {threshold} % is not between 0 and 100",
                field=f"{where}.threshold",
            )
        if spec.excluded and threshold != 0:
            raise ValidationError(
                f"{where}.threshold: excluded segment {name!r} must have 0 %, not {threshold} %",
                field=f"{where}.threshold",
            )
        if spec.excluded and spec.is_default:
            raise ValidationError(
                f"{where}.is_default: segment {name!r} cannot be both default and excluded",
                field=f"{where}.is_default",
            )
        for attr in ("visit_every_days", "priority"):
            value = getattr(spec, attr)
            if value is not None and (
                not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 3650
            ):
                raise ValidationError(
                    f"{where}.{attr} must be a whole number from 1 to 3650, got {value!r}",
                    field=f"{where}.{attr}",
                )
        _text(spec.description, f"{where}.description", limit=2000, required=False)
        _text(spec.recommended_action, f"{where}.recommended_action", limit=2000, required=False)
        if spec.is_default:
            defaults.append(i)
    if len(defaults) > 1:
        raise ValidationError(
            f"segments[{defaults[1]}].is_default: at most one default segment per type "
            f"(segments[{defaults[0]}] is already the default)",
            field=f"segments[{defaults[1]}].is_default",
        )
    if method == "pareto":
        _check_pareto(specs)
    else:
        _check_rfm_map(specs)


def _check_pareto(specs: list[SegmentSpec]) -> None:
    active = [(i, s) for i, s in enumerate(specs) if not s.excluded]
    if not active:
        raise ValidationError(
            "a Pareto type needs at least one segment that is not excluded", field="segments"
        )
    total = sum((Decimal(str(s.threshold)) for _, s in active), Decimal(0))
    if total != 100:
        raise ValidationError(
            f"the thresholds of the non-excluded segments add up to {total.normalize():f} %, "
            "they must add up to 100 %",
            field="segments.threshold",
        )
    for i, spec in enumerate(specs):
        if spec.cells:
            raise ValidationError(
                f"segments[{i}].cells: RFM cells belong to RFM types", field=f"segments[{i}].cells"
            )


def _check_rfm_map(specs: list[SegmentSpec]) -> None:
    seen: dict[str, int] = {}
    for i, spec in enumerate(specs):
        if spec.threshold:
            raise ValidationError(
                f"segments[{i}].threshold: RFM segments have no % of sales",
                field=f"segments[{i}].threshold",
            )
        if spec.excluded and spec.cells:
            raise ValidationError(
                f"segments[{i}].cells: an excluded segment is only assigned by hand, it cannot "
                "hold cells of the map",
                field=f"segments[{i}].cells",
            )
        for cell in spec.cells:
            if cell not in _ALL_CELLS:
                raise ValidationError(
                    f"segments[{i}].cells: {cell!r} is not an (R, FM) cell such as '54'",
                    field=f"segments[{i}].cells",
                )
            if cell in seen:
                raise ValidationError(
                    f"segments[{i}].cells: cell {cell} is already in segments[{seen[cell]}]",
                    field=f"segments[{i}].cells",
                )
            seen[cell] = i
    if missing := sorted(_ALL_CELLS - set(seen)):
        raise ValidationError(
            f"cells without a segment: {', '.join(missing)}; every (R, FM) cell needs one",
            field="segments.cells",
        )


def _lock(session: Session, actor: Actor, type_id: int) -> SegmentType:
    """The type, row-locked on PostgreSQL so runs and edits of one type take turns."""
    found = session.scalars(
        select(SegmentType)
        .where(SegmentType.id == type_id, SegmentType.organization_id == actor.organization_id)
        .with_for_update()
    ).first()
    if found is None:
        raise NotFound(f"no segment type {type_id}")
    return found


def get_type(*, session: Session, actor: Actor, type_id: int) -> SegmentType:
    found = session.scalars(
        select(SegmentType).where(
            SegmentType.id == type_id, SegmentType.organization_id == actor.organization_id
        )
    ).first()
    if found is None:
        raise NotFound(f"no segment type {type_id}")
    return found


def find_type(*, session: Session, actor: Actor, name_or_id: str | int) -> SegmentType:
    """A type by id or by name (case-insensitive), for the CLI."""
    if isinstance(name_or_id, int) or str(name_or_id).isdigit():
        return get_type(session=session, actor=actor, type_id=int(name_or_id))
    found = session.scalars(
        select(SegmentType).where(
            SegmentType.organization_id == actor.organization_id,
            func.lower(SegmentType.name) == str(name_or_id).strip().lower(),
        )
    ).first()
    if found is None:
        raise NotFound(f"no segment type named {name_or_id!r}")
    return found


# Built once: the customer list reads the types on every request, and building the select
# costs as much as running it.
_TYPES_OF_ORGANIZATION = (
    select(SegmentType)
    .where(SegmentType.organization_id == bindparam("organization_id"))
    .order_by(SegmentType.is_default.desc(), SegmentType.name, SegmentType.id)
)


def list_types(*, session: Session, actor: Actor) -> list[SegmentType]:
    return list(session.scalars(_TYPES_OF_ORGANIZATION, {"organization_id": actor.organization_id}))


def _type_values(segment_type: SegmentType | None, changes: dict[str, Any]) -> dict[str, Any]:
    base = {name: getattr(segment_type, name) for name in (*TYPE_FIELDS, "method")}
    base.update(changes)
    return base


def _unique_name(session: Session, actor: Actor, name: str, type_id: int | None) -> None:
    # Compared in Python: SQLite's lower() folds ASCII only, so "Ä" and "ä" would both pass.
    others = session.execute(
        select(SegmentType.id, SegmentType.name).where(
            SegmentType.organization_id == actor.organization_id,
            SegmentType.id != (type_id or -1),
        )
    )
    if any(other.casefold() == name.casefold() for _, other in others):
        raise Conflict(f"name: a segment type named {name!r} already exists", field="name")


def _clear_other_defaults(session: Session, actor: Actor, keep: int) -> None:
    for other in session.scalars(
        select(SegmentType).where(
            SegmentType.organization_id == actor.organization_id,
            SegmentType.is_default.is_(True),
            SegmentType.id != keep,
        )
    ):
        other.is_default = False


def create_type(
    *,
    session: Session,
    actor: Actor,
    name: str,
    method: str,
    segments: list[SegmentSpec] | None = None,
    **fields: Any,
) -> SegmentType:
    """A new segment type. Without ``segments`` a Pareto type starts with A/B/C 80/15/5 and an
    RFM type with the default map (its cut points are suggested by its first run). The first
    type of an organization becomes its default type."""
    actor.require_manager("creating a segment type")
    unknown = set(fields) - set(TYPE_FIELDS)
    if unknown:
        raise ValidationError(f"unknown field(s): {', '.join(sorted(unknown))}", field="type")
    values = {
        "name": name,
        "method": method,
        "identity": "id",
        "is_default": False,
        "shared": False,
        "branches": [],
        "brands": [],
        "min_sales": Decimal(0),
        "timespan_months": 12,
        "interval": "rolling",
        "notify": True,
        "r_cuts": None,
        "f_cuts": None,
        "m_cuts": None,
        "schedule": None,
        "run_after_import": False,
    }
    values.update(fields)
    _check_type_fields(values)
    values["name"] = values["name"].strip()
    if segments is None:
        segments = copy.deepcopy(list(PARETO_DEFAULTS if method == "pareto" else RFM_DEFAULTS))
    check_segments(method, segments)
    _unique_name(session, actor, values["name"], None)
    first = not session.scalars(
        select(SegmentType.id).where(SegmentType.organization_id == actor.organization_id)
    ).first()
    values["is_default"] = values["is_default"] or first
    values["min_sales"] = _decimal(values["min_sales"], "min_sales")
    for metric in ("r", "f", "m"):
        values[f"{metric}_cuts"] = _check_cuts(metric, values[f"{metric}_cuts"])
    segment_type = SegmentType(organization_id=actor.organization_id, **values)
    segment_type.next_run_at = next_run_time(values["schedule"])
    segment_type.segments = [_new_segment(spec, i) for i, spec in enumerate(segments)]
    session.add(segment_type)
    session.flush()
    if segment_type.is_default:
        _clear_other_defaults(session, actor, segment_type.id)
    record(
        session=session,
        actor=actor,
        action="segment_type.create",
        entity="segment_type",
        entity_id=segment_type.id,
        name=segment_type.name,
        method=method,
    )
    return segment_type


def _new_segment(spec: SegmentSpec, position: int) -> Segment:
    return Segment(
        name=spec.name.strip(),
        position=position,
        threshold=Decimal(str(spec.threshold)),
        visit_every_days=spec.visit_every_days,
        priority=spec.priority,
        is_default=spec.is_default,
        excluded=spec.excluded,
        description=spec.description.strip(),
        recommended_action=spec.recommended_action.strip(),
        cells=sorted(spec.cells, reverse=True),
    )


def update_type(*, session: Session, actor: Actor, type_id: int, **changes: Any) -> SegmentType:
    """Change fields of a type (not its method: a Pareto type does not become RFM)."""
    actor.require_manager("editing a segment type")
    if "method" in changes:
        raise ValidationError(
            "the method of a segment type cannot change; create a new type", field="method"
        )
    unknown = set(changes) - set(TYPE_FIELDS)
    if unknown:
        raise ValidationError(f"unknown field(s): {', '.join(sorted(unknown))}", field="type")
    segment_type = _lock(session, actor, type_id)
    values = _type_values(segment_type, changes)
    _check_type_fields(values)
    if "name" in changes:
        changes["name"] = changes["name"].strip()
        _unique_name(session, actor, changes["name"], type_id)
    if "min_sales" in changes:
        changes["min_sales"] = _decimal(changes["min_sales"], "min_sales")
    for metric in ("r", "f", "m"):
        if f"{metric}_cuts" in changes:
            changes[f"{metric}_cuts"] = _check_cuts(metric, changes[f"{metric}_cuts"])
    before = {k: _jsonable(getattr(segment_type, k)) for k in changes}
    for key, value in changes.items():
        setattr(segment_type, key, value)
    if "schedule" in changes:
        segment_type.next_run_at = next_run_time(segment_type.schedule)
    if changes.get("is_default"):
        _clear_other_defaults(session, actor, type_id)
    record(
        session=session,
        actor=actor,
        action="segment_type.update",
        entity="segment_type",
        entity_id=type_id,
        before=before,
        after={k: _jsonable(v) for k, v in changes.items()},
    )
    return segment_type


def _jsonable(value: Any) -> Any:
    return str(value) if isinstance(value, Decimal) else value


def set_segments(
    *, session: Session, actor: Actor, type_id: int, segments: list[SegmentSpec]
) -> SegmentType:
    """Replace a type's list of segments, in the given order. Specs with an ``id`` edit that
    segment (manual overrides and history keep pointing at it); specs without one are added;
    segments left out are removed, which is refused while manual overrides use them."""
    actor.require_manager("editing segments")
    segment_type = _lock(session, actor, type_id)
    check_segments(segment_type.method, segments)
    existing = {s.id: s for s in segment_type.segments}
    for i, spec in enumerate(segments):
        if spec.id is not None and spec.id not in existing:
            raise ValidationError(
                f"segments[{i}].id: segment {spec.id} does not belong to this type",
                field=f"segments[{i}].id",
            )
    kept = {spec.id for spec in segments if spec.id is not None}
    removed = [s for s in segment_type.segments if s.id not in kept]
    for segment in removed:
        in_use = session.scalar(select(func.count()).where(ManualOverride.segment_id == segment.id))
        if in_use:
            raise Conflict(
                f"segment {segment.name!r} cannot be removed: {in_use} customer(s) are manually "
                "assigned to it; clear or change those overrides first",
                field="segments",
            )
    for segment in removed:
        segment_type.segments.remove(segment)
    session.flush()  # free removed names before renamed segments take them
    # Two passes: temporary names first, so swapping two names never trips the unique index.
    updated = [(spec, existing[spec.id]) for spec in segments if spec.id is not None]
    for _, segment in updated:
        segment.name = f"\x01renaming-{segment.id}"
    session.flush()
    ordered = []
    for position, spec in enumerate(segments):
        fresh = _new_segment(spec, position)
        if spec.id is None:
            segment = fresh
            segment_type.segments.append(segment)
        else:
            segment = existing[spec.id]
            for attr in (
                "name",
                "position",
                "threshold",
                "visit_every_days",
                "priority",
                "is_default",
                "excluded",
                "description",
                "recommended_action",
                "cells",
            ):
                setattr(segment, attr, getattr(fresh, attr))
        ordered.append(segment)
    segment_type.segments.sort(key=lambda s: s.position)
    segment_type.updated_at = utcnow()
    session.flush()
    record(
        session=session,
        actor=actor,
        action="segment_type.set_segments",
        entity="segment_type",
        entity_id=type_id,
        segments=[
            {"id": s.id, "name": s.name, "threshold": str(s.threshold), "excluded": s.excluded}
            for s in ordered
        ],
        removed=[s.name for s in removed],
    )
    return segment_type


def delete_type(*, session: Session, actor: Actor, type_id: int) -> None:
    """Remove a type with its segments, runs, assignments, overrides and history. This is the
    one action that removes overrides people typed, so it is recorded with their count."""
    actor.require_manager("deleting a segment type")
    segment_type = _lock(session, actor, type_id)
    overrides = session.scalar(select(func.count()).where(ManualOverride.type_id == type_id))
    from segmint.assignments.models import RunChanges, RunResult, SegmentHistory

    # No foreign key cascades to the runs' results and changes or to the history (they have
    # none, for the runs' speed): they go here, in the same transaction, with the type's lock
    # held, so no run or override adds to them.
    for table in (RunResult.__table__, RunChanges.__table__, SegmentHistory.__table__):
        session.execute(table.delete().where(table.c.type_id == type_id))
    session.delete(segment_type)
    record(
        session=session,
        actor=actor,
        action="segment_type.delete",
        entity="segment_type",
        entity_id=type_id,
        name=segment_type.name,
        manual_overrides_removed=overrides,
    )


def segment_specs(segment_type: SegmentType) -> list[SegmentSpec]:
    """The type's segments as specs (with ids), e.g. to edit one and save the list back."""
    return [
        SegmentSpec(
            id=s.id,
            name=s.name,
            threshold=s.threshold,
            visit_every_days=s.visit_every_days,
            priority=s.priority,
            is_default=s.is_default,
            excluded=s.excluded,
            description=s.description,
            recommended_action=s.recommended_action,
            cells=list(s.cells),
        )
        for s in segment_type.segments
    ]


__all__ = [
    "check_segments",
    "create_type",
    "delete_type",
    "find_type",
    "get_type",
    "list_types",
    "segment_specs",
    "set_segments",
    "update_type",
]
