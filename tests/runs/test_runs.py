"""Runs end to end on a real store and worker: the history they write, their summary, VAT
identity, failures that leave the previous result in place, pruning, schedules and runs after an
import."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from segmint.assignments.models import RunResult, SegmentHistory
from segmint.assignments.service import effective_segments
from segmint.metadata.base import utcnow
from segmint.metadata.database import Database
from segmint.runs.models import Run
from segmint.runs.schedule import start_due_runs, start_runs_after_import
from segmint.segments import service as segments
from segmint.segments.models import SegmentType
from tests.runs.support import (
    AFTER_BIG_ORDER,
    BASE_ABC,
    BASE_LINES,
    BIG_ORDER,
    Line,
    Org,
    make_org,
)


@pytest.fixture
def org(metadata_db: Database, tmp_path: Path) -> Org:
    org = make_org(metadata_db, tmp_path)
    org.import_sales(BASE_LINES)
    return org


def test_history_is_written_for_the_customers_whose_segment_changed(org: Org) -> None:
    type_id = org.create_type("Sales Performance", "pareto")
    first = org.run(type_id)
    assert first.summary["changed"] == 12
    assert {
        (h.customer_key, h.auto_from, h.auto_to, h.effective_to, h.run_id, h.source)
        for h in org.history(type_id)
    } == {(key, None, segment, segment, first.id, "run") for key, segment in BASE_ABC.items()}

    again = org.run(type_id)  # nothing changed: nothing to write
    assert again.summary["changed"] == 0
    assert len(org.history(type_id)) == 12

    org.set_override(type_id, "C04", "A", reason="new frame contract")
    org.import_sales([BIG_ORDER])
    third = org.run(type_id)

    assert third.summary["changed"] == 2
    changes = [h for h in org.history(type_id) if h.run_id == third.id]
    assert [
        (h.customer_key, h.auto_from, h.auto_to, h.effective_from, h.effective_to, h.source)
        for h in sorted(changes, key=lambda h: h.customer_key)
    ] == [
        ("C04", "B", "C", "A", "A", "run"),  # the override wins on both sides
        ("C05", "C", "A", "C", "A", "run"),
    ]
    assert org.automatic_names(type_id, third.id) == AFTER_BIG_ORDER
    assert org.effective_names(type_id) == {**BASE_ABC, "C04": "A", "C05": "A"}


def test_the_summary_counts_customers_pool_and_segments(org: Org) -> None:
    org.import_customers([(f"C{i:02d}", None) for i in range(14)])  # C12, C13 never bought
    org.import_sales([Line("D200", "C11", date(2024, 6, 1), Decimal(999))])  # outside the period
    type_id = org.create_type("Sales Performance", "pareto")
    run = org.run(type_id)

    assert run.summary == {
        "as_of": "2025-12-31",
        "period": ["2025-01-01", "2025-12-31"],
        "customers": 14,
        "pool": 12,
        "segments": {
            "A": {"customers": 2, "sales": "8000.0000"},
            "B": {"customers": 3, "sales": "1500.0000"},
            "C": {"customers": 7, "sales": "500.0000"},
            "": {"customers": 2, "sales": "0"},  # outside the pool, and no default segment
        },
        "changed": 12,
    }
    assert run.params["manual_overrides"] == 0
    assert (run.trigger, run.as_of, run.progress, run.stage) == (
        "manual",
        date(2025, 12, 31),
        1.0,
        "done",
    )
    assert run.started_at <= run.finished_at


def test_a_vat_type_sums_by_vat_number_and_counts_who_has_none(org: Org) -> None:
    org.import_customers(
        [
            ("C00", "DE136695976"),
            ("C01", "de 136 695 976"),  # the same company, written differently
            ("C02", "NL004495445B01"),
            ("C03", "DE136695977"),  # wrong check digit
            ("C04", None),
        ]
    )
    type_id = org.create_type("Group Sales", "pareto", identity="vat", shared=True)
    run = org.run(type_id)

    assert run.status == "succeeded", run.error
    assert run.summary["customers_without_vat"] == 2
    assert run.summary["customers"] == 2
    with org.db.read_session() as session:
        rows = effective_segments(session=session, actor=org.actor, type_id=type_id)
    assert {r.customer_key: r.eligible_sales for r in rows} == {
        "DE136695976": Decimal(8000),
        "NL004495445B01": Decimal(600),
    }
    assert org.effective_names(type_id) == {"DE136695976": "A", "NL004495445B01": "B"}
    org.set_override(type_id, "NL004495445B01", "A", reason="group deal")
    assert org.effective_names(type_id)["NL004495445B01"] == "A"


def _break_thresholds(org: Org, type_id: int) -> None:
    with org.db.session() as session:  # behind the service's back: 80/15/50 (in 1/10000 %)
        session.execute(
            text("UPDATE segments SET threshold = 500000 WHERE type_id = :t AND name = 'C'"),
            {"t": type_id},
        )


def _remove_store(org: Org, type_id: int) -> None:
    org.store.path.rename(org.store.path.with_suffix(".moved"))


def _corrupt_store(org: Org, type_id: int) -> None:
    org.store.path.rename(org.store.path.with_suffix(".moved"))
    org.store.path.write_bytes(b"this is not a DuckDB file\n" * 100)


@pytest.mark.parametrize(
    ("breakage", "message"),
    [
        pytest.param(_break_thresholds, "add up to 145.0000 %", id="invalid-type"),
        pytest.param(_remove_store, "does not exist", id="store-missing"),
        pytest.param(_corrupt_store, "internal error", id="store-corrupt"),
    ],
)
def test_a_failed_run_leaves_the_previous_result(org: Org, breakage, message: str) -> None:
    type_id = org.create_type("Sales Performance", "pareto")
    good = org.run(type_id)
    org.set_override(type_id, "C07", "B", reason="keep an eye on them")
    org.import_sales([BIG_ORDER])  # a successful run would change two customers
    before = (org.effective(type_id), org.history_rows(type_id), org.assignments(good.id))

    breakage(org, type_id)
    failed = org.run(type_id)

    assert failed.status == "failed"
    assert message in failed.error
    assert failed.finished_at is not None and failed.lease_expires_at is None
    assert org.current_run_id(type_id) == good.id
    assert (org.effective(type_id), org.history_rows(type_id), org.assignments(good.id)) == before
    assert org.assignments(failed.id) == {}

    # Repaired, it runs again.
    if breakage is _break_thresholds:
        with org.db.session() as session:
            session.execute(
                text("UPDATE segments SET threshold = 50000 WHERE type_id = :t AND name = 'C'"),
                {"t": type_id},
            )
    else:
        org.store.path.unlink(missing_ok=True)
        org.store.path.with_suffix(".moved").rename(org.store.path)
    fixed = org.run(type_id)
    assert fixed.status == "succeeded", fixed.error
    assert org.automatic_names(type_id, fixed.id) == AFTER_BIG_ORDER


def test_old_snapshots_are_pruned_to_runs_kept(org: Org) -> None:
    type_id = org.create_type("Sales Performance", "pareto")
    worker = org.worker(runs_kept=2)
    ids = []
    for i in range(4):
        org.import_sales([Line(f"P{i}", "C11", date(2025, 6, 1), Decimal(1))])
        ids.append(org.run(type_id, worker=worker).id)
    history = org.history_rows(type_id)

    assert [r.status for r in org.runs(type_id)] == ["succeeded"] * 4
    with org.db.read_session() as session:
        kept = set(session.scalars(select(RunResult.run_id).distinct()))
    assert kept == set(ids[-2:])
    assert org.current_run_id(type_id) == ids[-1]
    assert org.history_rows(type_id) == history  # history is never pruned


def test_a_due_schedule_queues_a_run_and_moves_on(org: Org) -> None:
    type_id = org.create_type("Sales Performance", "pareto", schedule="0 6 * * *")
    other = org.create_type("Not scheduled", "pareto")
    assert start_due_runs(org.db) == []  # the first time is still ahead

    with org.db.session() as session:
        session.get(SegmentType, type_id).next_run_at = utcnow() - timedelta(minutes=5)
    (run,) = start_due_runs(org.db)

    assert (run.type_id, run.trigger, run.status) == (type_id, "schedule", "queued")
    next_at = org.segment_type(type_id).next_run_at
    assert next_at > utcnow() and (next_at.hour, next_at.minute) == (6, 0)
    assert start_due_runs(org.db) == []
    assert org.runs(other) == []

    # Due again while its run is still queued: the same run, and the time moves on all the same.
    with org.db.session() as session:
        session.get(SegmentType, type_id).next_run_at = utcnow() - timedelta(minutes=5)
    assert [r.id for r in start_due_runs(org.db)] == [run.id]
    assert org.segment_type(type_id).next_run_at > utcnow()

    assert org.worker().run_once() == run.id
    assert org.get_run(run.id).status == "succeeded"
    assert len(org.runs(type_id)) == 1


def test_an_import_queues_the_types_that_follow_the_data(org: Org, tmp_path: Path) -> None:
    # Import-triggered runs compute as of the day they run, so this organization buys recently:
    # 800 / 150 / 50 is A / B / C (B and C start at exactly 80 % and 95 % ahead of them).
    recent = make_org(org.db, tmp_path / "beta", "beta")
    day = date.today() - timedelta(days=10)
    recent.import_sales(
        [Line(f"R{i}", f"K{i}", day, Decimal(a)) for i, a in enumerate((800, 150, 50))]
    )
    follows = recent.create_type("Sales Performance", "pareto", run_after_import=True)
    manual = recent.create_type("Visit Priority", "pareto")
    first = recent.run(follows, as_of=None)
    recent.run(manual, as_of=None)
    assert recent.effective_names(follows) == {"K0": "A", "K1": "B", "K2": "C"}

    # K2 buys 2,000 more: K2 2050, K0 800 (68 % ahead: A), K1 150 (95 % ahead: C).
    recent.import_sales([Line("R9", "K2", day, Decimal(2000))])
    (run,) = start_runs_after_import(org.db, org="beta")
    assert start_runs_after_import(org.db, org="nobody") == []
    assert (run.type_id, run.trigger, run.status, run.as_of) == (follows, "import", "queued", None)
    assert [r.status for r in recent.runs(manual)] == ["succeeded"]

    worker = recent.worker()
    assert worker.claim() == run.id
    worker.execute(run.id)
    done = recent.get_run(run.id)
    assert (done.status, done.summary["changed"]) == ("succeeded", 2)
    assert recent.current_run_id(follows) == run.id != first.id
    assert recent.effective_names(follows) == {"K0": "A", "K1": "C", "K2": "A"}
    assert recent.effective_names(manual) == {"K0": "A", "K1": "B", "K2": "C"}  # until run


@pytest.mark.parametrize("metadata_url", ["sqlite"], indirect=True)
def test_deleting_a_type_takes_its_queued_run_with_it(org: Org) -> None:
    type_id = org.create_type("Sales Performance", "pareto")
    org.create_type("Kept", "pareto")
    run = org.start(type_id)
    with org.db.session() as session:
        segments.delete_type(session=session, actor=org.actor, type_id=type_id)
    worker = org.worker()
    assert worker.claim() is None  # the run went with its type
    with org.db.read_session() as session:
        assert session.get(Run, run.id) is None
        assert session.scalar(select(func.count()).select_from(SegmentHistory)) == 0
