"""Golden Pareto tables, small enough to check by hand. Each expected number says where it
comes from. Period: calendar year 2025 (fixed year, as of 2026-11-22)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

from segmint.engine import (
    ParetoParams,
    Tier,
    customers_without_vat_key,
    pareto_tiers,
    resolve_period,
)

from .conftest import rows, sale

Y2025 = resolve_period(date(2026, 11, 22), 12, "fixed_year")
TIERS = (
    Tier("A", D(80)),
    Tier("B", D(15)),
    Tier("C", D(5)),
    Tier("D", D(0), default=True),
    Tier("X", D(0), excluded=True),
)

# Pool total = 400 + 300 + 100 + 100 + 50 + 30 + 20 = 1000 (c01..c07).
GOLDEN = [
    sale("c01", 250),
    sale("c01", 150, "2025-12-31"),  # 400, two lines, last day counts
    sale("c02", 300, "2025-01-01"),  # 300, first day counts
    sale("c03", 100),
    sale("c04", "99.9999"),
    sale("c04", "0.0001"),  # tie at 100
    sale("c05", 50),
    sale("c06", 30),
    sale("c07", 20),
    sale("c08", 100),
    sale("c08", -100),  # credit note: sum 0 -> not in pool
    sale("c09", 50),
    sale("c09", -80),  # sum -30 -> not in pool
    sale("c10", 999, "2024-12-31"),  # outside the period -> inactive
    sale("c11", "9.9999"),  # below the minimum of 10
    sale("c12", 5000),  # manually excluded (X)
    sale("c08", 70, "2026-01-02"),  # after the period: ignored
]
PARAMS = ParetoParams(tiers=TIERS, period=Y2025, min_sales=D(10))
# the organization's customer list: every customer above plus c13, who never bought anything
CUSTOMERS = [(f"c{i:02d}", None) for i in range(1, 14)]


def _golden(engine):
    return rows(
        pareto_tiers(
            engine.sales(GOLDEN),
            PARAMS,
            customers=engine.customers(CUSTOMERS),
            manual=engine.manual({"c12": "X", "c05": "A"}),
        )
    )


def test_pareto_golden(engine) -> None:
    got = _golden(engine)
    expected = {
        # key: (rank, eligible, sales_before, share_before %, cumulative, tier, automatic, seg)
        "c01": (1, "400", "0", "0", "80", "A", "A", "A"),  # 100*0 < 80*1000
        "c02": (2, "300", "400", "40", "80", "A", "A", "A"),  # 40 % < 80 %
        "c03": (3, "100", "700", "70", "80", "A", "A", "A"),  # crosses 80 %: still A
        "c04": (4, "100", "800", "80", "95", "B", "B", "B"),  # tie with c03, key after;
        #                                                          # 80 % is not < 80 % -> B
        "c05": (5, "50", "900", "90", "95", "B", "B", "A"),  # manual A wins, auto B
        "c06": (6, "30", "950", "95", "100", "C", "C", "C"),  # 95 % not < 95 % -> C
        "c07": (7, "20", "980", "98", "100", "C", "C", "C"),
    }
    for key, (rank, elig, before, share, cum, tier, auto, seg) in expected.items():
        row = got[key]
        assert (
            row["rank"],
            row["eligible_sales"],
            row["sales_before"],
            row["share_before"],
            row["cumulative_threshold"],
            row["tier"],
            row["automatic_segment"],
            row["segment"],
        ) == (rank, D(elig), D(before), D(share), D(cum), tier, auto, seg), key
        assert row["pool_total"] == D(1000)
    # out of the pool: default D, except the manually excluded c12 (no automatic value)
    for key, eligible in {
        "c08": "0",
        "c09": "-30",
        "c10": "0",
        "c11": "9.9999",
        "c13": "0",
    }.items():
        assert (
            got[key]["rank"],
            got[key]["tier"],
            got[key]["eligible_sales"],
            got[key]["automatic_segment"],
            got[key]["segment"],
        ) == (None, None, D(eligible), "D", "D"), key
    assert (
        got["c12"]["rank"],
        got["c12"]["automatic_segment"],
        got["c12"]["manual_segment"],
        got["c12"]["segment"],
    ) == (None, None, "X", "X")
    assert set(got) == {f"c{i:02d}" for i in range(1, 14)}


def test_without_default_segment_outsiders_get_none(duck) -> None:
    params = ParetoParams.abc(Y2025, min_sales=D(10))
    got = rows(pareto_tiers(duck.sales(GOLDEN), params))
    # without the manual exclusion c12 (5000) leads: total 6000, 80 % = 4800 -> c12 A (share
    # before 0), c01 share before 5000/6000 = 83.3333 % -> B, and so on.
    assert got["c12"]["tier"] == "A"
    assert got["c01"]["share_before"] == D("83.3333")  # truncated, not rounded
    assert got["c01"]["tier"] == "B"
    assert got["c08"]["segment"] is None and got["c08"]["automatic_segment"] is None
    # without a customers frame, known customers are those with lines in the period: c10 (2024
    # only) is not listed
    assert "c10" not in got


def test_known_customers_come_from_the_customers_frame(engine) -> None:
    # c20 has no sales at all; known through the customers table -> default D, sales 0
    sales = engine.sales([sale("c01", 10)])
    customers = engine.customers([("c01", None), ("c20", None)])
    got = rows(pareto_tiers(sales, ParetoParams(tiers=TIERS, period=Y2025), customers=customers))
    assert (got["c20"]["eligible_sales"], got["c20"]["segment"]) == (D(0), "D")
    assert got["c01"]["tier"] == "A"


def test_vat_identity_merges_records(engine) -> None:
    # v1 and v2 share BE0000000001 -> one key with 70 + 20 = 90; v3 alone 10 -> total 100:
    # BE..01 share before 0 -> A; BE..03 share before 90 % -> B. v4 has no valid VAT key (empty),
    # v5 none at all, v6 is not in the customers table: their sales are left out.
    sales = engine.sales(
        [
            sale("v1", 70),
            sale("v2", 20),
            sale("v3", 10),
            sale("v4", 1000),
            sale("v5", 1000),
            sale("v6", 1000),
        ]
    )
    customers = engine.customers(
        [
            ("v1", "BE0000000001"),
            ("v2", "BE0000000001"),
            ("v3", "BE0000000003"),
            ("v4", ""),
            ("v5", None),
        ]
    )
    params = ParetoParams.abc(Y2025, identity="vat")
    got = rows(pareto_tiers(sales, params, customers=customers))
    assert set(got) == {"BE0000000001", "BE0000000003"}
    assert (got["BE0000000001"]["eligible_sales"], got["BE0000000001"]["tier"]) == (D(90), "A")
    assert (got["BE0000000003"]["share_before"], got["BE0000000003"]["tier"]) == (D(90), "B")
    # the run summary counts the records without a valid key: v4 and v5
    assert customers_without_vat_key(customers).collect().rows() == [(2,)]


def test_branch_brand_and_filters(duck) -> None:
    lines = [
        sale("c1", 60, branch="B1", brand="X"),
        sale("c1", 1000, branch="B2", brand="X"),
        sale("c2", 40, branch="B1", brand="X"),
        sale("c2", 500, branch="B1", brand="Y"),
        sale("c3", 900, branch="B1", brand="X", territory="South"),
    ]
    # type constraint branch B1 and brand X: c1 60, c2 40, c3 900
    params = ParetoParams.abc(Y2025, branches=("B1",), brands=("X",))
    got = rows(pareto_tiers(duck.sales(lines), params))
    assert {k: r["eligible_sales"] for k, r in got.items()} == {"c1": 60, "c2": 40, "c3": 900}
    # report filter territory=North removes c3's line before anything else: c3 is not even known
    filtered = ParetoParams.abc(
        Y2025, branches=("B1",), brands=("X",), filters=(("territory", ("North",)),)
    )
    got = rows(pareto_tiers(duck.sales(lines), filtered))
    assert set(got) == {"c1", "c2"}
    # c1 share before 0 -> A; c2 share before 60 / 100 = 60 % < 80 % -> A as well
    assert (got["c1"]["tier"], got["c2"]["tier"]) == ("A", "A")
