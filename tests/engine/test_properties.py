"""Invariants as properties, against a tiny pure-Python reference of PRODUCT.md's rules.

The reference is written from the rules, not from the engine's SQL: plain dicts, sorted lists
and Python's exact Decimal and integer arithmetic."""

from __future__ import annotations

import math
import random
from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal as D

import duckdb
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from segmint.engine import ParetoParams, Period, RfmParams, Tier, pareto_tiers, rfm_segments

from .conftest import Engine, rows, sale

PERIOD = Period(date(2025, 1, 1), date(2025, 12, 31))
SETTINGS = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

amounts = st.decimals(min_value=D("-500"), max_value=D("5000"), places=2)
lines_strategy = st.lists(
    st.tuples(
        st.sampled_from([f"k{i}" for i in range(12)]),
        amounts,
        st.integers(min_value=-30, max_value=364),
        st.integers(min_value=0, max_value=3),
    ),
    min_size=1,
    max_size=40,
)
thresholds = st.lists(st.integers(min_value=0, max_value=100), min_size=1, max_size=4).filter(
    lambda ts: sum(ts) <= 100
)


def _lines(raw) -> list[dict]:
    return [
        sale(c, a, str(PERIOD.start + timedelta(days=d)), f"{c}-d{doc}") for c, a, d, doc in raw
    ]


def reference_pareto(lines, tiers, min_sales) -> dict[str, str]:
    sums: dict[str, D] = defaultdict(D)
    for line in lines:
        if PERIOD.start <= line["invoice_date"] <= PERIOD.end:
            sums[line["customer_id"]] += line["net_amount"]
    pool = sorted(
        ((k, s) for k, s in sums.items() if s > 0 and s >= min_sales),
        key=lambda ks: (-ks[1], ks[0]),
    )
    total, before, out = sum(s for _, s in pool), D(0), {}
    for key, s in pool:
        cumulative = D(0)
        for name, threshold in tiers:
            cumulative += threshold
            if 100 * before < cumulative * total:
                out[key] = name
                break
        before += s
    return out


def _tiers(ts: list[int]) -> tuple[tuple[str, D], ...]:
    ts = [*ts[:-1], ts[-1] + 100 - sum(ts)]  # make them add up to 100
    return tuple((chr(ord("A") + i), D(t)) for i, t in enumerate(ts))


@SETTINGS
@given(raw=lines_strategy, ts=thresholds, min_sales=st.sampled_from([D(0), D(10), D("99.99")]))
def test_pareto_equals_reference_and_partitions_the_pool(raw, ts, min_sales) -> None:
    lines, tiers = _lines(raw), _tiers(ts)
    params = ParetoParams(
        tiers=tuple(Tier(n, t) for n, t in tiers), period=PERIOD, min_sales=min_sales
    )
    got = rows(pareto_tiers(Engine("duckdb").sales(lines), params))
    expected = reference_pareto(lines, tiers, min_sales)
    assert {k: r["tier"] for k, r in got.items() if r["tier"]} == expected
    # the tiers partition the pool: every pool customer exactly one tier, ranks 1..n, and the
    # tier order never goes back down the ranking
    pool = sorted((r for r in got.values() if r["rank"] is not None), key=lambda r: r["rank"])
    assert [r["rank"] for r in pool] == list(range(1, len(pool) + 1))
    order = [n for n, _ in tiers]
    positions = [order.index(r["tier"]) for r in pool]
    assert positions == sorted(positions)


@SETTINGS
@given(raw=lines_strategy, seed=st.integers(0, 2**32 - 1))
def test_shuffling_rows_changes_nothing(raw, seed) -> None:
    lines = _lines(raw)
    shuffled = lines[:]
    random.Random(seed).shuffle(shuffled)
    params = ParetoParams.abc(PERIOD)
    rparams = RfmParams(PERIOD)
    engine = Engine("duckdb")
    for compute, p in ((pareto_tiers, params), (rfm_segments, rparams)):
        a = rows(compute(engine.sales(lines), p))
        b = rows(compute(engine.sales(shuffled), p))
        assert a == b


def reference_rfm(lines, as_of: date) -> dict[str, tuple]:
    docs: dict[tuple, list] = defaultdict(lambda: [D(0), date.min])
    for line in lines:
        if PERIOD.start <= line["invoice_date"] <= PERIOD.end:
            doc = docs[line["customer_id"], line["document_id"]]
            doc[0] += line["net_amount"]
            doc[1] = max(doc[1], line["invoice_date"])
    metrics: dict[str, list] = {}
    for (cust, _), (total, day) in docs.items():
        m = metrics.setdefault(cust, [None, 0, D(0)])
        m[2] += total
        if total > 0:
            m[1] += 1
            m[0] = max(m[0] or date.min, day)
    active = {c: ((as_of - m[0]).days, m[1], m[2]) for c, m in metrics.items() if m[1] > 0}
    n = len(active)
    if not n:
        return {}
    cuts = [
        [sorted(v[i] for v in active.values())[math.ceil(k * n / 5) - 1] for k in range(1, 5)]
        for i in range(3)
    ]
    out = {}
    for c, (r, f, m) in active.items():
        rs = 5 - sum(x < r for x in cuts[0])
        fs, ms = 1 + sum(x < f for x in cuts[1]), 1 + sum(x < m for x in cuts[2])
        out[c] = (r, f, m, rs, fs, ms, math.ceil((fs + ms) / 2))
    return out


@SETTINGS
@given(raw=lines_strategy)
def test_rfm_equals_reference_and_scores_stay_in_range(raw) -> None:
    lines = _lines(raw)
    got = rows(rfm_segments(Engine("duckdb").sales(lines), RfmParams(PERIOD)))
    actual = {
        k: (
            r["recency_days"],
            r["frequency"],
            r["monetary"],
            r["r_score"],
            r["f_score"],
            r["m_score"],
            r["fm"],
        )
        for k, r in got.items()
        if r["frequency"]
    }
    assert actual == reference_rfm(lines, PERIOD.end)
    for r in got.values():
        scores = (r["r_score"], r["f_score"], r["m_score"], r["fm"])
        assert all(s is None for s in scores) or all(1 <= s <= 5 for s in scores)
        assert (r["segment"] is None) == (r["frequency"] == 0)


def test_duckdb_connection_is_not_needed_globally() -> None:
    # the engine registers views on the input's own connection, not the default one
    con = duckdb.connect()
    sales = con.sql(
        "SELECT 'd1' AS document_id, DATE '2025-05-01' AS invoice_date, "
        "'c1' AS customer_id, 10 AS net_amount"
    )
    assert rows(pareto_tiers(sales, ParetoParams.abc(PERIOD)))["c1"]["tier"] == "A"
