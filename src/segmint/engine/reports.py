"""Aggregates over per-customer results: the segment summary, summary cards and the migration
matrix. Counts and sums are exact; percentages and averages are doubles rounded to 4 decimals
(they are for display, so engines may differ in the last digit)."""

from __future__ import annotations

import narwhals as nw

from segmint.engine._backend import Frame, run


def _columns(frame: Frame) -> list[str]:
    if isinstance(frame, nw.LazyFrame | nw.DataFrame):
        return list(frame.columns)
    return list(nw.from_native(frame).columns)


def _sales_column(columns: list[str]) -> str:
    return "eligible_sales" if "eligible_sales" in columns else "monetary"


def _pct(part: str, whole: str) -> str:
    return (
        f"ROUND(CASE WHEN {whole} = 0 THEN NULL ELSE "
        f"CAST({part} AS DOUBLE) * 100 / CAST({whole} AS DOUBLE) END, 4)"
    )


def segment_summary(result: Frame) -> nw.LazyFrame:
    """Per segment of a :func:`~segmint.engine.pareto_tiers` or
    :func:`~segmint.engine.rfm_segments` result: ``customers, pct_customers, total_sales,
    pct_sales, avg_sales`` and, for RFM, ``avg_recency_days, avg_frequency, avg_monetary``
    (over the customers that have them). Customers without a segment are left out.

    >>> import duckdb
    >>> result = duckdb.sql("SELECT * FROM (VALUES ('c1', 'A', 80.0), ('c2', 'B', 15.0), "
    ...     "('c3', 'B', 5.0)) AS t(customer_key, segment, eligible_sales)")
    >>> rows = segment_summary(result).collect().rows()
    >>> [(s, n, pc, str(t), ps) for s, n, pc, t, ps, _ in rows]
    [('A', 1, 33.3333, '80.0000', 80.0), ('B', 2, 66.6667, '20.0000', 20.0)]
    """
    columns = _columns(result)
    sales = _sales_column(columns)
    rfm = ""
    if "recency_days" in columns:
        rfm = (
            ",\n  ROUND(AVG(CAST(recency_days AS DOUBLE)), 4) AS avg_recency_days,"
            "\n  ROUND(AVG(CAST(frequency AS DOUBLE)), 4) AS avg_frequency,"
            "\n  ROUND(AVG(CAST(monetary AS DOUBLE)), 4) AS avg_monetary"
        )
    sql = f"""
WITH r AS (SELECT segment, CAST({sales} AS DECIMAL(38, 4)) AS sales,
                  {"recency_days, frequency, monetary" if rfm else "1 AS one"}
           FROM {{result}} WHERE segment IS NOT NULL),
g AS (SELECT segment, COUNT(*) AS customers, CAST(SUM(sales) AS DECIMAL(38, 4)) AS total_sales{rfm}
      FROM r GROUP BY segment),
t AS (SELECT SUM(customers) AS all_customers, SUM(total_sales) AS all_sales FROM g)
SELECT g.segment, CAST(g.customers AS BIGINT) AS customers,
  {_pct("g.customers", "t.all_customers")} AS pct_customers, g.total_sales,
  {_pct("g.total_sales", "t.all_sales")} AS pct_sales,
  ROUND(CAST(g.total_sales AS DOUBLE) / CAST(g.customers AS DOUBLE), 4) AS avg_sales
  {", g.avg_recency_days, g.avg_frequency, g.avg_monetary" if rfm else ""}
FROM g CROSS JOIN t ORDER BY g.segment
"""
    return run(sql, {"result": result})


def summary_cards(result: Frame) -> nw.LazyFrame:
    """One row: ``customers`` (known), ``active_customers`` (RFM: at least one purchase;
    Pareto: in the pool) and ``total_sales`` (net, credit notes included) of a result.

    >>> import duckdb
    >>> result = duckdb.sql("SELECT * FROM (VALUES ('c1', 2, 80.0), ('c2', 0, -5.0)) "
    ...     "AS t(customer_key, frequency, monetary)")
    >>> summary_cards(result).collect().rows()
    [(2, 1, Decimal('75.0000'))]
    """
    columns = _columns(result)
    sales = _sales_column(columns)
    active = "frequency > 0" if "frequency" in columns else "rank IS NOT NULL"
    sql = f"""
SELECT CAST(COUNT(*) AS BIGINT) AS customers,
  CAST(COUNT(CASE WHEN {active} THEN 1 END) AS BIGINT) AS active_customers,
  CAST(COALESCE(SUM(CAST({sales} AS DECIMAL(38, 4))), 0) AS DECIMAL(38, 4)) AS total_sales
FROM {{result}}
"""
    return run(sql, {"result": result})


def migration_matrix(before: Frame, after: Frame) -> nw.LazyFrame:
    """Customers and sales per ``from_segment -> to_segment`` pair between two per-customer
    results (same engine); a customer missing from one side, or without a segment, counts as
    ``"none"``. ``sales`` are the customers' sales in ``after`` (0 when missing there).

    >>> import duckdb
    >>> before = duckdb.sql("SELECT * FROM (VALUES ('c1', 'A', 10.0), ('c2', 'B', 5.0)) "
    ...     "AS t(customer_key, segment, eligible_sales)")
    >>> after = duckdb.sql("SELECT * FROM (VALUES ('c1', 'B', 7.0), ('c3', 'A', 20.0)) "
    ...     "AS t(customer_key, segment, eligible_sales)")
    >>> [(f, t, n, str(s)) for f, t, n, s in migration_matrix(before, after).collect().rows()]
    [('A', 'B', 1, '7.0000'), ('B', 'none', 1, '0.0000'), ('none', 'A', 1, '20.0000')]
    """
    sales = _sales_column(_columns(after))
    sql = f"""
SELECT COALESCE(b.segment, 'none') AS from_segment, COALESCE(a.segment, 'none') AS to_segment,
  CAST(COUNT(*) AS BIGINT) AS customers,
  CAST(SUM(COALESCE(CAST(a.{sales} AS DECIMAL(38, 4)), CAST(0 AS DECIMAL(38, 4))))
       AS DECIMAL(38, 4)) AS sales
FROM {{before}} AS b FULL OUTER JOIN {{after}} AS a ON a.customer_key = b.customer_key
GROUP BY COALESCE(b.segment, 'none'), COALESCE(a.segment, 'none')
ORDER BY from_segment, to_segment
"""
    return run(sql, {"before": before, "after": after})


def customers_without_vat_key(customers: Frame) -> nw.LazyFrame:
    """One row, ``left_out``: the customer records a VAT-based type leaves out because their
    ``vat_key`` is missing or empty (for the run summary).

    >>> import duckdb
    >>> customers = duckdb.sql("SELECT * FROM (VALUES ('c1', 'BE0123456789'), ('c2', ''), "
    ...     "('c3', NULL)) AS t(customer_id, vat_key)")
    >>> customers_without_vat_key(customers).collect().rows()
    [(2,)]
    """
    sql = """
SELECT CAST(COUNT(*) AS BIGINT) AS left_out FROM {customers}
WHERE NULLIF(TRIM(CAST(vat_key AS VARCHAR)), '') IS NULL
"""
    return run(sql, {"customers": customers})
