"""RFM insights, computed live from the sales store with the type's stored cut points.

One request: the engine's :func:`~segmint.engine.rfm_segments` over the organization's sales
lines (period, filters and rep restriction applied by the engine), materialised once as a small
per-customer table in the request's DuckDB connection, then one ``GROUPING SETS`` query gives
the cards, the segment table and the 5x5 cells together. A what-if computes the proposed
segmentation the same way and joins the stored one to it for the moves. The answer is cached
(:mod:`segmint.insights.cache`) under a key that changes with every import and every edit; a
cached answer is found without opening the store.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pyarrow as pa
from sqlalchemy import select
from sqlalchemy.orm import Session

from segmint.accounts.actor import Actor
from segmint.assignments.models import ManualOverride
from segmint.engine import RfmParams, resolve_period, rfm_segments
from segmint.engine._backend import lit
from segmint.engine.params import FILTER_COLUMNS
from segmint.errors import ValidationError
from segmint.insights.access import organization, rep_rule, typed
from segmint.insights.cache import CACHE, overrides_digest, store_version, type_digest
from segmint.insights.cuts import METRICS, metric_cuts, proposed_cuts
from segmint.insights.lines import LINE_INDEXES, LineIndex
from segmint.insights.schemas import (
    RfmCards,
    RfmCell,
    RfmInsights,
    RfmSegmentRow,
    SegmentMove,
)
from segmint.segments.models import Segment, SegmentType
from segmint.segments.params import rfm_params
from segmint.store import SalesStore

Filters = tuple[tuple[str, tuple[str, ...]], ...]
_FOUR = Decimal("0.0001")
_MAX_FILTER_VALUES = 1000


def rfm_insights(
    *,
    session: Session,
    store: SalesStore,
    actor: Actor,
    type_id: int,
    as_of: date | None = None,
    months: int | None = None,
    filters: Mapping[str, list[str]] | None = None,
    cuts: Mapping[str, list[Any]] | None = None,
) -> RfmInsights:
    """The RFM insights of type ``type_id`` as of ``as_of`` (default: today), live.

    The period is the type's (timespan and interval) unless ``months`` is given: then the
    rolling ``months`` months up to ``as_of``. ``filters`` maps sales-line columns (territory,
    sales_rep, product_id, brand, branch, customer_id, document_id) to the values to keep; all
    of them apply at once. ``cuts`` proposes cut points (``{"r": [4 numbers], ...}``, one or
    more metrics; the others keep the stored ones): the answer is then the what-if, with
    ``moves`` against the stored cut points. A rep of an organization whose reps see only their
    own customers sees only the sales lines credited to it (``sales_rep``).
    """
    segment_type = typed(session=session, actor=actor, type_id=type_id, method="rfm")
    org = organization(session, actor)
    rule = rep_rule(org, actor)
    as_of = _as_of(as_of)
    if months is None:
        span, interval = segment_type.timespan_months, segment_type.interval
    else:
        span, interval = _months(months), "rolling"
    period = resolve_period(as_of, span, interval)  # type: ignore[arg-type]
    wanted = normalize_filters(filters)
    proposed = proposed_cuts(cuts)
    own_lines = (("sales_rep", (rule.sales_rep,)),) if rule.sales_rep is not None else ()
    params = dataclasses.replace(
        rfm_params(segment_type, as_of), period=period, filters=(*wanted, *own_lines)
    )
    what_if = None
    if proposed is not None:
        what_if = dataclasses.replace(params, **{f"{m}_cuts": v for m, v in proposed.items()})
    shape = _Shape(segment_type, span, interval, wanted, rule.restricted, proposed is not None)
    if rule.restricted and rule.sales_rep is None:
        return _empty(shape, params, what_if)  # a rep without a sales rep value owns no lines
    key_start = (
        "rfm",
        org.id,
        segment_type.id,
        type_digest(segment_type),
        overrides_digest(session, segment_type.id),
        as_of,
        span,
        interval,
        wanted,
        tuple(sorted(proposed.items())) if proposed else None,
        rule,
    )
    # A repeated request is answered without opening the store: the store's version token is
    # read from its file. A miss opens the store and labels the answer with the version read
    # while the store is held open (nothing can write meanwhile).
    version = store_version(store)
    found = CACHE.get((*key_start, version))
    if found is not None:
        return found
    # Filtered insights pick their lines from the in-memory line index of the store's
    # version when it is ready (the first such request starts building it): then the store is
    # not opened at all, and the answer is labelled with the index's version.
    index = LINE_INDEXES.get(store, org.slug, version) if params.filters else None
    if index is not None:
        with index.connection() as con:
            return CACHE.get_or_compute(
                (*key_start, index.version),
                lambda: _compute(con, session, org.slug, shape, params, what_if, index),
            )
    with store.attached() as con:
        return CACHE.get_or_compute(
            (*key_start, store_version(store)),
            lambda: _compute(con, session, org.slug, shape, params, what_if),
        )


# -- arguments -----------------------------------------------------------------------------------


def _as_of(as_of: object) -> date:
    if as_of is None:
        return date.today()
    if not isinstance(as_of, date):
        raise ValidationError(f"as_of must be a date, got {as_of!r}", field="as_of")
    return as_of.date() if isinstance(as_of, datetime) else as_of


def _months(months: object) -> int:
    if not isinstance(months, int) or isinstance(months, bool) or not 1 <= months <= 240:
        raise ValidationError(
            f"months must be a whole number from 1 to 240, got {months!r}", field="months"
        )
    return months


def normalize_filters(filters: Any) -> Filters:
    """``{column: [values]}`` as sorted ``((column, (values...)), ...)``, validated.

    >>> normalize_filters({"territory": ["South", "North", "North"], "brand": ["Acme"]})
    (('brand', ('Acme',)), ('territory', ('North', 'South')))
    """
    if filters is None:
        return ()
    if not isinstance(filters, Mapping):
        raise ValidationError(
            f"filters: give {{column: [values]}}, got {filters!r}", field="filters"
        )
    result = []
    for column, values in filters.items():
        if column not in FILTER_COLUMNS:
            raise ValidationError(
                f"filters: cannot filter on {column!r}; use one of "
                f"{', '.join(sorted(FILTER_COLUMNS))}",
                field="filters",
            )
        field = f"filters.{column}"
        if isinstance(values, str):
            values = [values]
        if not isinstance(values, list | tuple | set | frozenset):
            raise ValidationError(f"{field}: give a list of values, got {values!r}", field=field)
        for value in values:
            if not isinstance(value, str) or "\x00" in value or len(value) > 200:
                raise ValidationError(
                    f"{field}: {value!r} is not a value of {column} (text, at most 200 characters)",
                    field=field,
                )
        unique = tuple(sorted(set(values)))
        if not unique:
            raise ValidationError(f"{field}: give at least one value", field=field)
        if len(unique) > _MAX_FILTER_VALUES:
            raise ValidationError(
                f"{field}: at most {_MAX_FILTER_VALUES} values, got {len(unique)}", field=field
            )
        result.append((column, unique))
    return tuple(sorted(result))


# -- computing -----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Shape:
    """What the answer says about the request, besides the figures."""

    segment_type: SegmentType
    months: int
    interval: str
    filters: Filters
    restricted: bool
    what_if: bool


def _manual(session: Session, type_id: int) -> dict[str, str]:
    rows = session.execute(
        select(ManualOverride.customer_key, Segment.name)
        .join(Segment, Segment.id == ManualOverride.segment_id)
        .where(ManualOverride.type_id == type_id)
    ).all()
    return dict(rows)


def _sales(
    con: Any, org: str, params: RfmParams, *, narrow: bool, index: LineIndex | None = None
) -> Any:
    """The organization's sales lines; ``narrow``: only the period's lines that pass the
    filters, copied into a temporary table, for a what-if that runs the engine twice over them
    (with filters that is a small table; without, copying most lines costs more than it saves,
    and the engine reads the store twice instead). With the line ``index`` of the store's
    version and filters: the period's lines that pass them, picked from the index (see
    :mod:`segmint.insights.lines`). The engine applies period and filters itself either way;
    narrowing only saves it the reading."""
    if index is not None and params.filters:
        picked = index.select(params.period.start, params.period.end, params.filters)
        return con.from_arrow(picked)
    quoted = lit(org)
    if not narrow or not params.filters:
        return con.sql(f"SELECT * EXCLUDE (org) FROM store.sales_lines WHERE org = {quoted}")
    columns = ["document_id", "invoice_date", "customer_id", "net_amount"]
    columns += sorted({c for c, _ in params.filters} - set(columns))
    where = " AND ".join(
        f"CAST({c} AS VARCHAR) IN ({', '.join(lit(v) for v in values)})"
        for c, values in params.filters
    )
    con.execute(
        f"CREATE TEMP TABLE _insights_lines AS SELECT {', '.join(columns)} "
        f"FROM store.sales_lines WHERE org = {quoted} AND invoice_date BETWEEN "
        f"{lit(params.period.start)} AND {lit(params.period.end)} AND {where}"
    )
    return con.table("_insights_lines")


def _segments(
    con: Any,
    sales: Any,
    org: str,
    params: RfmParams,
    manual: dict[str, str],
    index: LineIndex | None = None,
) -> Any:
    """The engine's per-customer result (a DuckDB relation) for ``params``."""
    if index is not None:
        customers = con.from_arrow(index.customers)
    else:
        customers = con.sql(f"SELECT * EXCLUDE (org) FROM store.customers WHERE org = {lit(org)}")
    manual_frame = None
    if manual:
        keys = sorted(manual)
        manual_frame = con.from_arrow(
            pa.table(
                {"customer_key": keys, "segment": [manual[k] for k in keys]},
                schema=pa.schema([("customer_key", pa.string()), ("segment", pa.string())]),
            )
        )
    return rfm_segments(sales, params, customers=customers, manual=manual_frame).to_native()


