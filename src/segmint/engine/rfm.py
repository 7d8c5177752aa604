"""RFM scores and segments, by PRODUCT.md's rules, as one SQL query for every engine."""

from __future__ import annotations

import dataclasses
from typing import Literal

import narwhals as nw

from segmint.engine._backend import Frame, in_list, lit, run
from segmint.engine._sql import Manual, keyed_ctes, known_cte, manual_cte, period_sql
from segmint.engine.params import RfmParams

_METRICS = (
    ("r", "recency_days", "BIGINT"),
    ("f", "frequency", "BIGINT"),
    ("m", "monetary", "DECIMAL(38, 4)"),
)


def _cuts_cte(metric: str, column: str, sql_type: str, cuts: tuple | None) -> str:
    names = [f"{metric}{k}" for k in range(1, 5)]
    if cuts is not None:
        cols = ", ".join(
            f"CAST({lit(c)} AS {sql_type}) AS {n}" for c, n in zip(cuts, names, strict=True)
        )
        return f"cuts_{metric} AS (SELECT {cols})"
    # nearest rank: cut k is the value at position ceil(k * n / 5) = (k * n + 4) // 5 (integer
    # division, identical on every engine), in ascending order of the active customers' values
    cols = ", ".join(
        f"CAST(MAX(CASE WHEN pos = ({k} * n + 4) // 5 THEN v END) AS {sql_type}) AS {n}"
        for k, n in zip(range(1, 5), names, strict=True)
    )
    return f"""cuts_{metric} AS (
  SELECT {cols} FROM (
    SELECT {column} AS v, ROW_NUMBER() OVER (ORDER BY {column}) AS pos,
           COUNT(*) OVER () AS n FROM active) AS ranked
)"""


def _below(metric: str, column: str) -> str:
    return " + ".join(f"(CASE WHEN {metric}{k} < {column} THEN 1 ELSE 0 END)" for k in range(1, 5))


