"""Period resolution at month ends and leap days, and the period applied by the engine."""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import pytest

from segmint.engine import ParetoParams, Period, pareto_tiers, resolve_period
from segmint.errors import ValidationError

from .conftest import rows, sale


@pytest.mark.parametrize(
    ("as_of", "months", "interval", "start", "end"),
    [
        # rolling: after as_of minus N calendar months (day clamped), through as_of
        ("2026-11-22", 12, "rolling", "2025-11-23", "2026-11-22"),
        ("2024-03-31", 1, "rolling", "2024-03-01", "2024-03-31"),  # 03-31 - 1 month = 02-29
        ("2023-03-31", 1, "rolling", "2023-03-01", "2023-03-31"),  # ... = 02-28 (no leap)
        ("2024-05-31", 1, "rolling", "2024-05-01", "2024-05-31"),  # ... = 04-30
        ("2024-02-29", 12, "rolling", "2023-03-01", "2024-02-29"),  # 2023-02-28 + 1 day
        ("2025-02-28", 12, "rolling", "2024-02-29", "2025-02-28"),  # leap day is inside
        ("2024-02-29", 48, "rolling", "2020-03-01", "2024-02-29"),  # 2020-02-29 + 1 day
        ("2024-12-31", 6, "rolling", "2024-07-01", "2024-12-31"),  # 06-30 + 1 day
        ("2024-08-31", 6, "rolling", "2024-03-01", "2024-08-31"),  # 02-29 + 1 day
        # fixed year: the last N/12 completed calendar years before as_of
        ("2026-11-22", 12, "fixed_year", "2025-01-01", "2025-12-31"),
        ("2025-12-31", 12, "fixed_year", "2024-01-01", "2024-12-31"),  # 2025 not complete
        ("2026-01-01", 12, "fixed_year", "2025-01-01", "2025-12-31"),
        ("2024-02-29", 24, "fixed_year", "2022-01-01", "2023-12-31"),
    ],
)
def test_resolve_period(as_of, months, interval, start, end) -> None:
    assert resolve_period(date.fromisoformat(as_of), months, interval) == Period(
        date.fromisoformat(start), date.fromisoformat(end)
    )


@pytest.mark.parametrize(
    ("months", "interval"), [(18, "fixed_year"), (0, "rolling"), (12, "weekly")]
)
def test_bad_periods_name_the_value(months, interval) -> None:
    with pytest.raises(ValidationError, match=str(months) if months != 12 else "weekly"):
        resolve_period(date(2025, 1, 1), months, interval)


def test_engine_applies_rolling_and_fixed_periods(engine) -> None:
    # one customer per date; which of them are in the period shows in eligible sales
    days = ["2023-02-28", "2023-03-01", "2023-12-31", "2024-01-01", "2024-02-29", "2024-03-01"]
    sales = engine.sales([sale(f"c{i}", 1, d) for i, d in enumerate(days)])
    as_of = date(2024, 2, 29)
    rolling = rows(pareto_tiers(sales, ParetoParams.abc(resolve_period(as_of, 12))))
    # 2023-03-01 .. 2024-02-29: c1..c4; 2023-02-28 and 2024-03-01 are out
    assert {k for k, r in rolling.items() if r["eligible_sales"] > 0} == {"c1", "c2", "c3", "c4"}
    fixed = rows(pareto_tiers(sales, ParetoParams.abc(resolve_period(as_of, 12, "fixed_year"))))
    # fixed year as of 2024-02-29: calendar 2023 -> c0, c1, c2
    assert {k for k, r in fixed.items() if r["eligible_sales"] > 0} == {"c0", "c1", "c2"}
    assert all(r["eligible_sales"] in (D(0), D(1)) for r in fixed.values())
