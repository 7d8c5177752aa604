"""The web app's start and shutdown: it migrates the metadata database and runs a worker
thread that computes queued runs (unless ``worker_in_process`` is off)."""

from __future__ import annotations

from datetime import date

from starlette.testclient import TestClient

from segmint.accounts.service import system_actor
from segmint.metadata.migrate import current_revision, head_revision
from segmint.runs.service import start_run
from segmint.runs.worker import wait_for_run
from segmint.segments.service import create_type
from segmint.settings import Settings
from segmint.store import SalesStore
from segmint.web.app import create_app


def _sales(settings: Settings) -> None:
    """Three customers of ``acme``: 700, 200 and 100 in 2025 (so A, B and C at 70/20/10)."""
    with SalesStore.from_settings(settings).connect() as con:
        con.execute(
            """
            INSERT INTO sales_lines (org, document_id, line_no, invoice_date, customer_id,
                                     net_amount)
            VALUES ('acme', 'I1', 1, DATE '2025-03-01', 'K1', 700),
                   ('acme', 'I2', 1, DATE '2025-03-02', 'K2', 200),
                   ('acme', 'I3', 1, DATE '2025-03-03', 'K3', 100)
            """
        )


def test_start_migrates_and_the_worker_computes_queued_runs(settings: Settings) -> None:
    _sales(settings)
    app = create_app(settings)
    with TestClient(app):
        db = app.state.db
        assert current_revision(db) == head_revision(db)
        assert app.state.worker is not None and app.state.worker.alive
        with db.session() as session:
            actor = system_actor(session=session, org="acme")
            segment_type = create_type(session=session, actor=actor, name="ABC", method="pareto")
            run = start_run(
                session=session, actor=actor, type_id=segment_type.id, as_of=date(2025, 6, 30)
            )
        finished = wait_for_run(db, actor, run.id, timeout=60)
        assert finished.status == "succeeded", finished.error
        assert finished.summary["customers"] == 3
        worker = app.state.worker
    assert not worker.alive  # stopped with the app


def test_the_worker_thread_can_be_turned_off(settings: Settings) -> None:
    off = settings.model_copy(update={"worker_in_process": False})
    app = create_app(off)
    with TestClient(app):
        assert app.state.worker is None
        assert current_revision(app.state.db) == head_revision(app.state.db)
