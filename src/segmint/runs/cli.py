"""``segmint run TYPE`` and ``segmint worker``.

``run --wait`` computes the run itself when nothing else does: a CLI user may have no server
running. It starts a worker thread in this process that takes queued runs, oldest first, until
this run is done (a run queued earlier is computed first, as it would be anyway), while the main
thread shows the run's progress from its row. If a server or ``segmint worker`` takes the run
first, the thread just waits along; the claim is atomic, so a run is never computed twice.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from datetime import date
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from segmint.cli_support import OrgOption, exits_on_domain_errors, open_database, open_org, say
from segmint.progress import progress_bar
from segmint.settings import Settings

if TYPE_CHECKING:
    from segmint.accounts.actor import Actor
    from segmint.metadata.database import Database
    from segmint.runs.models import Run
    from segmint.runs.worker import Worker

log = logging.getLogger(__name__)


def _parse_day(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(
            f"{value!r}: write the date as YYYY-MM-DD", param_hint="--as-of"
        ) from None


def _compute_until(worker: Worker, run_id: int, stop: threading.Event) -> None:
    """Take queued runs until ``run_id`` has been computed here or ``stop`` is set."""
    while not stop.is_set():
        try:
            claimed = worker.claim()
        except Exception:  # e.g. the database is briefly locked; try again
            log.exception("claiming a run failed")
            claimed = None
        if claimed is None:
            stop.wait(worker.poll_seconds)
            continue
        worker.execute(claimed)  # never raises: a failure is recorded on the run
        if claimed == run_id:
            return


def _wait(settings: Settings, db: Database, actor: Actor, run_id: int) -> Run:
    from segmint.runs.background import make_worker
    from segmint.runs.worker import wait_for_run

    worker = make_worker(settings, db)
    stop = threading.Event()
    helper = threading.Thread(
        target=_compute_until, args=(worker, run_id, stop), name="run-worker", daemon=True
    )
    helper.start()
    try:
        with progress_bar(Console(stderr=True), f"run {run_id}", transient=True) as bar:
            run = wait_for_run(
                db,
                actor,
                run_id,
                on_progress=lambda r: bar(f"run {run_id}: {r.stage}", r.progress),
            )
    except KeyboardInterrupt:
        # Not waiting for the computation: a run this process took is marked failed when its
        # lease expires; a queued one stays queued for the server or a worker.
        say(f"interrupted; run {run_id} is left to the server or `segmint worker`", err=True)
        raise typer.Exit(130) from None
    finally:
        stop.set()
    helper.join()
    return run


def _summary(run: Run) -> str:
    from segmint.segments.cli_display import segment_counts

    summary = run.summary or {}
    counts = segment_counts(summary)
    seconds = (
        f" in {(run.finished_at - run.started_at).total_seconds():.1f} s"
        if run.finished_at and run.started_at
        else ""
    )
    return (
        f"Run {run.id} succeeded{seconds}: {summary.get('customers', 0):,} customers as of "
        f"{summary.get('as_of', '?')}" + (f" ({counts})" if counts else "")
    )


@exits_on_domain_errors
def run_command(
    type_: Annotated[str, typer.Argument(metavar="TYPE", help="The segment type's name or id.")],
    org: OrgOption = None,
    wait: Annotated[
        bool,
        typer.Option(
            "--wait",
            help="Show progress until the run is done, computing it in this process when no "
            "server or worker takes it. Exit code 1 when it fails.",
        ),
    ] = False,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            metavar="YYYY-MM-DD",
            help="Compute the periods as of this day (default: the day it is computed).",
        ),
    ] = None,
) -> None:
    """Start a run of a segment type and print its id.

    When the type already has a run queued or running, that run is joined instead.
    """
    from segmint.errors import RunFailed
    from segmint.runs.service import active_run, start_run
    from segmint.segments.service import find_type

    day = _parse_day(as_of)
    context = open_org(org)
    with context.db.session() as session:
        segment_type = find_type(session=session, actor=context.actor, name_or_id=type_)
        joined = active_run(session, segment_type.id) is not None
        run = start_run(session=session, actor=context.actor, type_id=segment_type.id, as_of=day)
        session.flush()
        run_id, status, name, run_as_of = run.id, run.status, segment_type.name, run.as_of
    if joined:
        say(f"Run {run_id} of {name!r} was already {status}; joined it.")
        if day is not None and run_as_of != day:
            say(f"note: that run computes as of {run_as_of or 'its start day'}, not {day}.")
    else:
        say(f"Run {run_id} of {name!r} queued.")
    if not wait:
        return
    finished = _wait(context.settings, context.db, context.actor, run_id)
    if finished.status == "failed":
        raise RunFailed(f"run {run_id} failed: {finished.error}")
    say(_summary(finished))


def _stop_on_signals(stop: threading.Event) -> None:
    """SIGINT/SIGTERM: finish the current run, then stop. A second one stops at once (the run
    is then marked failed when its lease expires)."""

    def handle(signum: int, _frame: Any) -> None:
        if stop.is_set():
            raise SystemExit(128 + signum)
        log.info("stopping after the current round (%s)", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGINT, handle)
    signal.signal(signal.SIGTERM, handle)


@exits_on_domain_errors
def worker_command(
    once: Annotated[
        bool,
        typer.Option(
            "--once",
            help="Do one round (due schedules, one queued run, webhooks) and exit.",
        ),
    ] = False,
) -> None:
    """Compute queued and scheduled runs and deliver webhooks until stopped.

    Serves every organization until SIGINT or SIGTERM (the current run is finished first).
    Run it when the web app's own worker is off (SEGMINT_WORKER_IN_PROCESS=false); several
    may run at once on PostgreSQL.
    """
    logging.basicConfig(
        level=logging.WARNING,  # Alembic's INFO lines at every start are noise here
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("segmint").setLevel(logging.INFO)
    from segmint.runs.background import make_worker

    settings = Settings()
    db = open_database(settings)
    worker = make_worker(settings, db)
    if once:
        run_id = worker.run_once()
        if run_id is None:
            log.info("no queued run")
        else:
            log.info("computed run %s", run_id)
        return
    stop = threading.Event()
    _stop_on_signals(stop)
    worker.run_forever(stop)
