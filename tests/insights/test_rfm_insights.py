"""RFM insights: the golden organization of ``support.py`` (small enough to check by hand), the
engine as the reference on generated data, filters, the rep rule, what-if moves and the checks on
arguments."""

from __future__ import annotations

import dataclasses
import random
from collections import Counter
from datetime import date, timedelta
from decimal import Decimal

import pytest

from segmint.engine import rfm_cut_points, rfm_segments
from segmint.errors import NotFound, ValidationError
from segmint.segments.params import rfm_params
from tests.insights.support import (
    AS_OF,
    CUTS,
    GOLDEN,
    Sale,
    add_user,
    counts,
    golden,
    import_sales,
    insights,
)
from tests.runs.support import Org, make_org

sqlite_only = pytest.mark.parametrize("metadata_url", ["sqlite"], indirect=True)


@sqlite_only
def test_golden_cards_segments_and_cells(org: Org):
    result = insights(org, golden(org))
    cards = result.cards
    assert (cards.customers, cards.active_customers, cards.customers_scored) == (7, 5, 5)
    assert cards.total_sales == Decimal("28560")  # 1,400 + 150 + 1,900 + 110 + 25,000
    assert (cards.period_start, cards.period_end, cards.as_of) == (date(2025, 1, 1), AS_OF, AS_OF)
    assert (cards.months, cards.interval) == (12, "rolling")
    assert counts(result) == {
        "Champions": 2,
        "Potential Loyalist": 1,
        "Need Attention": 1,
        "At Risk": 1,
    }
    assert [s.name for s in result.segments][:3] == ["Champions", "Loyal", "Potential Loyalist"]
    champions = result.segments[0]
    assert champions.sales == Decimal("26400")
    assert champions.share_customers_pct == 40.0  # 2 of the 5 customers with a segment
    assert champions.share_sales_pct == round(26400 * 100 / 28560, 4)
    assert champions.avg_sales == Decimal("13200.0000")
    assert champions.avg_recency_days == 5.0  # (10 + 0) / 2
    assert champions.avg_frequency == 4.0  # (3 + 5) / 2
    assert champions.avg_monetary == Decimal("13200.0000")
    assert (champions.avg_r_score, champions.avg_f_score, champions.avg_m_score) == (5, 4, 5)
    assert champions.cells == ("55", "54", "45")
    assert champions.description and champions.recommended_action
    loyal = result.segments[1]
    assert (loyal.customers, loyal.sales, loyal.avg_sales, loyal.avg_r_score) == (
        0,
        Decimal(0),
        None,
        None,
    )
    assert (result.default_segment, result.default_customers) == (None, 0)
    assert result.unassigned_customers == 2  # C5 and C6: no purchase, no default segment
    cells = {c.cell: c for c in result.cells}
    assert len(result.cells) == 25
    assert [(c.r, c.fm) for c in result.cells[:6]] == [
        (1, 5),
        (2, 5),
        (3, 5),
        (4, 5),
        (5, 5),
        (1, 4),
    ]
    assert {k: c.customers for k, c in cells.items() if c.customers} == {
        "54": 1,
        "55": 1,
        "52": 1,
        "13": 1,
        "22": 1,
    }
    assert cells["54"].segment == "Champions" and cells["54"].sales == Decimal("1400")
    assert cells["11"].segment == "Lost" and cells["11"].customers == 0
    assert result.cuts_source == "stored"
    assert result.moves is None and result.moved is None
    assert result.filters == () and result.restricted_to_rep is False


@sqlite_only
def test_setup_table_describes_the_five_buckets(org: Org):
    result = insights(org, golden(org))
    by_metric = {m.metric: m for m in result.cut_points}
    assert [str(c) for c in by_metric["r"].cuts] == ["30", "60", "90", "180"]
    assert [b.description for b in by_metric["r"].buckets] == [
        "R 5: bought within the last 30 days",
        "R 4: last purchase 31 to 60 days ago",
        "R 3: last purchase 61 to 90 days ago",
        "R 2: last purchase 91 to 180 days ago",
        "R 1: last purchase more than 180 days ago",
    ]
    assert [b.description for b in by_metric["f"].buckets] == [
        "F 5: more than 4 purchases",
        "F 4: 4 purchases",
        "F 3: 3 purchases",
        "F 2: 2 purchases",
        "F 1: at most 1 purchase",
    ]
    assert by_metric["m"].buckets[0].description == "M 5: net sales over 1,000"
    assert by_metric["m"].buckets[1].description == "M 4: net sales over 500 up to 1,000"
    assert (by_metric["m"].buckets[4].above, by_metric["m"].buckets[4].up_to) == (
        None,
        Decimal("100"),
    )
    assert all(b.used for m in result.cut_points for b in m.buckets)