def rfm_sql(
    params: RfmParams,
    *,
    has_customers: bool,
    manual: Manual = None,
    output: Literal["customers", "cuts"] = "customers",
) -> str:
    """The query behind :func:`rfm_segments` (DuckDB dialect, ``{table}`` placeholders)."""
    manual_sql, _ = manual_cte(manual)
    excluded = params.excluded_segments
    is_excluded = (
        f"m.segment IS NOT NULL AND {in_list('m.segment', excluded)}" if excluded else "FALSE"
    )
    cells = ", ".join(f"({lit(cell)}, {lit(seg)})" for seg, cs in params.segment_map for cell in cs)
    cuts = ",\n".join(_cuts_cte(m, col, t, getattr(params, f"{m}_cuts")) for m, col, t in _METRICS)
    default = lit(params.default_segment)
    keyed = keyed_ctes(
        identity=params.identity,
        filters=params.filters,
        extra=("document_id",),
        has_customers=has_customers,
    )
    known = known_cte(
        source="metrics",
        columns=("frequency", "last_purchase", "monetary"),
        identity=params.identity,
        filters=params.filters,
        has_customers=has_customers,
    )
    head = f"""
WITH {keyed},
{manual_sql},
docs AS (
  -- a purchase is a distinct document (or day, without a document number) with a positive total
  SELECT customer_key, MAX(invoice_date) AS doc_date, SUM(net_amount) AS doc_total
  FROM lines WHERE {period_sql("invoice_date", params.period)}
  GROUP BY customer_key, COALESCE(CAST(document_id AS VARCHAR), CAST(invoice_date AS VARCHAR))
),
metrics AS (
  SELECT customer_key, COUNT(CASE WHEN doc_total > 0 THEN 1 END) AS frequency,
         MAX(CASE WHEN doc_total > 0 THEN doc_date END) AS last_purchase,
         SUM(doc_total) AS monetary
  FROM docs GROUP BY customer_key
),
{known},
base AS (
  SELECT x.customer_key, CAST(COALESCE(x.frequency, 0) AS BIGINT) AS frequency,
    x.last_purchase,
    CAST(DATE_DIFF('day', x.last_purchase, {lit(params.as_of_date)}) AS BIGINT) AS recency_days,
    CAST(COALESCE(x.monetary, 0) AS DECIMAL(38, 4)) AS monetary,
    m.segment AS manual_segment, ({is_excluded}) AS manual_excluded
  FROM known AS x
  LEFT JOIN manual AS m ON m.customer_key = x.customer_key
),
active AS (SELECT * FROM base WHERE frequency > 0),
{cuts},
cuts AS (SELECT * FROM cuts_r CROSS JOIN cuts_f CROSS JOIN cuts_m)"""
    if output == "cuts":
        rows = " UNION ALL ".join(
            f"SELECT {lit(m)} AS metric, {k} AS k, CAST({m}{k} AS DECIMAL(38, 4)) AS value "
            "FROM cuts"
            for m, _, _ in _METRICS
            for k in range(1, 5)
        )
        return f"{head}\nSELECT metric, CAST(k AS INTEGER) AS k, value FROM ({rows}) AS c"
    return f"""{head},
rfm_map AS (SELECT cell, segment FROM (VALUES {cells}) AS t(cell, segment)),
scored AS (
  SELECT b.customer_key, 5 - ({_below("r", "b.recency_days")}) AS r_score,
    1 + ({_below("f", "b.frequency")}) AS f_score, 1 + ({_below("m", "b.monetary")}) AS m_score,
    CONCAT_WS(';', CAST(r1 AS VARCHAR), CAST(r2 AS VARCHAR), CAST(r3 AS VARCHAR),
              CAST(r4 AS VARCHAR)) AS r_cuts,
    CONCAT_WS(';', CAST(f1 AS VARCHAR), CAST(f2 AS VARCHAR), CAST(f3 AS VARCHAR),
              CAST(f4 AS VARCHAR)) AS f_cuts,
    CONCAT_WS(';', CAST(m1 AS VARCHAR), CAST(m2 AS VARCHAR), CAST(m3 AS VARCHAR),
              CAST(m4 AS VARCHAR)) AS m_cuts
  FROM base AS b CROSS JOIN cuts WHERE b.frequency > 0 AND NOT b.manual_excluded
),
celled AS (
  SELECT *, (f_score + m_score + 1) // 2 AS fm,
    CAST(r_score AS VARCHAR) || CAST((f_score + m_score + 1) // 2 AS VARCHAR) AS cell
  FROM scored
)
SELECT b.customer_key, b.recency_days, b.frequency, b.monetary, b.last_purchase,
  CAST(c.r_score AS INTEGER) AS r_score, CAST(c.f_score AS INTEGER) AS f_score,
  CAST(c.m_score AS INTEGER) AS m_score, CAST(c.fm AS INTEGER) AS fm, c.cell,
  c.r_cuts, c.f_cuts, c.m_cuts, mp.segment AS rfm_segment,
  CAST(CASE WHEN b.manual_excluded THEN NULL ELSE COALESCE(mp.segment, {default}) END AS VARCHAR)
    AS automatic_segment,
  b.manual_segment,
  CAST(COALESCE(b.manual_segment, mp.segment, {default}) AS VARCHAR) AS segment
FROM base AS b LEFT JOIN celled AS c ON c.customer_key = b.customer_key
LEFT JOIN rfm_map AS mp ON mp.cell = c.cell
"""


