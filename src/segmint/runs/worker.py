"""The worker: claims queued runs, computes them, swaps them in, and keeps the house in order
(expired leases, due schedules, webhook deliveries).

It runs as a thread inside ``segmint serve`` by default, or as its own process with
``segmint worker`` (several of them on PostgreSQL). Claiming is a conditional UPDATE
(``WHERE status = 'queued'``), so two workers never take the same run. While a run computes, a
heartbeat thread extends its lease; a worker that dies stops extending it, and whoever looks
next marks the run failed.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import select, update

from segmint.accounts.actor import Actor
from segmint.accounts.models import Organization
from segmint.assignments.models import ManualOverride
from segmint.errors import RunFailed, SegmintError
from segmint.metadata.base import utcnow
from segmint.metadata.database import Database
from segmint.runs.compute import compute
from segmint.runs.models import Run
from segmint.runs.persist import pause_point, prepare, prune_snapshots, result_table, swap
from segmint.runs.service import discard_snapshot, lease_deadline, reap_expired
from segmint.segments.models import Segment, SegmentType

log = logging.getLogger(__name__)

Progress = Callable[[Run], None]


class Worker:
    """Computes queued runs against the sales ``store``, recording them in ``db``."""

    def __init__(
        self,
        *,
        db: Database,
        store: Any,
        worker_id: str | None = None,
        lease_seconds: float = 60.0,
        poll_seconds: float = 1.0,
        runs_kept: int = 12,
    ) -> None:
        self.db = db
        self.store = store
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.lease_seconds = lease_seconds
        self.poll_seconds = poll_seconds
        self.runs_kept = runs_kept

    # -- claiming ------------------------------------------------------------------------------

    def claim(self) -> int | None:
        """Take the oldest queued run, or None when there is none (or another worker won)."""
        with self.db.session() as session:
            reap_expired(session=session)
            candidates = list(
                session.scalars(
                    select(Run.id).where(Run.status == "queued").order_by(Run.id).limit(5)
                )
            )
            for run_id in candidates:
                claimed = session.execute(
                    update(Run)
                    .where(Run.id == run_id, Run.status == "queued")
                    .values(
                        status="running",
                        stage="starting",
                        worker_id=self.worker_id,
                        started_at=utcnow(),
                        lease_expires_at=lease_deadline(self.lease_seconds),
                    )
                    .execution_options(synchronize_session=False)
                ).rowcount
                if claimed == 1:
                    return run_id
        return None

    def _progress(self, run_id: int, stage: str, progress: float) -> bool:
        """Record progress and extend the lease; False when the run is no longer ours."""
        with self.db.session() as session:
            return (
                session.execute(
                    update(Run)
                    .where(
                        Run.id == run_id,
                        Run.status == "running",
                        Run.worker_id == self.worker_id,
                    )
                    .values(
                        stage=stage,
                        progress=progress,
                        lease_expires_at=lease_deadline(self.lease_seconds),
                    )
                    .execution_options(synchronize_session=False)
                ).rowcount
                == 1
            )

    def _heartbeat(self, run_id: int, stop: threading.Event, state: dict[str, Any]) -> None:
        while not stop.wait(self.lease_seconds / 3):
            try:
                if not self._progress(run_id, state["stage"], state["progress"]):
                    state["lost"] = True
                    return
            except Exception:  # a missed beat is retried; the lease covers two more
                log.exception("run %s: heartbeat failed", run_id)

    # -- executing -----------------------------------------------------------------------------

    def execute(self, run_id: int) -> None:
        """Compute a claimed run and swap it in; on any failure mark it failed (the previous
        result stays current) instead of raising."""
        state: dict[str, Any] = {"stage": "computing", "progress": 0.05, "lost": False}
        stop = threading.Event()
        beat = threading.Thread(
            target=self._heartbeat, args=(run_id, stop, state), daemon=True, name="heartbeat"
        )
        beat.start()
        try:
            self._execute(run_id, state)
        except Exception as error:
            self._fail(run_id, error)
        finally:
            stop.set()
            beat.join()

    def _execute(self, run_id: int, state: dict[str, Any]) -> None:
        with self.db.read_session() as session:
            run = session.get(Run, run_id)
            segment_type = session.get(SegmentType, run.type_id)
            if segment_type is None:
                raise RunFailed("the segment type was deleted")
            segment_type.segments  # noqa: B018 - load them before the session ends
            org = session.get(Organization, run.organization_id).slug
            manual = dict(
                session.execute(
                    select(ManualOverride.customer_key, Segment.name)
                    .join(Segment, Segment.id == ManualOverride.segment_id)
                    .where(ManualOverride.type_id == segment_type.id)
                ).all()
            )
            as_of = run.as_of or date.today()
        self._progress(run_id, "computing", 0.05)
        pause_point("computing")
        store_path = getattr(self.store, "path", None)
        if store_path is not None and not Path(store_path).exists():
            # attached() would read a missing file as an empty store: the run would "succeed"
            # with no customers and wipe every automatic segment. A missing store is an error.
            raise RunFailed(
                f"the sales store {store_path} does not exist (no data imported yet, or the "
                "wrong sales store path); the previous result stays"
            )
        with self.store.attached() as con:
            computed = compute(
                con,
                org=org,
                segment_type=segment_type,
                run_id=run_id,
                as_of=as_of,
                manual=manual,
            )
            state.update(stage="writing", progress=0.5)
            self._progress(run_id, "writing", 0.5)
            table = result_table(con, computed)
        # Encoded and compared with the current result (read once per process) outside any
        # transaction: the swap only stores two blobs.
        prepared = prepare(
            self.db, table, type_id=segment_type.id, current_run=segment_type.current_run_id
        )
        if state["lost"]:
            raise RunFailed("the run's lease was lost while its result was prepared")
        pause_point("writing")
        state.update(stage="swapping", progress=0.95)
        self._progress(run_id, "swapping", 0.95)
        pause_point("before_swap")
        swap(self.db, computed, run_id=run_id, worker_id=self.worker_id, prepared=prepared)
        try:
            prune_snapshots(self.db, type_id=segment_type.id, keep=self.runs_kept)
        except Exception:  # housekeeping; the next run prunes again
            log.exception("run %s: pruning old snapshots failed", run_id)

    def _fail(self, run_id: int, error: BaseException) -> None:
        from segmint.runs.events import run_finished

        if isinstance(error, SegmintError):
            message = str(error)
        else:
            log.exception("run %s failed", run_id, exc_info=error)
            message = f"internal error ({type(error).__name__}); the worker log has the details"
        try:
            with self.db.session() as session:
                run = session.scalars(select(Run).where(Run.id == run_id).with_for_update()).first()
                if run is None or run.status != "running" or run.worker_id != self.worker_id:
                    return  # already reaped (and announced) by someone else
                run.status = "failed"
                run.stage = "failed"
                run.error = message[:2000]
                run.finished_at = utcnow()
                run.lease_expires_at = None
                discard_snapshot(session, [run_id])
                segment_type = session.get(SegmentType, run.type_id)
                if segment_type is not None:
                    run_finished(session=session, run=run, segment_type=segment_type)
        except Exception:  # the lease will expire and the run be reaped instead
            log.exception("run %s: could not record its failure", run_id)

    # -- the loop ------------------------------------------------------------------------------

    def run_once(self) -> int | None:
        """One round: start due scheduled runs, compute one queued run, deliver due webhooks.
        Returns the id of the run it computed, if any."""
        from segmint.runs.schedule import start_due_runs
        from segmint.runs.webhooks import deliver_due

        try:
            start_due_runs(self.db)
        except Exception:
            log.exception("starting scheduled runs failed")
        run_id = self.claim()
        if run_id is not None:
            self.execute(run_id)
        try:
            deliver_due(self.db)
        except Exception:
            log.exception("delivering webhooks failed")
        return run_id

    def run_forever(self, stop: threading.Event) -> None:
        log.info("worker %s started", self.worker_id)
        while not stop.is_set():
            try:
                did = self.run_once()
            except Exception:  # keep serving: a bad round must not end the worker
                log.exception("worker round failed")
                did = None
            if did is None:
                stop.wait(self.poll_seconds)
        log.info("worker %s stopped", self.worker_id)


def wait_for_run(
    db: Database,
    actor: Actor,
    run_id: int,
    *,
    on_progress: Progress | None = None,
    poll_seconds: float = 0.25,
    timeout: float | None = None,
) -> Run:
    """Poll a run until it has succeeded or failed (for ``segmint run --wait`` and tests)."""
    from segmint.runs.service import get_run

    deadline = None if timeout is None else utcnow().timestamp() + timeout
    stop = threading.Event()
    while True:
        with db.read_session() as session:
            run = get_run(session=session, actor=actor, run_id=run_id)
        if on_progress:
            on_progress(run)
        if run.status in ("succeeded", "failed"):
            return run
        if deadline is not None and utcnow().timestamp() > deadline:
            raise RunFailed(f"run {run_id} did not finish within {timeout} s (status {run.status})")
        stop.wait(poll_seconds)
