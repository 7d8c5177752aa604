"""One run's computation: the engine over the organization's sales in the store, shaped into
the run's result (a row per customer, see :mod:`segmint.assignments.results`) and a
summary. No metadata writes happen here."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pyarrow as pa

from segmint.engine import (
    customers_without_vat_key,
    pareto_tiers,
    rfm_cut_points,
    rfm_segments,
)
from segmint.engine._sql import lit
from segmint.segments.models import SegmentType
from segmint.segments.params import pareto_params, rfm_params

#: What the result query yields per customer, with its DuckDB type (the Arrow types of
#: :data:`segmint.assignments.results.RESULT_SCHEMA`).
RESULT_TYPES = (
    ("customer_key", "VARCHAR"),
    ("segment_id", "INTEGER"),
    ("eligible_sales", "BIGINT"),
    ("rank", "BIGINT"),
    ("share_before", "BIGINT"),
    ("recency_days", "INTEGER"),
    ("frequency", "BIGINT"),
    ("r_score", "SMALLINT"),
    ("f_score", "SMALLINT"),
    ("m_score", "SMALLINT"),
)


@dataclass
class Computed:
    """The result of the engine for one run, still inside DuckDB."""

    sql: str  # a query on the DuckDB connection yielding RESULT_TYPES, sorted by customer key
    table: str = ""  # the DuckDB temporary table behind it (customer_key, segment_id, ...)
    summary: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    suggested_cuts: dict[str, list[str]] | None = None


def _units(column: str) -> str:
    """A DECIMAL(…, 4) column as whole 1/10000 units (what :class:`Amount` stores)."""
    return f"CAST(ROUND({column} * 10000) AS BIGINT)"


def compute(
    con: Any,
    *,
    org: str,
    segment_type: SegmentType,
    run_id: int,
    as_of: date,
    manual: dict[str, str],
) -> Computed:
    """Run the engine for ``segment_type`` on connection ``con`` (the store attached as
    ``store``) and return a query producing the snapshot rows. ``manual`` maps customer keys to
    the names of their manual segments: customers put in an excluded segment leave the pool."""
    quoted = lit(org)
    sales = con.sql(f"SELECT * EXCLUDE (org) FROM store.sales_lines WHERE org = {quoted}")
    customers = con.sql(f"SELECT * EXCLUDE (org) FROM store.customers WHERE org = {quoted}")
    manual_frame = None
    if manual:
        keys = sorted(manual)
        table = pa.table(
            {"customer_key": keys, "segment": [manual[k] for k in keys]},
            schema=pa.schema([("customer_key", pa.string()), ("segment", pa.string())]),
        )
        manual_frame = con.from_arrow(table)
    ids = {s.name: s.id for s in segment_type.segments}
    summary: dict[str, Any] = {"as_of": as_of.isoformat()}
    suggested = None
    if segment_type.method == "pareto":
        params = pareto_params(segment_type, as_of)
        result = pareto_tiers(sales, params, customers=customers, manual=manual_frame)
        shape = (
            f"customer_key, eligible_sales AS value, {_units('eligible_sales')} AS eligible_sales,"
            f" rank, {_units('share_before')} AS share_before, NULL AS recency_days, "
            "NULL AS frequency, NULL AS r_score, NULL AS f_score, NULL AS m_score, "
            "rank IS NOT NULL AS in_pool"
        )
        period = params.period
    else:
        params = rfm_params(segment_type, as_of)
        if (
            segment_type.r_cuts is None
            or segment_type.f_cuts is None
            or (segment_type.m_cuts is None)
        ):
            cuts = rfm_cut_points(sales, params, customers=customers).collect().rows(named=True)
            suggested = {m: [] for m in ("r", "f", "m")}
            for row in sorted(cuts, key=lambda r: (r["metric"], r["k"])):
                value = row["value"]
                suggested[row["metric"]].append(None if value is None else str(value))
            if any(None in v for v in suggested.values()):
                suggested = None  # no active customer yet: nothing to suggest from
        result = rfm_segments(sales, params, customers=customers, manual=manual_frame)
        shape = (
            f"customer_key, monetary AS value, {_units('monetary')} AS eligible_sales, "
            "NULL AS rank, NULL AS share_before, recency_days, frequency, r_score, f_score, "
            "m_score, frequency > 0 AND r_score IS NOT NULL AS in_pool"
        )
        period = params.period
    relation = result.to_native()
    name = f"run_{run_id}_result"
    con.register(f"{name}_engine", relation)
    segment_ids = (
        "SELECT * FROM (VALUES "
        + ", ".join(f"({lit(n)}, {i})" for n, i in ids.items())
        + ") AS s(segment, segment_id)"
    )
    con.execute(
        f"CREATE TEMP TABLE {name} AS SELECT r.*, s.segment_id FROM "
        f"(SELECT {shape}, automatic_segment FROM {name}_engine) AS r "
        f"LEFT JOIN ({segment_ids}) AS s ON s.segment = r.automatic_segment"
    )
    counts = con.execute(
        f"SELECT automatic_segment, count(*), sum(value) FROM {name} GROUP BY 1"
    ).fetchall()
    total, pool = con.execute(
        f"SELECT count(*), count(*) FILTER (WHERE in_pool) FROM {name}"
    ).fetchall()[0]
    summary.update(
        customers=total,
        pool=pool,
        period=[period.start.isoformat(), period.end.isoformat()],
        segments={
            (segment or ""): {"customers": n, "sales": str(value or 0)}
            for segment, n, value in sorted(counts, key=lambda r: (r[0] is None, r[0] or ""))
        },
    )
    if segment_type.identity == "vat":
        left_out = customers_without_vat_key(customers).collect().rows()[0][0]
        summary["customers_without_vat"] = int(left_out)
    columns = ", ".join(f"CAST({c} AS {t}) AS {c}" for c, t in RESULT_TYPES)
    return Computed(
        sql=f"SELECT {columns} FROM {name} ORDER BY customer_key",
        table=name,
        summary=summary,
        params={
            "method": segment_type.method,
            "period": [period.start.isoformat(), period.end.isoformat()],
            "segments": [
                {"id": s.id, "name": s.name, "threshold": str(s.threshold), "cells": s.cells}
                for s in segment_type.segments
            ],
            "cuts": suggested or {m: getattr(segment_type, f"{m}_cuts") for m in ("r", "f", "m")}
            if segment_type.method == "rfm"
            else None,
            "manual_overrides": len(manual),
        },
        suggested_cuts=suggested,
    )
