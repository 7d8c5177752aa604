"""Golden RFM table, small enough to check by hand. Period: calendar year 2025, recency to
2025-12-31. Ten active customers, so the suggested cut k is the value at position
ceil(k * 10 / 5) = 2, 4, 6, 8 of each metric in ascending order."""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import narwhals as nw

from segmint.engine import (
    Period,
    RfmParams,
    rfm_cut_points,
    rfm_segments,
    rfm_what_if,
    segment_summary,
)

from .conftest import rows, sale

Y2025 = Period(date(2025, 1, 1), date(2025, 12, 31))


def _docs(customer: str, last: str, total: int, count: int) -> list[dict]:
    """``count`` purchases adding up to ``total``, the last one on ``last``."""
    first = [sale(customer, 1, f"2025-01-0{i + 1}", f"{customer}-{i}") for i in range(count - 1)]
    return [*first, sale(customer, total - (count - 1), last, f"{customer}-last")]


GOLDEN = [
    # c01: R = 10 (12-21 -> 12-31); the later credit note does not move recency; M = 150 - 50
    sale("c01", 150, "2025-12-21", "c01-a"),
    sale("c01", -50, "2025-12-28", "c01-cn"),
    *_docs("c02", "2025-12-11", 200, 1),  # R 20
    *_docs("c03", "2025-11-30", 300, 1),  # R 31
    *_docs("c04", "2025-11-01", 400, 1),  # R 60
    *_docs("c05", "2025-10-02", 500, 1),  # R 90
    *_docs("c06", "2025-09-02", 600, 2),  # R 120, F 2
    *_docs("c07", "2025-07-04", 700, 2),  # R 180, F 2
    # c08: F 3; one document has lines +500 and -101: its total 399 > 0 is one purchase
    sale("c08", 200, "2025-02-01", "c08-1"),
    sale("c08", 201, "2025-03-01", "c08-2"),
    sale("c08", 500, "2025-05-05", "c08-3"),
    sale("c08", -101, "2025-05-05", "c08-3"),
    *_docs("c09", "2025-03-06", 900, 4),  # R 300, F 4
    *_docs("c10", "2025-01-05", 1000, 5),  # R 360, F 5
    sale("c11", 5000, "2024-12-31", "c11-old"),  # inactive: only sales before the period
    sale("c12", -50, "2025-06-01", "c12-cn"),  # only document in the period is a credit note
]
PARAMS = RfmParams(Y2025, default_segment="Inactive")
CUSTOMERS = [(f"c{i:02d}", None) for i in range(1, 13)]  # c11 is known through this list

# R ascending 10 20 31 60 90 120 180 240 300 360 -> cuts 20 60 120 240
# F ascending 1 1 1 1 1 2 2 3 4 5                -> cuts 1 1 2 3 (collapsed: F score 2 unused)
# M ascending 100 .. 1000                        -> cuts 200 400 600 800
# R score = 5 - #cuts < R; F/M score = 1 + #cuts < value; FM = ceil((F + M) / 2)
EXPECTED = {
    #      R    F   M      r f m fm cell  segment
    "c01": (10, 1, 100, 5, 1, 1, 1, "51", "New Customers"),
    "c02": (20, 1, 200, 5, 1, 1, 1, "51", "New Customers"),  # 20 is not < 20 -> R 5; M 200 -> 1
    "c03": (31, 1, 300, 4, 1, 2, 2, "42", "Potential Loyalist"),  # FM ceil(3/2) = 2
    "c04": (60, 1, 400, 4, 1, 2, 2, "42", "Potential Loyalist"),
    "c05": (90, 1, 500, 3, 1, 3, 2, "32", "Need Attention"),
    "c06": (120, 2, 600, 3, 3, 3, 3, "33", "Potential Loyalist"),  # F 2 > 1, 1 -> 3
    "c07": (180, 2, 700, 2, 3, 4, 4, "24", "At Risk"),  # ceil(7/2) = 4
    "c08": (240, 3, 800, 2, 4, 4, 4, "24", "At Risk"),
    "c09": (300, 4, 900, 1, 5, 5, 5, "15", "Can't Lose Them"),
    "c10": (360, 5, 1000, 1, 5, 5, 5, "15", "Can't Lose Them"),
}