_RESULT_COLUMNS = (
    "customer_key, recency_days, frequency, monetary, r_score, f_score, m_score, fm, cell, "
    "rfm_segment, automatic_segment, segment"
)
# The cut points the engine used, on every scored row: only read when they were suggested
# (given ones are known), which spares the engine formatting them for every customer.
_CUT_COLUMNS = {
    True: "NULL AS r_cuts, NULL AS f_cuts, NULL AS m_cuts",
    False: "r_cuts, f_cuts, m_cuts",
}

# One pass over the per-customer table: per effective segment, per (R, FM) cell, and in all.
_AGGREGATE = """
SELECT GROUPING(segment) AS g_segment, GROUPING(cell) AS g_cell, segment, cell,
  COUNT(*) AS customers,
  COUNT(*) FILTER (WHERE frequency > 0) AS active,
  COUNT(*) FILTER (WHERE r_score IS NOT NULL) AS scored,
  COUNT(*) FILTER (WHERE rfm_segment IS NULL AND automatic_segment IS NOT NULL) AS defaulted,
  COUNT(*) FILTER (WHERE segment IS NULL) AS unassigned,
  CAST(COALESCE(SUM(monetary), 0) AS DECIMAL(38, 4)) AS sales,
  CAST(COALESCE(SUM(monetary) FILTER (WHERE segment IS NOT NULL), 0) AS DECIMAL(38, 4))
    AS segmented_sales,
  CAST(COALESCE(SUM(monetary) FILTER (WHERE frequency > 0), 0) AS DECIMAL(38, 4))
    AS active_sales,
  AVG(recency_days) FILTER (WHERE frequency > 0) AS avg_recency_days,
  AVG(frequency) FILTER (WHERE frequency > 0) AS avg_frequency,
  AVG(r_score) AS avg_r, AVG(f_score) AS avg_f, AVG(m_score) AS avg_m,
  MAX(r_cuts) AS r_cuts, MAX(f_cuts) AS f_cuts, MAX(m_cuts) AS m_cuts
FROM _insights
GROUP BY GROUPING SETS ((segment), (cell), ())
"""

