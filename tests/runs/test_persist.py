"""Persisting a run: the changed customers found in DuckDB give exactly the history the SQL
comparison gives (every kind of change, awkward keys, overrides), a run falls back to the SQL
comparison when it cannot read the previous result, and the ``segment.changed`` list is built
only for an endpoint that takes it."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from segmint.assignments.models import Assignment, ManualOverride, SegmentHistory
from segmint.metadata.base import utcnow
from segmint.metadata.database import Database
from segmint.runs import events, persist
from segmint.runs.compute import Computed, compute
from segmint.runs.models import WebhookDelivery
from segmint.runs.webhooks import add_endpoint
from tests.runs.support import AFTER_BIG_ORDER, BASE_ABC, BASE_LINES, BIG_ORDER, Org, make_org

OLD_RUN, NEW_RUN = 1001, 1002  # snapshot rows need no run row

# customer key -> (segment in the old run, segment in the new run); "-" means no row at all.
CASES = {
    "same": ("A", "A"),
    "moved": ("A", "B"),
    "left": ("B", "-"),
    "left-unassigned": (None, "-"),
    "came": ("-", "C"),
    "came-unassigned": ("-", None),
    "dropped-out": ("C", None),
    "dropped-in": (None, "A"),
    "unassigned": (None, None),
    'quote " comma , semicolon ;': ("C", "A"),
    "new\nline": ("B", "B"),
    "ünïcödé ключ": ("B", "C"),
    "overridden": ("C", "A"),
    "": ("A", "A"),  # SQLite and PostgreSQL take an empty key; so must the comparison
}


@pytest.fixture
def org(metadata_db: Database, tmp_path: Path) -> Org:
    return make_org(metadata_db, tmp_path)


def _snapshots(org: Org, type_id: int) -> dict[str, int]:
    ids = org.segment_ids(type_id)
    rows = []
    for key, segments in CASES.items():
        for run_id, segment in zip((OLD_RUN, NEW_RUN), segments, strict=True):
            if segment != "-":
                segment_id = ids[segment] if segment else None
                rows.append({"run_id": run_id, "customer_key": key, "segment_id": segment_id})
    with org.db.session() as session:
        session.execute(insert(Assignment), rows)
        session.add(
            ManualOverride(
                organization_id=org.actor.organization_id,
                type_id=type_id,
                customer_key="overridden",
                segment_id=ids["B"],
            )
        )
    return ids


def _new_result(con: duckdb.DuckDBPyConnection, ids: dict[str, int]) -> Computed:
    new = [(k, ids[s] if s else None) for k, (_, s) in CASES.items() if s != "-"]
    table = pa.table(
        {
            "customer_key": [k for k, _ in new],
            "segment_id": pa.array([s for _, s in new], pa.int32()),
        }
    )
    con.register("staged", table)
    con.execute("CREATE TEMP TABLE run_1002_result AS SELECT * FROM staged")
    return Computed(sql="SELECT * FROM run_1002_result", table="run_1002_result")


def _history(db: Database, type_id: int, listed: persist.Changes | None) -> list[tuple]:
    """The history rows a swap would write (rolled back afterwards)."""
    with Session(db.engine) as session:
        params = {
            "org": 1,
            "type_id": type_id,
            "at": utcnow(),
            "run_id": NEW_RUN,
            "old_run": OLD_RUN,
        }
        changed = persist._write_history(session, db.dialect, params, first=False, listed=listed)
        rows = session.execute(
            select(
                SegmentHistory.customer_key,
                SegmentHistory.auto_from,
                SegmentHistory.auto_to,
                SegmentHistory.effective_from,
                SegmentHistory.effective_to,
                SegmentHistory.run_id,
            ).where(SegmentHistory.run_id == NEW_RUN)
        ).all()
        session.rollback()
    assert changed == len(rows)
    return sorted(tuple(r) for r in rows)


def test_changes_found_in_duckdb_write_the_history_sql_writes(org: Org) -> None:
    type_id = org.create_type("Sales Performance", "pareto")
    ids = _snapshots(org, type_id)
    names = {i: n for n, i in ids.items()}

    old = persist.read_segments(org.db, OLD_RUN)
    assert sorted(old.to_pylist(), key=lambda r: r["customer_key"]) == sorted(
        (
            {"customer_key": k, "segment_id": ids[s] if s else None}
            for k, (s, _) in CASES.items()
            if s != "-"
        ),
        key=lambda r: r["customer_key"],
    )
    con = duckdb.connect()
    changes = persist.changed_segments(
        con, _new_result(con, ids), persist.PreviousSegments(org.db, OLD_RUN)
    )
    assert changes is not None and changes.old_run == OLD_RUN
    found = {key: (names.get(old_id), names.get(new_id)) for key, old_id, new_id in changes.rows}
    expected = {
        key: (None if old == "-" else old, None if new == "-" else new)
        for key, (old, new) in CASES.items()
        if (None if old == "-" else old) != (None if new == "-" else new)
    }
    assert found == expected
    assert len(changes.rows) == len(expected)

    by_sql = _history(org.db, type_id, None)
    assert _history(org.db, type_id, changes) == by_sql
    assert {row[0]: row[1:5] for row in by_sql} == {
        **{key: (old, new, old, new) for key, (old, new) in expected.items()},
        "overridden": ("C", "A", "B", "B"),  # the override wins on both sides
    }


def test_a_key_the_fast_reading_cannot_carry_leaves_the_comparison_to_sql(org: Org) -> None:
    with org.db.session() as session:
        session.execute(
            insert(Assignment),
            [
                {"run_id": OLD_RUN, "customer_key": "a\x01b", "segment_id": 1},
                {"run_id": OLD_RUN, "customer_key": "c", "segment_id": None},
            ],
        )
    table = persist.read_segments(org.db, OLD_RUN)
    if org.db.dialect == "postgresql":  # keys are joined by U+0001 there
        assert table is None
        con = duckdb.connect()
        computed = Computed(sql="", table="unused")
        assert (
            persist.changed_segments(con, computed, persist.PreviousSegments(org.db, OLD_RUN))
            is None
        )
    else:
        assert sorted(table.to_pylist(), key=lambda r: r["customer_key"]) == [
            {"customer_key": "a\x01b", "segment_id": 1},
            {"customer_key": "c", "segment_id": None},
        ]
    assert persist.read_segments(org.db, 4242).num_rows == 0  # a run without rows


def test_no_change_writes_no_history(org: Org) -> None:
    type_id = org.create_type("Sales Performance", "pareto")
    _snapshots(org, type_id)
    assert _history(org.db, type_id, persist.Changes(old_run=OLD_RUN, rows=[])) == []


def test_a_run_compares_in_sql_when_the_previous_result_cannot_be_read(
    org: Org, monkeypatch: pytest.MonkeyPatch
) -> None:
    org.import_sales(BASE_LINES)
    type_id = org.create_type("Sales Performance", "pareto")
    first = org.run(type_id)
    org.set_override(type_id, "C04", "A", reason="new frame contract")
    org.import_sales([BIG_ORDER])

    def broken(db: Database, run_id: int) -> pa.Table:
        raise RuntimeError("no such function: json_group_array")

    listed = []
    monkeypatch.setattr(persist, "read_segments", broken)
    real_write = persist._write_history
    monkeypatch.setattr(
        persist,
        "_write_history",
        lambda *args, **kwargs: listed.append(kwargs["listed"]) or real_write(*args, **kwargs),
    )
    second = org.run(type_id)

    assert listed == [None]
    assert (second.status, second.summary["changed"]) == ("succeeded", 2)
    assert sorted(
        (h.customer_key, h.auto_from, h.auto_to, h.effective_from, h.effective_to)
        for h in org.history(type_id)
        if h.run_id == second.id
    ) == [("C04", "B", "C", "A", "A"), ("C05", "C", "A", "C", "A")]
    assert org.current_run_id(type_id) == second.id != first.id
    assert org.automatic_names(type_id, second.id) == AFTER_BIG_ORDER


def test_changes_against_a_run_that_is_no_longer_current_are_not_used(org: Org) -> None:
    org.import_sales(BASE_LINES)
    type_id = org.create_type("Sales Performance", "pareto")
    org.run(type_id)
    org.import_sales([BIG_ORDER])
    run = org.start(type_id)
    worker = org.worker()
    assert worker.claim() == run.id
    with org.store.attached() as con:
        computed = compute(
            con,
            org=org.slug,
            segment_type=org.segment_type(type_id),
            run_id=run.id,
            as_of=run.as_of,
            manual={},
        )
        persist.write_snapshot(org.db, con, computed, run_id=run.id, worker_id=worker.worker_id)
    stale = persist.Changes(old_run=-5, rows=[("C00", None, 1)])  # compared with another run
    persist.swap(org.db, computed, run_id=run.id, worker_id=worker.worker_id, changes=stale)

    done = org.get_run(run.id)
    assert (done.status, done.summary["changed"]) == ("succeeded", 2)
    assert sorted(h.customer_key for h in org.history(type_id) if h.run_id == run.id) == [
        "C04",
        "C05",
    ]


@pytest.mark.parametrize("subscribed", [True, False])
def test_the_changes_are_listed_only_for_an_endpoint_that_takes_them(
    org: Org, monkeypatch: pytest.MonkeyPatch, subscribed: bool
) -> None:
    org.import_sales(BASE_LINES)
    type_id = org.create_type("Sales Performance", "pareto")
    with org.db.session() as session:
        add_endpoint(
            session=session,
            actor=org.actor,
            url="https://hooks.example/segmint",
            events=["segment.changed" if subscribed else "run.failed"],
        )
    listings = []

    real = events.segments_changed

    def spy(**kwargs):
        changes = kwargs["changes"]

        def counted():
            listings.append(1)
            return changes()

        return real(**{**kwargs, "changes": counted})

    monkeypatch.setattr(events, "segments_changed", spy)
    first = org.run(type_id)
    org.import_sales([BIG_ORDER])
    second = org.run(type_id)

    with org.db.read_session() as session:
        sent = [
            json.loads(d.payload)["data"]
            for d in session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id))
        ]
    if not subscribed:
        assert (listings, sent) == ([], [])
        return
    assert len(listings) == 2
    assert [(d["total"], d["truncated"]) for d in sent] == [(12, False), (2, False)]
    assert sent[0]["changes"] == [
        {"customer_key": k, "from": None, "to": s, "source": "run"} for k, s in BASE_ABC.items()
    ]
    assert sent[1]["changes"] == [
        {"customer_key": "C04", "from": "B", "to": "C", "source": "run"},
        {"customer_key": "C05", "from": "C", "to": "A", "source": "run"},
    ]
    assert first.id < second.id
