"""Aggregates: segment summary, summary cards with dimension filters, migration matrix."""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

from segmint.engine import (
    ParetoParams,
    Period,
    RfmParams,
    migration_matrix,
    pareto_tiers,
    rfm_segments,
    segment_summary,
    summary_cards,
)

from .conftest import rows, sale

Y2025 = Period(date(2025, 1, 1), date(2025, 12, 31))
LINES = [
    sale("c1", 600, territory="North"),
    sale("c2", 300, territory="North"),
    sale("c3", 100, territory="South"),
    sale("c4", -20, territory="South"),  # c4 not in pool
]


def test_pareto_summary_and_cards(engine) -> None:
    result = pareto_tiers(engine.sales(LINES), ParetoParams.abc(Y2025))
    got = rows(segment_summary(result), "segment")
    # pool total 1000: c1 A (0 %), c2 A (60 %), c3 B (90 % < 95 %); c4 has no segment
    assert {k: (r["customers"], r["total_sales"]) for k, r in got.items()} == {
        "A": (2, D(900)),
        "B": (1, D(100)),
    }
    assert (got["A"]["pct_customers"], got["A"]["pct_sales"], got["A"]["avg_sales"]) == (
        66.6667,
        90.0,
        450.0,
    )
    cards = summary_cards(result).collect().rows(named=True)
    # 4 known, 3 in the pool, total net 600 + 300 + 100 - 20
    assert cards == [{"customers": 4, "active_customers": 3, "total_sales": D(980)}]


def test_dimension_filters_apply_before_computing(engine) -> None:
    params = RfmParams(Y2025, filters=(("territory", ("South",)),))
    cards = summary_cards(rfm_segments(engine.sales(LINES), params)).collect().rows(named=True)
    # South only: c3 (one purchase of 100) and c4 (credit note only): 2 known, 1 active, 80
    assert cards == [{"customers": 2, "active_customers": 1, "total_sales": D(80)}]


def test_migration_matrix(engine) -> None:
    sales = engine.sales(LINES)
    before = pareto_tiers(sales, ParetoParams.abc(Y2025))
    after = pareto_tiers(sales, ParetoParams.abc(Y2025, min_sales=D(400)))
    got = {
        (r["from_segment"], r["to_segment"]): (r["customers"], r["sales"])
        for r in migration_matrix(before, after).collect().rows(named=True)
    }
    # min 400 leaves only c1 (A); c2 A -> none (its sales 300 still count), c3 B -> none,
    # c4 none -> none (-20)
    assert got == {
        ("A", "A"): (1, D(600)),
        ("A", "none"): (1, D(300)),
        ("B", "none"): (1, D(100)),
        ("none", "none"): (1, D(-20)),
    }
