"""Segment types and their segments, runs, and manual overrides."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status

from segmint.api.problems import error_responses, links
from segmint.api.schemas import (
    Count,
    Id,
    OverrideClearIn,
    OverrideIn,
    OverrideOut,
    Page,
    RunIn,
    RunOut,
    SegmentIn,
    SegmentsIn,
    TypeIn,
    TypeOut,
    TypePatch,
)
from segmint.api.security import ActorDep, DbDep
from segmint.assignments import service as assignments
from segmint.customers.service import check_visible
from segmint.runs import service as runs
from segmint.segments import service as segments
from segmint.segments.schemas import SegmentSpec

router = APIRouter(tags=["segment types"])

Limit = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[int, Query(ge=0, le=2_147_483_647)]


def _spec(segment: SegmentIn) -> SegmentSpec:
    return SegmentSpec(**segment.model_dump())


def _changes(body: TypePatch | TypeIn, *, skip: set[str]) -> dict:
    changes = body.model_dump(exclude_unset=True, exclude=skip)
    for metric in ("r_cuts", "f_cuts", "m_cuts"):
        if changes.get(metric) is not None:
            changes[metric] = [str(c) for c in changes[metric]]
    return changes


@router.get("/segment-types", response_model=list[TypeOut], responses=error_responses(401))
def list_types(actor: ActorDep, db: DbDep) -> list[TypeOut]:
    """The organization's segment types, the default first, then by name."""
    with db.read_session() as session:
        return [
            TypeOut.model_validate(t) for t in segments.list_types(session=session, actor=actor)
        ]


@router.post(
    "/segment-types",
    response_model=TypeOut,
    status_code=status.HTTP_201_CREATED,
    responses={
        **error_responses(401, 403, 409, 422),
        **links(
            "type_id",
            "get_type",
            "update_type",
            "delete_type",
            "set_segments",
            "start_run",
            "list_type_runs",
            "list_overrides",
            "set_override",
            "clear_override",
            "clear_all_overrides",
        ),
    },
)
def create_type(body: TypeIn, actor: ActorDep, db: DbDep) -> TypeOut:
    """A new segment type. Without segments, a Pareto type starts with A/B/C 80/15/5 and an RFM
    type with the default map."""
    specs = [_spec(s) for s in body.segments] if body.segments is not None else None
    with db.session() as session:
        created = segments.create_type(
            session=session,
            actor=actor,
            name=body.name,
            method=body.method,
            segments=specs,
            **_changes(body, skip={"name", "method", "segments"}),
        )
        session.flush()
        session.refresh(created)
        return TypeOut.model_validate(created)


@router.get("/segment-types/{type_id}", response_model=TypeOut, responses=error_responses(401, 404))
def get_type(type_id: Id, actor: ActorDep, db: DbDep) -> TypeOut:
    with db.read_session() as session:
        return TypeOut.model_validate(
            segments.get_type(session=session, actor=actor, type_id=type_id)
        )


@router.patch(
    "/segment-types/{type_id}",
    response_model=TypeOut,
    responses=error_responses(401, 403, 404, 409, 422),
)
def update_type(type_id: Id, body: TypePatch, actor: ActorDep, db: DbDep) -> TypeOut:
    """Change fields of a type (its method cannot change)."""
    with db.session() as session:
        changed = segments.update_type(
            session=session, actor=actor, type_id=type_id, **_changes(body, skip=set())
        )
        return TypeOut.model_validate(changed)