def test_rfm_golden(engine) -> None:
    got = rows(rfm_segments(engine.sales(GOLDEN), PARAMS, customers=engine.customers(CUSTOMERS)))
    for key, (r, f, m, rs, fs, ms, fm, cell, segment) in EXPECTED.items():
        row = got[key]
        assert (
            row["recency_days"],
            row["frequency"],
            row["monetary"],
            row["r_score"],
            row["f_score"],
            row["m_score"],
            row["fm"],
            row["cell"],
            row["segment"],
        ) == (r, f, D(m), rs, fs, ms, fm, cell, segment), key
        assert (row["r_cuts"], row["f_cuts"], row["m_cuts"]) == (
            "20;60;120;240",
            "1;1;2;3",
            "200.0000;400.0000;600.0000;800.0000",
        )
    # inactive customers: no purchase in the period, no scores, the default segment
    assert (
        got["c11"]["frequency"],
        got["c11"]["monetary"],
        got["c11"]["recency_days"],
        got["c11"]["cell"],
        got["c11"]["segment"],
    ) == (0, D(0), None, None, "Inactive")
    assert (
        got["c12"]["frequency"],
        got["c12"]["monetary"],
        got["c12"]["r_score"],
        got["c12"]["segment"],
    ) == (0, D(-50), None, "Inactive")


def test_cut_points_and_what_if(engine) -> None:
    sales = engine.sales(GOLDEN)
    cuts = rfm_cut_points(sales, PARAMS).sort("metric", "k").collect().rows()
    assert [(m, k, v) for m, k, v in cuts] == [
        *[("f", k, D(v)) for k, v in enumerate((1, 1, 2, 3), 1)],
        *[("m", k, D(v)) for k, v in enumerate((200, 400, 600, 800), 1)],
        *[("r", k, D(v)) for k, v in enumerate((20, 60, 120, 240), 1)],
    ]
    # what-if: F cuts 1, 2, 3, 4 -> F 1 scores 1, F 2 -> 2, F 5 -> 5; c06 becomes
    # R 3, F 2, M 3 -> FM ceil(5/2) = 3 -> "33" still; c07 R 2, F 2, M 4 -> FM 3 -> "23"
    got = rows(rfm_what_if(sales, PARAMS, f_cuts=(1, 2, 3, 4)))
    assert (got["c07"]["f_score"], got["c07"]["cell"], got["c07"]["segment"]) == (
        2,
        "23",
        "Need Attention",
    )
    assert got["c07"]["f_cuts"] == "1;2;3;4"


def test_manual_overrides_in_rfm(duck) -> None:
    params = RfmParams(Y2025, default_segment="Inactive", excluded_segments=("Key account",))
    got = rows(
        rfm_segments(duck.sales(GOLDEN), params, manual={"c10": "Champions", "c01": "Key account"})
    )
    # c10: manual wins, the automatic value is still computed
    assert (got["c10"]["automatic_segment"], got["c10"]["segment"]) == (
        "Can't Lose Them",
        "Champions",
    )
    # c01 is manually excluded: out of the pool, no scores, no automatic value
    assert (got["c01"]["r_score"], got["c01"]["automatic_segment"], got["c01"]["segment"]) == (
        None,
        None,
        "Key account",
    )
    # ... but quintiles still come from all active customers: cuts unchanged
    assert got["c02"]["r_cuts"] == "20;60;120;240"


def test_summary_of_rfm(duck) -> None:
    summary = segment_summary(
        rfm_segments(duck.sales(GOLDEN), PARAMS, customers=duck.customers(CUSTOMERS))
    )
    got = rows(summary, "segment")
    # At Risk: c07 700 + c08 800 = 1500 over 2 customers; 12 customers in all
    assert (
        got["At Risk"]["customers"],
        got["At Risk"]["total_sales"],
        got["At Risk"]["avg_sales"],
        got["At Risk"]["avg_frequency"],
    ) == (2, D(1500), 750.0, 2.5)
    assert got["At Risk"]["pct_customers"] == round(2 / 12 * 100, 4)
    # total sales = 100 + 200 + ... + 1000 + 0 (c11) - 50 (c12) = 5450
    assert got["Inactive"]["total_sales"] == D(-50)
    assert sum(r["total_sales"] for r in got.values()) == D(5450)
    assert summary.filter(nw.col("segment") == "Lost").collect().shape[0] == 0