@sqlite_only
def test_coinciding_cut_points_leave_a_score_unused(org: Org):
    type_id = golden(org, f_cuts=["1", "1", "3", "4"])
    f = next(m for m in insights(org, type_id).cut_points if m.metric == "f")
    assert [b.used for b in f.buckets] == [True, True, True, False, True]
    assert f.buckets[3].description == "F 2: not used (cut points 1 and 2 are both 1)"


def _engine_counts(org: Org, type_id: int, filters=()) -> tuple[Counter, dict]:
    segment_type = org.segment_type(type_id)
    params = rfm_params(segment_type, AS_OF)
    params = dataclasses.replace(params, filters=filters)
    with org.store.attached() as con:
        sales = con.sql(f"SELECT * EXCLUDE (org) FROM store.sales_lines WHERE org = '{org.slug}'")
        customers = con.sql(f"SELECT * EXCLUDE (org) FROM store.customers WHERE org = '{org.slug}'")
        rows = rfm_segments(sales, params, customers=customers).collect().rows(named=True)
    sales_by = Counter()
    for row in rows:
        sales_by[row["segment"]] += row["monetary"]
    return Counter(r["segment"] for r in rows), sales_by


def _generated(org: Org) -> int:
    """80 customers with random documents over 2024-2025 (credit notes among them)."""
    pick = random.Random(20251231)
    lines = []
    for n in range(400):
        customer = f"G{pick.randrange(80):02d}"
        amount = pick.choice([-50, 20, 80, 150, 400, 900, 2500])
        lines.append(
            Sale(
                f"GD{n}",
                customer,
                date(2024, 1, 1) + timedelta(days=pick.randrange(731)),
                amount,
                territory=pick.choice(["North", "South", "East"]),
                sales_rep=pick.choice(["Ann", "Bob"]),
                brand=pick.choice(["X", "Y"]),
            )
        )
    import_sales(org, lines)
    org.import_customers([(f"G{i:02d}", None) for i in range(90)])  # 10 never bought
    return org.create_type("Generated", "rfm", **CUTS)


@sqlite_only
@pytest.mark.parametrize(
    "filters",
    [{}, {"territory": ["North"]}, {"territory": ["North", "East"], "brand": ["Y"]}],
    ids=["all", "one-filter", "two-filters"],
)
def test_segment_counts_and_sales_equal_the_engine(org: Org, filters):
    type_id = _generated(org)
    result = insights(org, type_id, filters=filters)
    expected, sales = _engine_counts(
        org, type_id, tuple(sorted((k, tuple(v)) for k, v in filters.items()))
    )
    assert counts(result) == {k: v for k, v in expected.items() if k is not None}
    assert result.unassigned_customers == expected[None]
    assert {s.name: s.sales for s in result.segments if s.customers} == {
        k: v for k, v in sales.items() if k is not None
    }
    assert result.cards.customers == sum(expected.values())
    assert sum(c.customers for c in result.cells) == result.cards.customers_scored
    assert sum(s.share_customers_pct for s in result.segments) == pytest.approx(100, abs=1e-3)


@sqlite_only
def test_suggested_cut_points_are_the_engines_when_the_type_has_none(org: Org):
    type_id = _generated(org)
    fresh = org.create_type("Never run", "rfm")
    result = insights(org, fresh)
    assert result.cuts_source == "suggested"
    segment_type = org.segment_type(fresh)
    with org.store.attached() as con:
        sales = con.sql(f"SELECT * EXCLUDE (org) FROM store.sales_lines WHERE org = '{org.slug}'")
        rows = rfm_cut_points(sales, rfm_params(segment_type, AS_OF)).collect().rows(named=True)
    expected = {
        m: [r["value"] for r in sorted(rows, key=lambda r: r["k"]) if r["metric"] == m]
        for m in "rfm"
    }
    assert {m.metric: list(m.cuts) for m in result.cut_points} == expected
    assert counts(result) != {}
    assert type_id != fresh


@sqlite_only
def test_a_vat_type_sums_customer_records_by_vat_number(org: Org):
    import_sales(org, GOLDEN)
    org.import_customers(
        [
            ("C1", "DE136695976"),
            ("C2", "de 136 695 976"),  # the same company as C1
            ("C3", "NL004495445B01"),
            ("C4", None),  # no VAT number: left out, as C5-C7 (not in the customer table)
        ]
    )
    type_id = org.create_type("Group", "rfm", identity="vat", **CUTS)
    result = insights(org, type_id)
    # DE136695976: C1's three purchases and C2's one: R 10 days, F 4, M 1,550 -> 5,4,5 -> 55
    assert counts(result) == {"Champions": 1, "At Risk": 1}
    assert (result.cards.customers, result.cards.total_sales) == (2, Decimal(1550 + 1900))
    assert next(c for c in result.cells if c.cell == "55").customers == 1
    expected, _ = _engine_counts(org, type_id)
    assert counts(result) == dict(expected)


