"""A worker killed (SIGKILL) after preparing a run's result, just before the swap or in the
middle of the swap's transaction leaves the previous result exactly as it was and nothing of its
own (a result is only written in the swap's transaction); its run stays 'running' until its
lease expires, is then marked failed, and the next run gives what a clean run gives.

The worker is a real process (``Worker.run_once`` in ``python -c``), stopped at a fault point
by ``SEGMINT_FAULT_PAUSE``. On SQLite, a kill inside the swap leaves an uncommitted transaction
in the WAL; the next connection recovers the database, which this test relies on too.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from segmint.assignments.models import RunChanges, RunResult
from segmint.metadata.database import Database
from segmint.metadata.migrate import upgrade
from segmint.runs.service import reap_expired
from tests.runs.support import AFTER_BIG_ORDER, BASE_LINES, BIG_ORDER, Org, make_org

LEASE_SECONDS = 1.0  # short, so the test waits little for it to expire
WORKER = """
import sys
from segmint.metadata.database import Database
from segmint.runs.worker import Worker
from segmint.store import SalesStore

url, store, lease = sys.argv[1], sys.argv[2], float(sys.argv[3])
worker = Worker(db=Database(url), store=SalesStore(store), lease_seconds=lease, worker_id="doomed")
worker.run_once()
"""


def start_worker(org: Org, stage: str, pause_file: Path) -> subprocess.Popen:
    env = {**os.environ, "SEGMINT_FAULT_PAUSE": stage, "SEGMINT_FAULT_PAUSE_FILE": str(pause_file)}
    return subprocess.Popen(
        [sys.executable, "-c", WORKER, org.db.url, str(org.store.path), str(LEASE_SECONDS)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_pause(worker: subprocess.Popen, pause_file: Path, stage: str) -> None:
    deadline = time.monotonic() + 60
    while not pause_file.exists():
        if worker.poll() is not None:
            _, err = worker.communicate()
            pytest.fail(f"the worker ended (exit {worker.returncode}) before {stage}:\n{err}")
        if time.monotonic() > deadline:
            worker.kill()
            pytest.fail(f"the worker did not reach {stage} within 60 s")
        time.sleep(0.05)
    assert pause_file.read_text() == stage


def partial_rows(org: Org, run_id: int) -> int:
    """What the run left in the metadata database: parts of its result or changes."""
    with org.db.read_session() as session:
        return sum(
            session.scalar(select(func.count()).select_from(model).where(model.run_id == run_id))
            for model in (RunResult, RunChanges)
        )


@pytest.mark.parametrize("stage", ["writing", "before_swap", "during_swap"])
def test_a_killed_worker_leaves_the_previous_result(
    metadata_db: Database, tmp_path: Path, stage: str
) -> None:
    org = make_org(metadata_db, tmp_path)
    org.import_sales(BASE_LINES)
    type_id = org.create_type("Sales Performance", "pareto")
    previous = org.run(type_id)
    org.set_override(type_id, "C07", "A", reason="strategic account")
    org.import_sales([BIG_ORDER])  # the killed run would have changed C04 and C05
    before = (
        org.effective(type_id),
        org.history_rows(type_id),
        org.assignments(previous.id),
        org.overrides(type_id),
    )

    doomed = org.start(type_id)
    pause_file = tmp_path / "paused"
    worker = start_worker(org, stage, pause_file)
    try:
        wait_for_pause(worker, pause_file, stage)
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.communicate(timeout=30)
    assert worker.returncode == -signal.SIGKILL

    # Right after the kill: the previous result, untouched; the run still the worker's.
    assert org.current_run_id(type_id) == previous.id
    after = (
        org.effective(type_id),
        org.history_rows(type_id),
        org.assignments(previous.id),
        org.overrides(type_id),
    )
    assert after == before
    run = org.get_run(doomed.id)
    assert (run.status, run.worker_id) == ("running", "doomed")
    with org.db.session() as session:  # its lease has not expired: nobody takes it away
        assert (
            reap_expired(session=session, now=run.lease_expires_at - timedelta(milliseconds=1))
            == []
        )
    assert org.get_run(doomed.id).status == "running"
    # Nothing is written before the swap, and a swap killed midway commits nothing.
    assert partial_rows(org, doomed.id) == 0

    # Once the lease has expired, the next request marks it failed and starts afresh.
    while (lease := org.get_run(doomed.id).lease_expires_at) is not None and (
        lease.timestamp() > time.time()
    ):
        time.sleep(0.1)
    fresh = org.start(type_id)
    assert fresh.id != doomed.id
    dead = org.get_run(doomed.id)
    assert (dead.status, dead.stage) == ("failed", "failed")
    assert "lease expired" in dead.error and dead.finished_at is not None
    assert partial_rows(org, doomed.id) == 0
    assert not [h for h in org.history(type_id) if h.run_id == doomed.id]
    assert org.current_run_id(type_id) == previous.id
    assert org.effective(type_id) == before[0]

    # The next run succeeds, with what a clean run on the same data gives.
    worker_ = org.worker()
    assert worker_.claim() == fresh.id
    worker_.execute(fresh.id)
    done = org.get_run(fresh.id)
    assert done.status == "succeeded", done.error
    assert org.current_run_id(type_id) == fresh.id
    assert org.automatic_names(type_id, fresh.id) == clean_result(org, tmp_path)
    assert org.automatic_names(type_id, fresh.id) == AFTER_BIG_ORDER
    assert org.overrides(type_id) == before[3]
    assert org.effective_names(type_id) == {**AFTER_BIG_ORDER, "C07": "A"}


def clean_result(org: Org, tmp_path: Path) -> dict[str, str | None]:
    """The same type, override and sales, run once in a fresh metadata database."""
    db = Database(f"sqlite:///{tmp_path / 'clean.sqlite3'}")
    try:
        upgrade(db)
        clean = Org(db, org.store, tmp_path / "clean-files", org.slug)
        type_id = clean.create_type("Sales Performance", "pareto")
        clean.set_override(type_id, "C07", "A", reason="strategic account")
        run = clean.run(type_id)
        assert run.status == "succeeded", run.error
        return clean.automatic_names(type_id, run.id)
    finally:
        db.dispose()
