"""Pareto (ABC) tiers, by PRODUCT.md's rules, as one SQL query for every engine."""

from __future__ import annotations

from decimal import Decimal

import narwhals as nw

from segmint.engine._backend import Frame, in_list, lit, run
from segmint.engine._sql import Manual, keyed_ctes, known_cte, manual_cte, period_sql
from segmint.engine.params import ParetoParams

# Amounts are DECIMAL(18, 4); the boundary test runs on whole numbers of 1/10000 currency units
# in DECIMAL(38, 0), where DuckDB and Spark multiply exactly (Spark would round a DECIMAL(38, 4)
# product to 6 decimals), so `100 * sales_before < cumulative * pool_total` is exact everywhere.
_UNITS = "CAST(CAST({x} * CAST(10000 AS DECIMAL(5, 0)) AS DECIMAL(38, 4)) AS DECIMAL(38, 0))"


def _units(x: str) -> str:
    return _UNITS.format(x=x)


def pareto_sql(params: ParetoParams, *, has_customers: bool, manual: Manual = None) -> str:
    """The query behind :func:`pareto_tiers` (DuckDB dialect, ``{table}`` placeholders)."""
    extra = tuple(c for c, v in (("branch", params.branches), ("brand", params.brands)) if v)
    period = period_sql("invoice_date", params.period)
    constraints = [
        in_list(f"CAST({c} AS VARCHAR)", v)
        for c, v in (("branch", params.branches), ("brand", params.brands))
        if v
    ]
    constraint = " AND ".join(constraints) or "TRUE"
    manual_sql, _ = manual_cte(manual)
    excluded = params.excluded_segments
    is_excluded = (
        f"m.segment IS NOT NULL AND {in_list('m.segment', excluded)}" if excluded else "FALSE"
    )
    whens, thresholds, cumulative = [], [], Decimal(0)
    for tier in params.tiers:
        if tier.excluded:
            continue
        cumulative += tier.threshold
        test = (
            f"before_u * CAST(1000000 AS DECIMAL(7, 0)) < "
            f"CAST({int(cumulative * 10000)} AS DECIMAL(7, 0)) * total_u"
        )
        whens.append(f"WHEN {test} THEN {lit(tier.name)}")
        thresholds.append(f"WHEN {test} THEN {lit(cumulative)}")
    default = lit(params.default_segment)
    keyed = keyed_ctes(
        identity=params.identity, filters=params.filters, extra=extra, has_customers=has_customers
    )
    known = known_cte(
        source="eligible",
        columns=("eligible_sales",),
        identity=params.identity,
        filters=params.filters,
        has_customers=has_customers,
    )
    # one pass over the period's lines: every customer with lines in it, and its eligible sales
    # (NULL when none of its lines is in the type's branches/brands)
    return f"""
WITH {keyed},
{manual_sql},
eligible AS (
  SELECT customer_key, CAST(SUM(CASE WHEN {constraint} THEN net_amount END)
                            AS DECIMAL(38, 4)) AS eligible_sales
  FROM lines WHERE {period} GROUP BY customer_key
),
{known},
base AS (
  SELECT k.customer_key, COALESCE(k.eligible_sales, CAST(0 AS DECIMAL(38, 4))) AS eligible_sales,
         m.segment AS manual_segment, ({is_excluded}) AS manual_excluded
  FROM known AS k
  LEFT JOIN manual AS m ON m.customer_key = k.customer_key
),
ranked AS (
  SELECT customer_key, eligible_sales,
    ROW_NUMBER() OVER (ORDER BY eligible_sales DESC, customer_key ASC) AS rank,
    COALESCE(SUM(eligible_sales) OVER (ORDER BY eligible_sales DESC, customer_key ASC
      ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), CAST(0 AS DECIMAL(38, 4))) AS sales_before,
    SUM(eligible_sales) OVER () AS pool_total
  FROM base
  WHERE eligible_sales > 0 AND eligible_sales >= {lit(params.min_sales)} AND NOT manual_excluded
),
units AS (
  SELECT *, {_units("sales_before")} AS before_u, {_units("pool_total")} AS total_u FROM ranked
),
tiered AS (
  SELECT customer_key, rank, sales_before, pool_total,
    CAST(CAST(CAST(before_u * CAST(1000000 AS DECIMAL(7, 0)) AS HUGEINT) // CAST(total_u AS HUGEINT)
      AS DECIMAL(18, 0)) * CAST('0.0001' AS DECIMAL(5, 4)) AS DECIMAL(10, 4)) AS share_before,
    CASE {" ".join(thresholds)} END AS cumulative_threshold,
    CASE {" ".join(whens)} END AS tier
  FROM units
)
SELECT b.customer_key,
  CAST(b.eligible_sales AS DECIMAL(38, 4)) AS eligible_sales,
  CAST(t.rank AS BIGINT) AS rank,
  CAST(t.sales_before AS DECIMAL(38, 4)) AS sales_before,
  CAST(t.pool_total AS DECIMAL(38, 4)) AS pool_total,
  t.share_before,
  CAST(t.cumulative_threshold AS DECIMAL(7, 4)) AS cumulative_threshold,
  t.tier,
  CAST(CASE WHEN b.manual_excluded THEN NULL ELSE COALESCE(t.tier, {default}) END AS VARCHAR)
    AS automatic_segment,
  b.manual_segment,
  CAST(COALESCE(b.manual_segment, t.tier, {default}) AS VARCHAR) AS segment
FROM base AS b LEFT JOIN tiered AS t ON t.customer_key = b.customer_key
"""


def pareto_tiers(
    sales: Frame, params: ParetoParams, *, customers: Frame | None = None, manual: Manual = None
) -> nw.LazyFrame:
    """Every known customer's Pareto tier, with the figures that explain it.

    ``sales`` holds canonical sales lines; ``customers`` (optional for ID identity, required for
    VAT identity) adds customers without sales and the ``vat_key``; ``manual`` is a mapping
    ``{customer_key: segment}`` or a frame with those two columns, on the same engine.

    Columns: ``customer_key, eligible_sales, rank, sales_before, pool_total, share_before``
    (% of the pool total, truncated to 4 decimals), ``cumulative_threshold`` (of the tier that
    was reached), ``tier`` (the rule's answer, pool only), ``automatic_segment`` (tier, or the
    default segment outside the pool), ``manual_segment`` and ``segment`` (the effective one).

    >>> import duckdb
    >>> from datetime import date
    >>> from segmint.engine import ParetoParams, Period
    >>> sales = duckdb.sql("SELECT * FROM (VALUES ('d1', DATE '2025-03-01', 'c1', 80.0), "
    ...     "('d2', DATE '2025-03-02', 'c2', 15.0), ('d3', DATE '2025-03-03', 'c3', 5.0)) "
    ...     "AS t(document_id, invoice_date, customer_id, net_amount)")
    >>> params = ParetoParams.abc(Period(date(2025, 1, 1), date(2025, 12, 31)))
    >>> result = pareto_tiers(sales, params).sort("rank").collect()
    >>> [(r["customer_key"], r["tier"], str(r["share_before"])) for r in result.rows(named=True)]
    [('c1', 'A', '0.0000'), ('c2', 'B', '80.0000'), ('c3', 'C', '95.0000')]
    """
    _, manual_frame = manual_cte(manual)
    sql = pareto_sql(params, has_customers=customers is not None, manual=manual)
    return run(sql, {"sales": sales, "customers": customers, "manual": manual_frame})