@sqlite_only
def test_default_segment_takes_the_customers_outside_the_pool(org: Org):
    from segmint.segments import service as segments

    type_id = golden(org)
    with org.db.session() as session:
        specs = segments.segment_specs(
            segments.get_type(session=session, actor=org.actor, type_id=type_id)
        )
        for spec in specs:
            spec.is_default = spec.name == "Lost"
        segments.set_segments(session=session, actor=org.actor, type_id=type_id, segments=specs)
    result = insights(org, type_id)
    assert (result.default_segment, result.default_customers, result.unassigned_customers) == (
        "Lost",
        2,
        0,
    )
    lost = next(s for s in result.segments if s.name == "Lost")
    assert (lost.customers, lost.is_default, lost.avg_recency_days, lost.avg_r_score) == (
        2,
        True,
        None,
        None,
    )
    assert next(c for c in result.cells if c.cell == "11").customers == 0  # not scored


@sqlite_only
def test_filters_restrict_the_sales_lines(org: Org):
    type_id = golden(org)
    north = insights(org, type_id, filters={"territory": ["North"]})
    # C1 keeps 2 purchases (1,100; R 5, F 2, M 5 -> 54), C2 and C7 as before; the customers
    # table no longer adds anyone: only customers with filtered lines are known.
    assert north.cards.customers == 3 and north.cards.total_sales == Decimal("26250")
    assert counts(north) == {"Champions": 2, "Potential Loyalist": 1}
    assert north.filters == (("territory", ("North",)),)
    both = insights(org, type_id, filters={"sales_rep": ["Ann"], "territory": ["North"]})
    assert (both.cards.customers, counts(both)) == (2, {"Champions": 1, "Potential Loyalist": 1})
    several = insights(org, type_id, filters={"brand": ["Z", "Y"]})
    assert counts(several) == {"Champions": 1, "At Risk": 1, "Need Attention": 1, "Hibernating": 1}
    nobody = insights(org, type_id, filters={"branch": ["nowhere"]})
    assert nobody.cards.customers == 0 and counts(nobody) == {}


@sqlite_only
@pytest.mark.parametrize(
    ("filters", "field", "words"),
    [
        ({"colour": ["red"]}, "filters", "'colour'"),
        ({"territory": []}, "filters.territory", "at least one value"),
        ({"territory": [3]}, "filters.territory", "3 is not a value"),
        ({"territory": {"North": 1}}, "filters.territory", "list of values"),
        (["territory"], "filters", "['territory']"),
    ],
)
def test_bad_filters_name_the_field_and_value(org: Org, filters, field, words):
    type_id = golden(org)
    with pytest.raises(
        ValidationError, match=words.replace("[", r"\[").replace("]", r"\]")
    ) as caught:
        insights(org, type_id, filters=filters)
    assert caught.value.field == field


@sqlite_only
def test_months_gives_a_rolling_period_of_its_own(org: Org):
    type_id = golden(org)
    december = insights(org, type_id, months=1)
    assert (december.cards.period_start, december.cards.months) == (date(2025, 12, 1), 1)
    assert december.cards.active_customers == 3  # C1 (10 d), C2 (30 d), C7
    with pytest.raises(ValidationError, match="got 0") as caught:
        insights(org, type_id, months=0)
    assert caught.value.field == "months"
    with pytest.raises(ValidationError) as caught:
        insights(org, type_id, as_of="2025-12-31")
    assert caught.value.field == "as_of"


@sqlite_only
def test_a_restricted_rep_sees_only_its_own_lines(org: Org):
    type_id = golden(org)
    bob = add_user(org, "rep", sales_rep="Bob", own_customers_only=True)
    mine = insights(org, type_id, actor=bob)
    # Bob's lines: C1's 300 (213 days: R 1, F 1, M 3 -> cell 12), C3 and C4 as before.
    assert mine.restricted_to_rep is True
    assert mine.cards.customers == 3 and mine.cards.total_sales == Decimal("2310")
    assert counts(mine) == {"Hibernating": 1, "At Risk": 1, "Need Attention": 1}
    assert mine.filters == ()  # the restriction is not one of the filters the user chose
    # filters narrow further within the rep's own lines, never beyond them
    assert insights(org, type_id, actor=bob, filters={"sales_rep": ["Ann"]}).cards.customers == 0
    nobody = add_user(org, "rep", sales_rep=None, own_customers_only=True)
    empty = insights(org, type_id, actor=nobody)
    assert (empty.cards.customers, empty.cards.total_sales, counts(empty)) == (0, 0, {})
    assert len(empty.cut_points) == 3  # the setup table still shows the stored cut points