_MOVES = """
SELECT s.segment AS from_segment, p.segment AS to_segment, COUNT(*) AS customers
FROM _insights_stored AS s FULL OUTER JOIN _insights AS p ON p.customer_key = s.customer_key
WHERE s.segment IS DISTINCT FROM p.segment
GROUP BY 1, 2
"""


def _compute(
    con: Any,
    session: Session,
    org: str,
    shape: _Shape,
    params: RfmParams,
    what_if: RfmParams | None,
    index: LineIndex | None = None,
) -> RfmInsights:
    manual = _manual(session, shape.segment_type.id)
    shown = what_if or params
    sales = _sales(con, org, shown, narrow=what_if is not None, index=index)
    given = all(getattr(shown, f"{m}_cuts") is not None for m in METRICS)
    con.register("_insights_engine", _segments(con, sales, org, shown, manual, index))
    con.execute(
        f"CREATE TEMP TABLE _insights AS SELECT {_RESULT_COLUMNS}, {_CUT_COLUMNS[given]} "
        "FROM _insights_engine"
    )
    rows = con.execute(_AGGREGATE).fetchall()
    names = [d[0] for d in con.description]
    records = [dict(zip(names, row, strict=True)) for row in rows]
    moves = None
    if what_if is not None:
        con.register("_insights_stored", _segments(con, sales, org, params, manual, index))
        moves = con.execute(_MOVES).fetchall()
    return _assemble(shape, shown, records, moves)


def _empty(shape: _Shape, params: RfmParams, what_if: RfmParams | None) -> RfmInsights:
    return _assemble(shape, what_if or params, [], [] if what_if is not None else None)