def rfm_segments(
    sales: Frame, params: RfmParams, *, customers: Frame | None = None, manual: Manual = None
) -> nw.LazyFrame:
    """Every known customer's RFM figures, scores, cell and segment.

    Columns: ``customer_key, recency_days, frequency, monetary, last_purchase, r_score,
    f_score, m_score, fm, cell`` (R then FM, e.g. ``"54"``), ``r_cuts, f_cuts, m_cuts`` (the
    cut points used, ``;``-separated), ``rfm_segment`` (the map's answer, pool only),
    ``automatic_segment``, ``manual_segment`` and ``segment`` (the effective one). Customers
    without a purchase in the period have ``frequency`` 0, no scores and the default segment.

    >>> import duckdb
    >>> from datetime import date
    >>> from segmint.engine import Period, RfmParams
    >>> sales = duckdb.sql("SELECT * FROM (VALUES ('d1', DATE '2025-12-01', 'c1', 500.0), "
    ...     "('d2', DATE '2025-02-01', 'c2', 20.0)) "
    ...     "AS t(document_id, invoice_date, customer_id, net_amount)")
    >>> year = Period(date(2025, 1, 1), date(2025, 12, 31))
    >>> params = RfmParams(year, r_cuts=(30, 60, 90, 180), f_cuts=(1, 2, 3, 4),
    ...                    m_cuts=(50, 100, 200, 400))
    >>> rows = rfm_segments(sales, params).sort("customer_key").collect().rows(named=True)
    >>> [(r["customer_key"], r["recency_days"], r["cell"], r["segment"]) for r in rows]
    [('c1', 30, '53', 'Loyal'), ('c2', 333, '11', 'Lost')]
    """
    _, manual_frame = manual_cte(manual)
    sql = rfm_sql(params, has_customers=customers is not None, manual=manual)
    return run(sql, {"sales": sales, "customers": customers, "manual": manual_frame})


def rfm_cut_points(
    sales: Frame, params: RfmParams, *, customers: Frame | None = None
) -> nw.LazyFrame:
    """The cut points ``rfm_segments`` uses: the given ones, else the suggested nearest-rank
    quintiles of the active customers; columns ``metric`` (r, f, m), ``k`` (1-4), ``value``.

    >>> import duckdb
    >>> from datetime import date
    >>> from segmint.engine import Period, RfmParams
    >>> sales = duckdb.sql("SELECT 'd' || i AS document_id, DATE '2025-06-01' AS invoice_date, "
    ...     "'c' || i AS customer_id, i * 10.0 AS net_amount FROM range(1, 11) AS t(i)")
    >>> params = RfmParams(Period(date(2025, 1, 1), date(2025, 12, 31)))
    >>> cuts = rfm_cut_points(sales, params).filter(nw.col("metric") == "m").sort("k").collect()
    >>> [str(v) for v in cuts["value"]]
    ['20.0000', '40.0000', '60.0000', '80.0000']
    """
    sql = rfm_sql(params, has_customers=customers is not None, output="cuts")
    return run(sql, {"sales": sales, "customers": customers})


def rfm_what_if(
    sales: Frame,
    params: RfmParams,
    *,
    r_cuts: tuple | None = None,
    f_cuts: tuple | None = None,
    m_cuts: tuple | None = None,
    segment_map: tuple | None = None,
    customers: Frame | None = None,
    manual: Manual = None,
) -> nw.LazyFrame:
    """:func:`rfm_segments` with proposed cut points and/or map instead of the saved ones;
    nothing is stored. Compare with :func:`segmint.engine.migration_matrix`.

    >>> import duckdb
    >>> from datetime import date
    >>> from segmint.engine import Period, RfmParams
    >>> sales = duckdb.sql("SELECT 'd1' AS document_id, DATE '2025-12-01' AS invoice_date, "
    ...     "'c1' AS customer_id, 500.0 AS net_amount")
    >>> params = RfmParams(Period(date(2025, 1, 1), date(2025, 12, 31)))
    >>> everyone_lost = (("Lost", tuple(f"{r}{fm}" for r in range(1, 6) for fm in range(1, 6))),)
    >>> rfm_what_if(sales, params, segment_map=everyone_lost).collect()["segment"].to_list()
    ['Lost']
    """
    changes = {
        k: v
        for k, v in (
            ("r_cuts", r_cuts),
            ("f_cuts", f_cuts),
            ("m_cuts", m_cuts),
            ("segment_map", segment_map),
        )
        if v is not None
    }
    proposed = dataclasses.replace(params, **changes)
    return rfm_segments(sales, proposed, customers=customers, manual=manual)
