"""Concurrency: ten people pressing "Auto Assign" at the same moment start one run; an override
written while a run is under way wins over it; workers racing for queued runs never share one.
Each thread has its own session, as each request and worker does."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select

from segmint.metadata.database import Database
from segmint.runs import persist, worker
from segmint.runs.models import Run
from segmint.runs.service import start_run
from segmint.segments.schemas import SegmentSpec
from tests.runs.support import AFTER_BIG_ORDER, BASE_LINES, BIG_ORDER, Org, make_org, pareto_specs


@pytest.fixture
def org(metadata_db: Database, tmp_path: Path) -> Org:
    org = make_org(metadata_db, tmp_path)
    org.import_sales(BASE_LINES)
    return org


def together(count: int, action: Callable[[int], object]) -> tuple[list, list[BaseException]]:
    """Run ``action(i)`` in ``count`` threads released at the same moment."""
    barrier = threading.Barrier(count)
    results: list = [None] * count
    errors: list[BaseException] = []

    def body(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[i] = action(i)
        except BaseException as error:  # reported by the test, not lost in the thread
            errors.append(error)

    threads = [threading.Thread(target=body, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    return results, errors


def test_ten_simultaneous_requests_start_one_run(org: Org) -> None:
    type_id = org.create_type("Sales Performance", "pareto")

    def request(_: int) -> int:
        with org.db.session() as session:
            return start_run(session=session, actor=org.actor, type_id=type_id).id

    for _round in range(3):  # the race again once the previous run is done
        ids, errors = together(10, request)

        assert errors == []  # on SQLite: no "database is locked"
        assert len(set(ids)) == 1
        with org.db.read_session() as session:
            active = session.scalars(
                select(Run).where(Run.type_id == type_id, Run.status.in_(("queued", "running")))
            ).all()
        assert [(r.id, r.status) for r in active] == [(ids[0], "queued")]
        runner = org.worker()
        assert runner.claim() == ids[0]
        runner.execute(ids[0])
        assert org.get_run(ids[0]).status == "succeeded"
    assert len(org.runs(type_id)) == 3


@pytest.mark.parametrize("stage", ["computing", "writing", "before_swap"])
def test_an_override_written_during_a_run_wins(
    org: Org, monkeypatch: pytest.MonkeyPatch, stage: str
) -> None:
    type_id = org.create_type(
        "Sales Performance",
        "pareto",
        [*pareto_specs(80, 15, 5), SegmentSpec("Do not rank", excluded=True)],
    )
    org.run(type_id)
    org.import_sales([BIG_ORDER])  # the next run moves C05 from C to A
    reached, resume = threading.Event(), threading.Event()

    def pause(at: str) -> None:  # the worker's own fault point, held until the override is in
        if at == stage:
            reached.set()
            assert resume.wait(60)

    monkeypatch.setattr(worker, "pause_point", pause)
    monkeypatch.setattr(persist, "pause_point", pause)
    run_id = org.start(type_id).id
    runner = org.worker()
    assert runner.claim() == run_id
    thread = threading.Thread(target=runner.execute, args=(run_id,))
    thread.start()
    try:
        assert reached.wait(60)
        org.set_override(type_id, "C05", "Do not rank", reason="in liquidation")
    finally:
        resume.set()
        thread.join(timeout=60)

    done = org.get_run(run_id)
    assert done.status == "succeeded", done.error
    assert org.current_run_id(type_id) == run_id
    assert done.params["manual_overrides"] == 0  # the run started before the override
    assert org.automatic_names(type_id, run_id) == AFTER_BIG_ORDER
    excluded = org.segment_ids(type_id)["Do not rank"]
    assert org.overrides(type_id) == {"C05": (excluded, "in liquidation")}
    row = org.effective(type_id)["C05"]
    assert (row.automatic, row.manual, row.effective) == ("A", "Do not rank", "Do not rank")
    last = [h for h in org.history(type_id) if h.customer_key == "C05"][-1]
    assert last.effective_to == "Do not rank"


def test_racing_workers_never_take_the_same_run(org: Org) -> None:
    queued = set()
    for i in range(8):
        type_id = org.create_type(f"Type {i}", "pareto")
        queued.add(org.start(type_id).id)
    workers = [org.worker(worker_id=f"worker-{i}") for i in range(4)]

    def drain(i: int) -> list[int]:
        taken = []
        while (run_id := workers[i].claim()) is not None:
            taken.append(run_id)
        return taken

    taken, errors = together(4, drain)

    assert errors == []
    claimed = [run_id for runs in taken for run_id in runs]
    assert sorted(claimed) == sorted(queued)  # each exactly once
    with org.db.read_session() as session:
        holders = dict(session.execute(select(Run.id, Run.worker_id)).all())
    for i, runs in enumerate(taken):
        assert {holders[run_id] for run_id in runs} <= {f"worker-{i}"}
