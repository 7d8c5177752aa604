"""The Pareto overview and the migration matrix, read from real runs' snapshots, on SQLite and
PostgreSQL.

The data is the run tests' twelve customers (``tests/runs/support.py``): 2025 sales of 10,000
with A = C00, C01 (4,000 each: 80 %), B = C02-C04 (600, 500, 400: 15 %), C = C05-C11 (250, 100,
50, 40, 30, 20, 10: 5 %). The big order (C05 buys 3,000 more) moves C05 from C to A and C04
from B to C.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from segmint.errors import Conflict, NotFound, PermissionDenied, ValidationError
from segmint.insights import NONE_LABEL, CurvePoint
from segmint.metadata.base import utcnow
from segmint.runs.models import Run
from segmint.runs.persist import prune_snapshots
from tests.insights.support import abc, add_user, matrix, overview
from tests.runs.support import BIG_ORDER, Org, make_org

sqlite_only = pytest.mark.parametrize("metadata_url", ["sqlite"], indirect=True)


def test_pareto_overview_of_the_current_run(org: Org):
    type_id, run_id = abc(org)
    result = overview(org, type_id)
    assert (result.run_id, result.customers, result.pool_customers) == (run_id, 12, 12)
    assert result.pool_sales == Decimal("10000")
    assert (result.period_start.isoformat(), result.period_end.isoformat()) == (
        "2025-01-01",
        "2025-12-31",
    )
    assert result.as_of.isoformat() == "2025-12-31"
    rows = [
        (
            t.name,
            t.customers,
            t.sales,
            t.share_customers_pct,
            t.share_sales_pct,
            t.cumulative_threshold_pct,
            t.first_rank,
            t.last_rank,
            t.boundary,
        )
        for t in result.tiers
    ]
    assert rows == [
        ("A", 2, Decimal(8000), 16.6667, 80.0, Decimal(80), 1, 2, CurvePoint(0.166667, 0.8)),
        ("B", 3, Decimal(1500), 25.0, 15.0, Decimal(95), 3, 5, CurvePoint(0.416667, 0.95)),
        ("C", 7, Decimal(500), 58.3333, 5.0, Decimal(100), 6, 12, CurvePoint(1.0, 1.0)),
    ]
    # 12 customers and room for 200 points: every customer is a point, after the origin
    assert len(result.curve) == 13
    assert result.curve[0] == CurvePoint(0.0, 0.0) and result.curve[-1] == CurvePoint(1.0, 1.0)
    assert result.curve[1] == CurvePoint(0.083333, 0.4)  # C00: 4,000 of 10,000
    assert [p.x for p in result.curve] == sorted(p.x for p in result.curve)
    assert [p.y for p in result.curve] == sorted(p.y for p in result.curve)
    assert (result.default_segment, result.default_customers, result.unassigned_customers) == (
        None,
        0,
        0,
    )


@sqlite_only
def test_pareto_curve_keeps_to_the_points_asked_for(org: Org):
    type_id, _ = abc(org)
    # 5 points: origin, 3 tier ends, and 2 rank buckets (1-6, 7-12), of which the first is
    # cut where A and B end: (0,0), A (2/12, .8), B (5/12, .95), C05 (6/12, .975), end (1, 1).
    assert overview(org, type_id, points=5).curve == (
        CurvePoint(0.0, 0.0),
        CurvePoint(0.166667, 0.8),
        CurvePoint(0.416667, 0.95),
        CurvePoint(0.5, 0.975),
        CurvePoint(1.0, 1.0),
    )
    for bad in (4, 10_001, "200", True):
        with pytest.raises(ValidationError) as caught:
            overview(org, type_id, points=bad)
        assert caught.value.field == "points"


@sqlite_only
def test_pareto_overview_counts_the_default_segment_outside_the_pool(org: Org):
    org.import_customers([("C99", None)])  # known, never bought
    type_id, _ = abc(org, default="C")
    result = overview(org, type_id)
    assert (result.customers, result.pool_customers) == (13, 12)
    assert (result.default_segment, result.default_customers) == ("C", 1)
    assert next(t for t in result.tiers if t.name == "C").customers == 7  # the pool's only
    assert next(t for t in result.tiers if t.name == "C").is_default


def test_pareto_overview_of_an_older_run_and_refusals(org: Org):
    type_id, first = abc(org)
    org.import_sales([BIG_ORDER])
    second = org.run(type_id).id
    now = overview(org, type_id)
    assert now.run_id == second and now.tiers[0].customers == 3  # C00, C01, C05
    before = overview(org, type_id, run_id=first)
    assert before.run_id == first and before.tiers[0].customers == 2
    prune_snapshots(org.db, type_id=type_id, keep=1)
    with pytest.raises(Conflict, match=f"run {first} is no longer kept"):
        overview(org, type_id, run_id=first)
    with pytest.raises(NotFound, match="no run 999"):
        overview(org, type_id, run_id=999)


@sqlite_only
def test_pareto_overview_without_a_run_is_empty(org: Org):
    type_id = org.create_type("Sales Performance", "pareto")
    result = overview(org, type_id)
    assert (result.run_id, result.customers, result.pool_sales, result.curve) == (
        None,
        0,
        Decimal(0),
        (),
    )
    assert [(t.name, t.customers, t.boundary) for t in result.tiers] == [
        ("A", 0, None),
        ("B", 0, None),
        ("C", 0, None),
    ]


@sqlite_only
def test_pareto_overview_checks_type_and_rep_rule(org: Org, metadata_db, tmp_path):
    type_id, _ = abc(org)
    rfm = org.create_type("Visit Priority", "rfm")
    with pytest.raises(ValidationError, match="RFM type") as caught:
        overview(org, rfm)
    assert caught.value.field == "type_id"
    restricted = add_user(org, "rep", sales_rep="Ann", own_customers_only=True)
    with pytest.raises(PermissionDenied, match="limits reps to their own customers"):
        overview(org, type_id, actor=restricted)
    with pytest.raises(PermissionDenied):
        matrix(org, type_id, 1, 1, actor=restricted)
    free = add_user(org, "rep", sales_rep="Ann", own_customers_only=False)
    assert overview(org, type_id, actor=free).pool_customers == 12
    stranger = make_org(metadata_db, tmp_path / "globex", "globex")
    with pytest.raises(NotFound):
        overview(stranger, type_id)


def test_migration_matrix_between_two_runs(org: Org):
    type_id, first = abc(org)
    org.import_sales([BIG_ORDER])
    org.import_customers([("C50", None)])  # new in the second run, without a segment
    second = org.run(type_id).id
    result = matrix(org, type_id, first, second)
    assert result.segments == ("A", "B", "C")
    assert result.labels == ("A", "B", "C", NONE_LABEL)
    assert result.counts == (
        (2, 0, 0, 0),  # C00, C01 stay A
        (0, 2, 1, 0),  # C02, C03 stay B; C04 drops to C
        (1, 0, 6, 0),  # C05 rises to A; six stay C
        (0, 0, 0, 1),  # C50: absent from the first run, no segment in the second
    )
    assert (result.row_totals, result.column_totals) == ((2, 3, 7, 1), (3, 2, 7, 1))
    assert (result.total, result.moved) == (13, 2)
    assert result.from_as_of == result.to_as_of == date(2025, 12, 31)
    links = {(link.source, link.target): link.value for link in result.sankey.links}
    assert links == {
        ("from:A", "to:A"): 2,
        ("from:B", "to:B"): 2,
        ("from:B", "to:C"): 1,
        ("from:C", "to:A"): 1,
        ("from:C", "to:C"): 6,
        ("from:(none)", "to:(none)"): 1,
    }
    assert sum(links.values()) == result.total
    assert {n.id for n in result.sankey.nodes} == {
        f"{side}:{label}" for side in ("from", "to") for label in result.labels
    }
    backwards = matrix(org, type_id, second, first)
    assert backwards.counts[0] == (2, 0, 1, 0) and backwards.counts[3] == (0, 0, 0, 1)
    assert backwards.total == 13


@sqlite_only
def test_snapshot_answers_follow_a_renamed_segment(org: Org):
    from segmint.segments import service as segments

    type_id, first = abc(org)
    assert matrix(org, type_id, first, first).segments == ("A", "B", "C")
    assert overview(org, type_id).tiers[0].name == "A"
    with org.db.session() as session:
        specs = segments.segment_specs(
            segments.get_type(session=session, actor=org.actor, type_id=type_id)
        )
        specs[0].name = "Key accounts"
        segments.set_segments(session=session, actor=org.actor, type_id=type_id, segments=specs)
    renamed = matrix(org, type_id, first, first)
    assert renamed.segments == ("Key accounts", "B", "C") and renamed.counts[0][0] == 2
    assert overview(org, type_id).tiers[0].name == "Key accounts"


@sqlite_only
def test_migration_matrix_of_a_run_with_itself_and_of_rfm(org: Org):
    type_id, first = abc(org)
    same = matrix(org, type_id, first, first)
    assert (same.total, same.moved) == (12, 0)
    rfm = org.create_type("Visit Priority", "rfm")
    one = org.run(rfm).id
    org.import_sales([BIG_ORDER])
    two = org.run(rfm).id
    result = matrix(org, rfm, one, two)
    assert result.segments[0] == "Champions" and result.total == 12
    assert sum(result.row_totals) == sum(result.column_totals) == 12


def test_migration_matrix_refuses_pruned_foreign_and_unfinished_runs(
    org: Org, metadata_db, tmp_path
):
    type_id, first = abc(org)
    org.import_sales([BIG_ORDER])
    second = org.run(type_id).id
    other = org.create_type("Other", "pareto")
    foreign = org.run(other).id
    with pytest.raises(NotFound, match=f"to_run: no run {foreign} of segment type {type_id}"):
        matrix(org, type_id, first, foreign)
    stranger = make_org(metadata_db, tmp_path / "globex", "globex")
    with pytest.raises(NotFound):
        matrix(stranger, type_id, first, second)
    for status in ("failed", "running"):
        with org.db.session() as session:
            run = Run(
                organization_id=org.actor.organization_id,
                type_id=type_id,
                status=status,
                finished_at=utcnow() if status == "failed" else None,
            )
            session.add(run)
            session.flush()
            unfinished = run.id
        with pytest.raises(Conflict, match=f"run {unfinished} is") as caught:
            matrix(org, type_id, first, unfinished)
        assert caught.value.field == "to_run"
        with org.db.session() as session:
            session.delete(session.get(Run, unfinished))
    prune_snapshots(org.db, type_id=type_id, keep=1)
    with pytest.raises(Conflict, match=f"from_run: the snapshot of run {first} is no longer kept"):
        matrix(org, type_id, first, second)


@sqlite_only
def test_an_organization_without_data_gives_empty_results(org: Org):
    with org.store.connect():
        pass  # the store exists, this organization has nothing in it
    type_id = org.create_type("Sales Performance", "pareto")
    first = org.run(type_id)
    assert first.status == "succeeded", first.error
    second = org.run(type_id).id
    result = matrix(org, type_id, first.id, second)
    assert (result.total, result.moved, result.sankey.links) == (0, 0, ())
    assert all(sum(row) == 0 for row in result.counts)
    empty = overview(org, type_id)
    assert (empty.run_id, empty.customers, empty.curve) == (second, 0, ())
