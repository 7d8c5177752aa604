"""Persisting a run: the changed customers found in DuckDB are every kind of change (awkward
keys, overrides on both sides), results and changes survive the trip through either database
(in several parts too) and are found again by key, a cached result is never confused with
another written under the same run id, a stale comparison is redone in the swap, and the
``segment.changed`` list is built only for an endpoint that takes it."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest
from sqlalchemy import delete, select

from segmint.assignments import results
from segmint.assignments.models import RunResult
from segmint.assignments.results import RESULT_SCHEMA, LoadedResult
from segmint.metadata.database import Database
from segmint.runs import events, persist
from segmint.runs.compute import compute
from segmint.runs.models import WebhookDelivery
from segmint.runs.webhooks import add_endpoint
from tests.runs.support import AFTER_BIG_ORDER, BASE_ABC, BASE_LINES, BIG_ORDER, Org, make_org

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
    "a\x01b": ("A", "C"),
    "ünïcödé ключ": ("B", "C"),
    "overridden": ("C", "A"),
    "": ("A", "A"),  # SQLite and PostgreSQL take an empty key; so must the comparison
}
IDS = {"A": 11, "B": 12, "C": 13}
NAMES = {i: n for n, i in IDS.items()}


@pytest.fixture
def org(metadata_db: Database, tmp_path: Path) -> Org:
    return make_org(metadata_db, tmp_path)


def _result(side: int) -> pa.Table:
    """The old (0) or new (1) run of CASES as a result table, sorted by key."""
    rows = [
        {"customer_key": key, "segment_id": IDS[segments[side]] if segments[side] else None}
        for key, segments in sorted(CASES.items())
        if segments[side] != "-"
    ]
    return pa.Table.from_pylist(rows, schema=RESULT_SCHEMA)


def test_changes_found_in_duckdb_are_every_kind_of_change() -> None:
    old, new = LoadedResult(1, _result(0)), _result(1)
    changed = persist.changed_segments(new, old)

    found = {
        key: (NAMES.get(o), NAMES.get(n))
        for key, o, n in zip(
            *(changed.column(c).to_pylist() for c in changed.column_names), strict=True
        )
    }
    expected = {
        key: (None if old == "-" else old, None if new == "-" else new)
        for key, (old, new) in CASES.items()
        if (None if old == "-" else old) != (None if new == "-" else new)
    }
    assert found == expected
    assert changed.column("customer_key").to_pylist() == sorted(expected)

    history = persist.history_of(changed, names=NAMES, manual={"overridden": IDS["B"]})
    assert {row.pop("customer_key"): tuple(row.values()) for row in history.to_pylist()} == {
        **{key: (old, new, old, new) for key, (old, new) in expected.items()},
        "overridden": ("C", "A", "B", "B"),  # the override wins on both sides
    }


def test_a_first_run_changes_everybody_in_a_segment() -> None:
    changed = persist.changed_segments(_result(1), None)
    assert changed.column("customer_key").to_pylist() == sorted(
        k for k, (_, new) in CASES.items() if new not in ("-", None)
    )
    assert set(changed.column("old_id").to_pylist()) == {None}
    assert persist.changed_segments(_result(1), LoadedResult(1, _result(1))).num_rows == 0


@pytest.mark.parametrize("part_bytes", [results.PART_BYTES, 100])
def test_a_result_comes_back_from_the_database_and_is_found_by_key(
    org: Org, monkeypatch: pytest.MonkeyPatch, part_bytes: int
) -> None:
    monkeypatch.setattr(results, "PART_BYTES", part_bytes)
    table = _result(1)
    with org.db.session() as session:
        results.write_result(
            session,
            run_id=4242,
            organization_id=org.actor.organization_id,
            type_id=1,
            rows=table.num_rows,
            data=results.encode(table),
            token=results.new_token(),
        )
    results.clear_cache()
    with org.db.read_session() as session:
        parts = session.scalar(select(RunResult.part).order_by(RunResult.part.desc()).limit(1))
        loaded = results.load_result(session, 4242)
        assert results.load_result(session, 4242) is loaded  # from memory the second time
        assert results.load_result(session, 4243) is None
    assert (parts > 0) == (part_bytes == 100)
    assert loaded.table.equals(table)
    keys = [k for k, (_, new) in CASES.items() if new != "-"]
    assert loaded.find(keys) == {k: i for i, k in enumerate(sorted(keys))}
    assert loaded.find([*keys[:3], "missing", "zzz", "\x00"]) == {
        k: sorted(keys).index(k) for k in keys[:3]
    }
    many = [*keys, *(f"x{i}" for i in range(100))]  # the vectorized lookup
    assert loaded.find(many) == loaded.find(keys)


def test_a_result_written_again_under_the_same_run_id_is_read_afresh(org: Org) -> None:
    """Run ids repeat across databases (and a database made again): the cache goes by the
    token written with the result."""
    for side in (0, 1):
        with org.db.session() as session:
            session.execute(delete(RunResult).where(RunResult.run_id == 7))
            results.write_result(
                session,
                run_id=7,
                organization_id=org.actor.organization_id,
                type_id=1,
                rows=_result(side).num_rows,
                data=results.encode(_result(side)),
                token=results.new_token(),
            )
        with org.db.read_session() as session:
            assert results.load_result(session, 7).table.equals(_result(side))


def test_a_run_reads_the_previous_result_from_the_database_when_not_in_memory(org: Org) -> None:
    org.import_sales(BASE_LINES)
    type_id = org.create_type("Sales Performance", "pareto")
    first = org.run(type_id)
    org.set_override(type_id, "C04", "A", reason="new frame contract")
    org.import_sales([BIG_ORDER])
    results.clear_cache()  # as in a worker process that did not run the first one
    second = org.run(type_id)

    assert (second.status, second.summary["changed"]) == ("succeeded", 2)
    assert sorted(
        (h.customer_key, h.auto_from, h.auto_to, h.effective_from, h.effective_to)
        for h in org.history(type_id)
        if h.run_id == second.id
    ) == [("C04", "B", "C", "A", "A"), ("C05", "C", "A", "C", "A")]
    results.clear_cache()  # and readers in another process
    assert org.current_run_id(type_id) == second.id != first.id
    assert org.automatic_names(type_id, second.id) == AFTER_BIG_ORDER
    assert len(org.history(type_id)) == 12 + 1 + 2  # first run, the override, second run


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
        table = persist.result_table(con, computed)
    prepared = persist.prepare(org.db, table, type_id=type_id, current_run=None)  # vs nothing
    prepared.old_run = -5  # as if compared with another run
    persist.swap(org.db, computed, run_id=run.id, worker_id=worker.worker_id, prepared=prepared)

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


def test_the_same_customers_are_compared_without_a_join() -> None:
    """A re-run over the same customers compares row by row; the answer is the join's."""
    old = _result(0)
    keys = old.column("customer_key")
    moved = pa.array([IDS["C"] if i % 2 else None for i in range(old.num_rows)], pa.int32())
    new = old.set_column(1, "segment_id", moved)
    changed = persist.changed_segments(new, LoadedResult(1, old))
    expected = [
        (k, o, n)
        for k, o, n in zip(
            keys.to_pylist(), old.column("segment_id").to_pylist(), moved.to_pylist(), strict=True
        )
        if o != n
    ]
    assert (
        list(zip(*(changed.column(c).to_pylist() for c in changed.column_names), strict=True))
        == expected
    )
    with_one_more = pa.concat_tables([new, _result(1).slice(0, 0)]).slice(1)  # keys differ
    joined = persist.changed_segments(with_one_more, LoadedResult(1, old))
    assert joined.column("customer_key").to_pylist()[1:] == [k for k, _, _ in expected[1:]]
