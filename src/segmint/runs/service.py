"""Starting runs, reading their state, and noticing the ones whose worker died.

A run is a row in ``runs``: ``queued`` until a worker claims it, ``running`` while the worker
holds its lease (renewed by a heartbeat), then ``succeeded`` or ``failed``. A partial unique
index allows one queued-or-running run per type, so ten people pressing "Auto Assign" at once
start exactly one run and all get its id.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from segmint.accounts.actor import Actor
from segmint.assignments.models import RunResult
from segmint.errors import NotFound
from segmint.metadata.base import utcnow
from segmint.runs.models import Run
from segmint.segments.models import SegmentType
from segmint.segments.service import get_type

TRIGGERS = ("manual", "schedule", "import")


def active_run(session: Session, type_id: int) -> Run | None:
    return session.scalars(
        select(Run).where(Run.type_id == type_id, Run.status.in_(("queued", "running")))
    ).first()


def start_run(
    *,
    session: Session,
    actor: Actor,
    type_id: int,
    trigger: str = "manual",
    as_of: date | None = None,
) -> Run:
    """Queue a run of the type and return it at once; when one is already queued or running,
    return that one instead. ``as_of`` defaults to the day the worker starts computing."""
    actor.require_manager("running a segment type")
    get_type(session=session, actor=actor, type_id=type_id)
    reap_expired(session=session)
    if (existing := active_run(session, type_id)) is not None:
        return existing
    run = Run(
        organization_id=actor.organization_id,
        type_id=type_id,
        status="queued",
        trigger=trigger if trigger in TRIGGERS else "manual",
        requested_by=actor.user_id,
        as_of=as_of,
    )
    try:
        with session.begin_nested():  # a SAVEPOINT: losing the race must not end the transaction
            session.add(run)
    except IntegrityError:
        # Another request queued one between our check and our insert (PostgreSQL; SQLite's
        # BEGIN IMMEDIATE already serialised us). Theirs is the run.
        existing = active_run(session, type_id)
        if existing is None:  # pragma: no cover - the index guarantees one exists
            raise
        return existing
    return run


def get_run(*, session: Session, actor: Actor, run_id: int) -> Run:
    run = session.scalars(
        select(Run).where(Run.id == run_id, Run.organization_id == actor.organization_id)
    ).first()
    if run is None:
        raise NotFound(f"no run {run_id}")
    return run


def list_runs(
    *, session: Session, actor: Actor, type_id: int | None = None, limit: int = 50
) -> list[Run]:
    query = select(Run).where(Run.organization_id == actor.organization_id)
    if type_id is not None:
        query = query.where(Run.type_id == type_id)
    return list(session.scalars(query.order_by(Run.id.desc()).limit(limit)))


def reap_expired(*, session: Session, now: datetime | None = None) -> list[int]:
    """Mark running runs whose lease expired as failed (their worker stopped: killed, machine
    gone). The type's current result is untouched: it only ever changes in the swap, which such
    a run never reached, and a run writes nothing else (its result and changes are stored in
    the swap's transaction)."""
    now = now or utcnow()
    expired = list(
        session.scalars(select(Run.id).where(Run.status == "running", Run.lease_expires_at < now))
    )
    if not expired:
        return []
    session.execute(
        update(Run)
        .where(Run.id.in_(expired), Run.status == "running")
        .values(
            status="failed",
            stage="failed",
            finished_at=now,
            error="the worker stopped responding (its lease expired); the previous result is "
            "unchanged, run it again",
        )
        .execution_options(synchronize_session=False)
    )
    discard_snapshot(session, expired)
    from segmint.runs.events import run_finished  # events import runs; keep the cycle lazy

    for run_id in expired:
        run = session.get(Run, run_id, populate_existing=True)
        segment_type = session.get(SegmentType, run.type_id) if run is not None else None
        if run is not None and segment_type is not None:
            run_finished(session=session, run=run, segment_type=segment_type)
    return expired


def discard_snapshot(session: Session, run_ids: list[int]) -> None:
    """Delete the results of runs that never became current. A run's result is only written in
    its swap, so a run that failed or was reaped has none; this is a safeguard (e.g. for a
    result left by a version of Segmint that wrote it earlier)."""
    current = select(SegmentType.current_run_id).where(SegmentType.current_run_id.is_not(None))
    session.execute(
        delete(RunResult)
        .where(RunResult.run_id.in_(run_ids), RunResult.run_id.not_in(current))
        .execution_options(synchronize_session=False)
    )


def lease_deadline(seconds: float) -> datetime:
    return utcnow() + timedelta(seconds=seconds)
