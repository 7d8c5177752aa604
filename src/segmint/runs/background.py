"""A worker configured from the settings, and its loop on a thread of another process (the web
app's worker when ``SEGMINT_WORKER_IN_PROCESS`` is on)."""

from __future__ import annotations

import logging
import threading
from typing import Any

from segmint.metadata.database import Database
from segmint.runs.worker import Worker
from segmint.store import SalesStore

log = logging.getLogger(__name__)

#: How long stopping waits for a run in progress before leaving it to its lease.
STOP_TIMEOUT_SECONDS = 10.0


def make_worker(settings: Any, db: Database, *, store: SalesStore | None = None) -> Worker:
    """A worker with the settings' lease and number of snapshots kept."""
    return Worker(
        db=db,
        store=store or SalesStore.from_settings(settings),
        lease_seconds=settings.run_lease_seconds,
        runs_kept=settings.runs_kept,
    )


class WorkerThread:
    """``worker.run_forever`` on a daemon thread, with a clean stop."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=worker.run_forever, args=(self._stop,), name="segmint-worker", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = STOP_TIMEOUT_SECONDS) -> None:
        """Stop after the current round. A run still computing after ``timeout`` seconds is
        abandoned: the process exits, its lease expires and it is marked failed, leaving the
        previous result in place."""
        self._stop.set()
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.warning(
                "the worker is still computing a run; leaving it (it is marked failed when its "
                "lease expires)"
            )

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()