@sqlite_only
def test_reps_see_everyone_unless_the_organization_restricts_them(org: Org):
    type_id = golden(org)
    rep = add_user(org, "rep", sales_rep="Bob", own_customers_only=False)
    assert insights(org, type_id, actor=rep).cards.customers == 7
    manager = add_user(org, "manager", own_customers_only=True)
    result = insights(org, type_id, actor=manager)
    assert (result.cards.customers, result.restricted_to_rep) == (7, False)


@sqlite_only
def test_what_if_with_the_stored_cut_points_moves_nobody(org: Org):
    type_id = golden(org)
    same = insights(org, type_id, cuts={"r": [30, 60, 90, 180], "f": ["1", "2", "3", "4"]})
    assert (same.moves, same.moved, same.cuts_source) == ((), 0, "proposed")
    assert counts(same) == counts(insights(org, type_id))


@sqlite_only
def test_what_if_shows_the_proposed_result_and_the_moves(org: Org):
    type_id = golden(org)
    proposed = insights(org, type_id, cuts={"r": [5, 60, 90, 180]})
    # Only C1 changes: 10 days is now above the first cut point (R 4): cell 44, Loyal.
    assert counts(proposed)["Loyal"] == 1 and counts(proposed)["Champions"] == 1
    assert [(m.from_segment, m.to_segment, m.customers) for m in proposed.moves] == [
        ("Champions", "Loyal", 1)
    ]
    assert proposed.moved == 1
    r = next(m for m in proposed.cut_points if m.metric == "r")
    assert r.buckets[0].description == "R 5: bought within the last 5 days"
    filtered = insights(org, type_id, cuts={"r": [5, 60, 90, 180]}, filters={"sales_rep": ["Cy"]})
    assert (filtered.moved, counts(filtered)) == (0, {"Champions": 1})  # C7 bought today
    # the stored cut points are untouched
    assert org.segment_type(type_id).r_cuts == ["30", "60", "90", "180"]


@sqlite_only
@pytest.mark.parametrize(
    ("cuts", "field", "words"),
    [
        ({"r": [1, 2, 3]}, "cuts.r", "4 cut points are needed, got 3"),
        ({"m": [500, 100, 200, 300]}, "cuts.m", "must not decrease, got 500, 100, 200, 300"),
        ({"f": [1.5, 2, 3, 4]}, "cuts.f", "whole numbers"),
        ({"r": "1,2,3,4"}, "cuts.r", "list of 4 numbers"),
        ({"x": [1, 2, 3, 4]}, "cuts", "'x' is not a metric"),
        ({}, "cuts", "give proposed cut points"),
        ({"m": ["a", 1, 2, 3]}, "cuts.m", "'a' is not a number"),
    ],
)
def test_bad_proposed_cut_points_name_the_field_and_value(org: Org, cuts, field, words):
    type_id = golden(org)
    with pytest.raises(ValidationError, match=words) as caught:
        insights(org, type_id, cuts=cuts)
    assert caught.value.field == field


@sqlite_only
def test_type_must_be_rfm_and_of_the_actors_organization(org: Org, metadata_db, tmp_path):
    type_id = golden(org)
    pareto = org.create_type("Sales Performance", "pareto")
    with pytest.raises(ValidationError, match="Pareto") as caught:
        insights(org, pareto)
    assert caught.value.field == "type_id"
    stranger = make_org(metadata_db, tmp_path / "globex", "globex")
    with pytest.raises(NotFound):
        insights(stranger, type_id)


@sqlite_only
def test_an_empty_organization_gives_empty_insights(org: Org):
    type_id = org.create_type("Visit Priority", "rfm")
    result = insights(org, type_id)
    assert (result.cards.customers, result.cards.active_customers, result.cards.total_sales) == (
        0,
        0,
        Decimal(0),
    )
    assert all(s.customers == 0 and s.share_customers_pct is None for s in result.segments)
    assert all(c.customers == 0 for c in result.cells)
    assert (result.cut_points, result.cuts_source) == ((), "suggested")
    stored = org.create_type("With cut points", "rfm", **CUTS)
    assert len(insights(org, stored).cut_points) == 3
    what_if = insights(org, stored, cuts={"r": [1, 2, 3, 4]})
    assert (what_if.moves, what_if.moved) == ((), 0)


def test_postgres_metadata_gives_the_same_answer(org: Org):
    """Runs on both metadata databases: the type, overrides and organization queries."""
    type_id = golden(org)
    org.set_override(type_id, "C2", "Champions")
    result = insights(org, type_id)
    assert counts(result) == {"Champions": 3, "Need Attention": 1, "At Risk": 1}