@router.delete(
    "/segment-types/{type_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(401, 403, 404, 409),
)
def delete_type(type_id: Id, actor: ActorDep, db: DbDep) -> Response:
    """Delete a type with its runs, overrides and history."""
    with db.session() as session:
        segments.delete_type(session=session, actor=actor, type_id=type_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.put(
    "/segment-types/{type_id}/segments",
    response_model=TypeOut,
    responses=error_responses(401, 403, 404, 409, 422),
)
def set_segments(type_id: Id, body: SegmentsIn, actor: ActorDep, db: DbDep) -> TypeOut:
    """Replace the type's segments in the given order: segments with an ``id`` are edited,
    those without one added, those left out removed (refused while overrides use them)."""
    with db.session() as session:
        changed = segments.set_segments(
            session=session,
            actor=actor,
            type_id=type_id,
            segments=[_spec(s) for s in body.segments],
        )
        session.flush()
        session.refresh(changed)
        return TypeOut.model_validate(changed)


# --- runs -----------------------------------------------------------------------------------


@router.post(
    "/segment-types/{type_id}/runs",
    response_model=RunOut,
    status_code=status.HTTP_202_ACCEPTED,
    responses={**error_responses(401, 403, 404, 422), **links("run_id", "get_run", status=202)},
    tags=["runs"],
)
def start_run(type_id: Id, actor: ActorDep, db: DbDep, body: RunIn | None = None) -> RunOut:
    """Queue an automatic assignment and return at once; when one is already queued or running
    for this type, that run is returned."""
    with db.session() as session:
        run = runs.start_run(
            session=session, actor=actor, type_id=type_id, as_of=body.as_of if body else None
        )
        session.flush()
        return RunOut.model_validate(run)


@router.get(
    "/segment-types/{type_id}/runs",
    response_model=list[RunOut],
    responses=error_responses(401, 404),
    tags=["runs"],
)
def list_type_runs(type_id: Id, actor: ActorDep, db: DbDep, limit: Limit = 50) -> list[RunOut]:
    """The type's runs, newest first."""
    with db.read_session() as session:
        segments.get_type(session=session, actor=actor, type_id=type_id)
        found = runs.list_runs(session=session, actor=actor, type_id=type_id, limit=limit)
        return [RunOut.model_validate(r) for r in found]


@router.get("/runs", response_model=list[RunOut], responses=error_responses(401), tags=["runs"])
def list_runs(actor: ActorDep, db: DbDep, limit: Limit = 50) -> list[RunOut]:
    """The organization's runs, newest first."""
    with db.read_session() as session:
        return [
            RunOut.model_validate(r)
            for r in runs.list_runs(session=session, actor=actor, limit=limit)
        ]


@router.get(
    "/runs/{run_id}", response_model=RunOut, responses=error_responses(401, 404), tags=["runs"]
)
def get_run(run_id: Id, actor: ActorDep, db: DbDep) -> RunOut:
    """A run's status, progress (0–1), stage, error and summary."""
    with db.read_session() as session:
        return RunOut.model_validate(runs.get_run(session=session, actor=actor, run_id=run_id))


# --- overrides ------------------------------------------------------------------------------


@router.get(
    "/segment-types/{type_id}/overrides",
    response_model=Page[OverrideOut],
    responses=error_responses(401, 404),
    tags=["overrides"],
)
def list_overrides(
    type_id: Id, actor: ActorDep, db: DbDep, limit: Limit = 100, offset: Offset = 0
) -> Page[OverrideOut]:
    """The type's manual segments, by customer key."""
    with db.read_session() as session:
        page = assignments.list_overrides(
            session=session, actor=actor, type_id=type_id, limit=limit, offset=offset
        )
        return Page[OverrideOut](
            items=[OverrideOut(type_id=type_id, **row) for row in page.items],
            total=page.total,
            limit=limit,
            offset=offset,
        )


@router.post(
    "/segment-types/{type_id}/overrides",
    response_model=OverrideOut,
    responses=error_responses(401, 403, 404, 422),
    tags=["overrides"],
)
def set_override(
    type_id: Id, body: OverrideIn, request: Request, actor: ActorDep, db: DbDep
) -> OverrideOut:
    """Put a customer in a segment by hand (or change it); the reason is kept."""
    store = request.app.state.store
    with db.session() as session:
        segment_type = segments.get_type(session=session, actor=actor, type_id=type_id)
        check_visible(
            session=session,
            store=store,
            actor=actor,
            customer_key=body.customer_key,
            identity=segment_type.identity,
        )
        row = assignments.set_override(
            session=session,
            actor=actor,
            type_id=type_id,
            customer_key=body.customer_key,
            segment=body.segment,
            reason=body.reason,
            store=store,
        )
        names = {s.id: s.name for s in segment_type.segments}
        return OverrideOut(
            type_id=type_id,
            customer_key=row.customer_key,
            segment=names[row.segment_id],
            reason=row.reason,
            set_by=row.set_by,
            set_at=row.set_at,
        )


@router.post(
    "/segment-types/{type_id}/overrides/clear",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(401, 403, 404, 422),
    tags=["overrides"],
)
def clear_override(
    type_id: Id, body: OverrideClearIn, request: Request, actor: ActorDep, db: DbDep
) -> Response:
    """Remove a customer's manual segment: the automatic one applies again."""
    with db.session() as session:
        segment_type = segments.get_type(session=session, actor=actor, type_id=type_id)
        check_visible(
            session=session,
            store=request.app.state.store,
            actor=actor,
            customer_key=body.customer_key,
            identity=segment_type.identity,
        )
        assignments.clear_override(
            session=session,
            actor=actor,
            type_id=type_id,
            customer_key=body.customer_key,
            reason=body.reason,
        )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/segment-types/{type_id}/overrides/clear-all",
    response_model=Count,
    responses=error_responses(401, 403, 404),
    tags=["overrides"],
)
def clear_all_overrides(type_id: Id, actor: ActorDep, db: DbDep) -> Count:
    """Remove every manual segment of the type; returns how many there were."""
    with db.session() as session:
        removed = assignments.clear_all_overrides(session=session, actor=actor, type_id=type_id)
    return Count(count=removed)
