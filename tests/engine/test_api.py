"""The public surface of ``segmint.engine``, parameter validation and the generated SQL."""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import polars as pl
import pytest
import sqlglot

import segmint.engine as engine_api
from segmint.engine import ParetoParams, Period, RfmParams, Tier, pareto_tiers
from segmint.engine._backend import to_spark_sql
from segmint.engine.pareto import pareto_sql
from segmint.engine.rfm import rfm_sql
from segmint.errors import ValidationError

Y2025 = Period(date(2025, 1, 1), date(2025, 12, 31))


def test_public_api_is_pinned() -> None:
    assert engine_api.__all__ == [
        "DEFAULT_RFM_MAP",
        "ParetoParams",
        "Period",
        "RfmParams",
        "Tier",
        "customers_without_vat_key",
        "migration_matrix",
        "pareto_tiers",
        "resolve_period",
        "rfm_cut_points",
        "rfm_segments",
        "rfm_what_if",
        "segment_summary",
        "summary_cards",
    ]


@pytest.mark.parametrize(
    ("make", "field", "message"),
    [
        (lambda: ParetoParams((Tier("A", D(80)), Tier("B", D(15))), Y2025), "tiers", "95"),
        (
            lambda: ParetoParams(
                (Tier("A", D(100), default=True), Tier("B", D(0), default=True)), Y2025
            ),
            "default",
            "at most one default",
        ),
        (lambda: Tier("X", D(5), excluded=True), "tiers", "must have threshold 0"),
        (lambda: Tier("A", D("80.00001")), "threshold", "80.00001"),
        (lambda: ParetoParams.abc(Y2025, identity="email"), "identity", "email"),
        (lambda: ParetoParams.abc(Y2025, filters=(("price", ("1",)),)), "filters", "price"),
        (lambda: RfmParams(Y2025, f_cuts=(1, 2, 3)), "f_cuts", "3"),
        (lambda: RfmParams(Y2025, m_cuts=(10, 5, 20, 30)), "m_cuts", "10, 5"),
        (lambda: RfmParams(Y2025, r_cuts=(1.5, 2, 3, 4)), "r_cuts", "whole"),
        (lambda: RfmParams(Y2025, segment_map=(("All", ("55",)),)), "segment_map", "11, 12"),
        (
            lambda: RfmParams(Y2025, segment_map=(("A", ("55",)), ("B", ("55",)))),
            "segment_map",
            "both",
        ),
        (lambda: Period(date(2025, 2, 1), date(2025, 1, 1)), "period", "2025-02-01"),
    ],
)
def test_validation_names_field_and_value(make, field, message) -> None:
    with pytest.raises(ValidationError, match=message) as info:
        make()
    assert info.value.field == field


def test_unsupported_frames_are_refused() -> None:
    frame = pl.LazyFrame({"customer_id": ["c1"]})
    with pytest.raises(ValidationError, match="LazyFrame"):
        pareto_tiers(frame, ParetoParams.abc(Y2025))


def test_vat_identity_needs_customers() -> None:
    import duckdb

    with pytest.raises(ValidationError, match="customers frame"):
        pareto_tiers(duckdb.sql("SELECT 1 AS customer_id"), ParetoParams.abc(Y2025, identity="vat"))


@pytest.mark.parametrize(
    "sql",
    [
        pareto_sql(
            ParetoParams.abc(Y2025, branches=("B'1",), filters=(("brand", ("{x}",)),)),
            has_customers=True,
            manual={"c1": "A"},
        ).format(sales="s", customers="c", manual="m"),
        rfm_sql(RfmParams(Y2025, excluded_segments=("Out",)), has_customers=False).format(
            sales="s", customers="c", manual="m"
        ),
    ],
)
def test_sql_transpiles_to_spark_without_engine_specific_leftovers(sql) -> None:
    spark = to_spark_sql(sql)
    sqlglot.parse_one(spark, read="spark")  # valid Spark SQL
    assert "HUGEINT" not in spark and "INT128" not in spark and "//" not in spark


def test_literals_are_escaped() -> None:
    import duckdb

    sales = duckdb.sql(
        "SELECT 'd1' AS document_id, DATE '2025-05-01' AS invoice_date, "
        "'c''1' AS customer_id, 10 AS net_amount, 'B''1' AS branch, "
        "'{x}' AS brand"
    )
    params = ParetoParams.abc(Y2025, branches=("B'1",), filters=(("brand", ("{x}",)),))
    got = pareto_tiers(sales, params, manual={"c'1": "{A}"}).collect().rows(named=True)
    assert [(r["customer_key"], r["tier"], r["segment"]) for r in got] == [("c'1", "A", "{A}")]
