"""What every insight checks first: the type (of the actor's organization and the right
method), the rep rule, and the runs whose snapshots the Pareto overview and the migration matrix
read."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from segmint.accounts.actor import Actor
from segmint.accounts.models import Organization
from segmint.assignments.results import kept_results
from segmint.errors import Conflict, NotFound, PermissionDenied, ValidationError
from segmint.runs.models import Run
from segmint.segments.models import SegmentType
from segmint.segments.service import get_type

_METHOD_NAMES = {"pareto": "Pareto (ABC)", "rfm": "RFM"}


def typed(*, session: Session, actor: Actor, type_id: int, method: str | None) -> SegmentType:
    """The actor's type ``type_id`` (NotFound for another organization's), of ``method``."""
    if not isinstance(type_id, int) or isinstance(type_id, bool):
        raise ValidationError(f"type_id must be a whole number, got {type_id!r}", field="type_id")
    segment_type = get_type(session=session, actor=actor, type_id=type_id)
    if method is not None and segment_type.method != method:
        raise ValidationError(
            f"type_id: segment type {type_id} ({segment_type.name!r}) is a "
            f"{_METHOD_NAMES[segment_type.method]} type; this needs a {_METHOD_NAMES[method]} "
            "type",
            field="type_id",
        )
    return segment_type


def organization(session: Session, actor: Actor) -> Organization:
    found = session.get(Organization, actor.organization_id)
    if found is None:
        raise NotFound(f"no organization {actor.organization_id}")
    return found


@dataclass(frozen=True)
class RepRule:
    """Whether the actor sees only its own customers, and which ``sales_rep`` value is its own
    (None: the rep has no sales rep value, so it sees nothing)."""

    restricted: bool
    sales_rep: str | None = None


def rep_rule(org: Organization, actor: Actor) -> RepRule:
    if actor.role == "rep" and org.reps_see_own_customers_only:
        rep = (actor.sales_rep or "").strip() or None
        return RepRule(restricted=True, sales_rep=rep)
    return RepRule(restricted=False)


def refuse_restricted_rep(org: Organization, actor: Actor, what: str) -> None:
    """Snapshots hold no sales rep, so a rep limited to its own customers cannot be shown a
    figure computed from them: refuse rather than show everyone's."""
    if rep_rule(org, actor).restricted:
        raise PermissionDenied(
            f"{what} is computed from run snapshots over all customers, and this organization "
            "limits reps to their own customers; ask a manager, or use the RFM insights "
            "(filtered to your customers)"
        )


def finished_run(*, session: Session, segment_type: SegmentType, run_id: int, field: str) -> Run:
    """A succeeded run of ``segment_type`` whose snapshot is still there."""
    if not isinstance(run_id, int) or isinstance(run_id, bool):
        raise ValidationError(f"{field} must be a whole number, got {run_id!r}", field=field)
    run = session.scalars(
        select(Run).where(
            Run.id == run_id,
            Run.type_id == segment_type.id,
            Run.organization_id == segment_type.organization_id,
        )
    ).first()
    if run is None:
        raise NotFound(f"{field}: no run {run_id} of segment type {segment_type.id}")
    if run.status != "succeeded":
        state = "failed" if run.status == "failed" else f"not finished (it is {run.status})"
        raise Conflict(f"{field}: run {run_id} is {state}; it has no result", field=field)
    if not kept_results(session, [run_id]):
        customers = (run.summary or {}).get("customers")
        if customers != 0:  # a run of an organization without customers has no rows either
            raise Conflict(
                f"{field}: the snapshot of run {run_id} is no longer kept (only the newest runs "
                "of a type keep theirs: the runs_kept setting); compare newer runs",
                field=field,
            )
    return run