def _round(value: float | None) -> float | None:
    return None if value is None else round(float(value), 4)


def _pct(part: Decimal | int, whole: Decimal | int) -> float | None:
    return None if not whole else round(float(part) * 100 / float(whole), 4)


def _avg(total: Decimal, count: int) -> Decimal | None:
    return (Decimal(total) / count).quantize(_FOUR) if count else None


def _cut_points(shape: _Shape, params: RfmParams, total: dict[str, Any]) -> tuple:
    """The cut points in use: given ones as given; suggested ones as the engine computed them
    (it reports them on every scored customer; with none, there is nothing to show)."""
    found = []
    for metric in METRICS:
        cuts = getattr(params, f"{metric}_cuts")
        if cuts is None:
            text = total.get(f"{metric}_cuts")
            if not text or len(text.split(";")) != 4:
                return ()
            cuts = tuple(Decimal(v) for v in text.split(";"))
        found.append(metric_cuts(metric, tuple(cuts)))
    return tuple(found)


def _assemble(
    shape: _Shape,
    params: RfmParams,
    records: list[dict[str, Any]],
    moves: list[tuple] | None,
) -> RfmInsights:
    segment_type = shape.segment_type
    total = next((r for r in records if r["g_segment"] and r["g_cell"]), {})
    by_segment = {r["segment"]: r for r in records if not r["g_segment"] and r["g_cell"]}
    by_cell = {r["cell"]: r for r in records if r["g_segment"] and not r["g_cell"]}
    segmented = sum(r["customers"] for s, r in by_segment.items() if s is not None)
    segmented_sales = Decimal(total.get("segmented_sales") or 0)
    rows = []
    for segment in segment_type.segments:
        found = by_segment.get(segment.name, {})
        customers = found.get("customers", 0)
        sales = Decimal(found.get("sales") or 0)
        rows.append(
            RfmSegmentRow(
                segment_id=segment.id,
                name=segment.name,
                description=segment.description,
                recommended_action=segment.recommended_action,
                cells=tuple(segment.cells or ()),
                is_default=segment.is_default,
                excluded=segment.excluded,
                customers=customers,
                share_customers_pct=_pct(customers, segmented),
                sales=sales,
                share_sales_pct=_pct(sales, segmented_sales),
                avg_sales=_avg(sales, customers),
                avg_recency_days=_round(found.get("avg_recency_days")),
                avg_frequency=_round(found.get("avg_frequency")),
                avg_monetary=_avg(Decimal(found.get("active_sales") or 0), found.get("active", 0)),
                avg_r_score=_round(found.get("avg_r")),
                avg_f_score=_round(found.get("avg_f")),
                avg_m_score=_round(found.get("avg_m")),
            )
        )
    cell_segment = {cell: name for name, cells in params.segment_map for cell in cells}
    cells = tuple(
        RfmCell(
            r=r,
            fm=fm,
            cell=f"{r}{fm}",
            segment=cell_segment.get(f"{r}{fm}"),
            customers=by_cell.get(f"{r}{fm}", {}).get("customers", 0),
            sales=Decimal(by_cell.get(f"{r}{fm}", {}).get("sales") or 0),
        )
        for fm in range(5, 0, -1)
        for r in range(1, 6)
    )
    cards = RfmCards(
        customers=total.get("customers", 0),
        active_customers=total.get("active", 0),
        customers_scored=total.get("scored", 0),
        total_sales=Decimal(total.get("sales") or 0),
        period_start=params.period.start,
        period_end=params.period.end,
        as_of=params.as_of_date,
        months=shape.months,
        interval=shape.interval,
    )
    given = all(getattr(params, f"{m}_cuts") is not None for m in METRICS)
    source = "proposed" if shape.what_if else "stored" if given else "suggested"
    move_rows = None
    moved = None
    if moves is not None:
        move_rows = tuple(
            SegmentMove(from_segment=f, to_segment=t, customers=n)
            for f, t, n in sorted(moves, key=lambda m: (-m[2], m[0] or "", m[1] or ""))
        )
        moved = sum(m.customers for m in move_rows)
    return RfmInsights(
        type_id=segment_type.id,
        type_name=segment_type.name,
        cards=cards,
        segments=tuple(rows),
        cells=cells,
        cut_points=_cut_points(shape, params, total),
        cuts_source=source,
        default_segment=params.default_segment,
        default_customers=total.get("defaulted", 0),
        unassigned_customers=total.get("unassigned", 0),
        filters=shape.filters,
        restricted_to_rep=shape.restricted,
        moves=move_rows,
        moved=moved,
    )
