"""The Pareto overview of a type, from a run's result.

One Arrow ``group_by`` over the run's result (read once per process, see
:mod:`segmint.assignments.results`) groups the ranked (pool) customers into at most ``points``
consecutive rank buckets, split at tier boundaries (a tier is a run of consecutive ranks, so
grouping by (segment, bucket) cuts a bucket where a tier ends), with each group's customers,
exact sales (whole 1/10000 units, summed as integers) and last rank; customers outside the pool
fall into one group per segment. The curve, the tiers and their boundaries are running sums over
those few hundred rows.
"""

from __future__ import annotations

from decimal import Decimal

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy.orm import Session

from segmint.accounts.actor import Actor
from segmint.assignments.results import amount, empty_result, load_result
from segmint.errors import ValidationError
from segmint.insights.access import finished_run, organization, refuse_restricted_rep, typed
from segmint.insights.cache import CACHE, type_digest
from segmint.insights.schemas import CurvePoint, ParetoOverview, ParetoTierRow
from segmint.insights.snapshots import RunSegment, run_as_of, run_period, run_segments
from segmint.runs.models import Run
from segmint.segments.models import SegmentType

_MAX_POINTS = 10_000


def pareto_overview(
    *, session: Session, actor: Actor, type_id: int, run_id: int | None = None, points: int = 200
) -> ParetoOverview:
    """Tiers, Pareto curve and tier boundaries of Pareto type ``type_id`` in run ``run_id``
    (default: the type's current run). The curve has at most ``points`` points, from (0, 0)
    through every tier boundary to (1, 1). Without a finished run the overview is empty.

    Reps of an organization whose reps see only their own customers are refused
    (:class:`~segmint.errors.PermissionDenied`): a snapshot holds no sales rep to restrict by.
    """
    segment_type = typed(session=session, actor=actor, type_id=type_id, method="pareto")
    refuse_restricted_rep(organization(session, actor), actor, "the Pareto overview")
    segments = run_segments(segment_type, None)
    if not isinstance(points, int) or isinstance(points, bool):
        raise ValidationError(f"points must be a whole number, got {points!r}", field="points")
    least = len(segments) + 2
    if not least <= points <= _MAX_POINTS:
        raise ValidationError(
            f"points must be from {least} (the origin, every tier boundary and the end) to "
            f"{_MAX_POINTS}, got {points}",
            field="points",
        )
    chosen = run_id if run_id is not None else segment_type.current_run_id
    if chosen is None:
        return _overview(segment_type, None, segments, [])
    run = finished_run(
        session=session,
        segment_type=segment_type,
        run_id=chosen,
        field="run_id",
    )
    segments = run_segments(segment_type, run)
    # A finished run's snapshot never changes (see migration.py): the answer can be kept.
    key = (
        "pareto",
        segment_type.organization_id,
        type_digest(segment_type),
        (run.id, run.finished_at),
        points,
    )
    return CACHE.get_or_compute(
        key,
        lambda: _overview(
            segment_type, run, segments, _groups(session, run, points - len(segments))
        ),
    )


def _groups(session: Session, run: Run, buckets: int) -> list[tuple]:
    """``(segment_id, bucket, customers, sales, first_rank, last_rank)`` of the run's result.

    The pool size comes from the run's summary; should it ever disagree with the ranks, the
    buckets are recomputed with the real size."""
    table = (load_result(session, run.id) or empty_result()).table
    rank = table.column("rank")
    hint = (run.summary or {}).get("pool")
    pool = hint if isinstance(hint, int) and hint > 0 else None
    if pool is None:
        pool = pc.max(rank).as_py() or 0
    buckets = max(1, buckets)
    for _ in range(2):
        rows = _grouped(table, rank, buckets, pool)
        ranked = [r for r in rows if r[4] is not None]
        real = max((r[5] for r in ranked), default=0)
        if real == pool or real == 0:
            return rows
        pool = real  # the summary was off: bucket again by the real pool size
    return rows


def _grouped(table: pa.Table, rank: pa.ChunkedArray, buckets: int, pool: int) -> list[tuple]:
    bucket = pc.divide(pc.multiply(pc.subtract(rank, 1), buckets), max(pool, 1))
    grouped = (
        pa.table(
            {
                "segment_id": table.column("segment_id"),
                "bucket": bucket,
                "eligible_sales": table.column("eligible_sales"),
                "rank": rank,
            }
        )
        .group_by(["segment_id", "bucket"], use_threads=False)
        .aggregate(
            [
                ([], "count_all"),
                ("eligible_sales", "sum"),
                ("rank", "min"),
                ("rank", "max"),
            ]
        )
        .to_pydict()
    )
    return [
        (segment, bucket, count, amount(sales), first, last)
        for segment, bucket, count, sales, first, last in zip(
            grouped["segment_id"],
            grouped["bucket"],
            grouped["count_all"],
            grouped["eligible_sales_sum"],
            grouped["rank_min"],
            grouped["rank_max"],
            strict=True,
        )
    ]


def _point(x: Decimal | float, y: Decimal | float) -> CurvePoint:
    return CurvePoint(x=round(float(x), 6), y=round(float(y), 6))


def _pct(part: Decimal | int, whole: Decimal | int) -> float | None:
    return None if not whole else round(float(part) * 100 / float(whole), 4)


def _overview(
    segment_type: SegmentType,
    run: Run | None,
    segments: list[RunSegment],
    groups: list[tuple],
) -> ParetoOverview:
    ranked = sorted((g for g in groups if g[4] is not None), key=lambda g: g[4])
    outside = [g for g in groups if g[4] is None]
    pool = sum(g[2] for g in ranked)
    pool_sales = sum((Decimal(g[3] or 0) for g in ranked), Decimal(0))
    curve = [CurvePoint(0.0, 0.0)] if ranked else []
    boundaries: dict[int, CurvePoint] = {}
    running = Decimal(0)
    for segment_id, _bucket, _n, sales, _first, last in ranked:
        running += Decimal(sales or 0)
        point = _point(Decimal(last) / pool, running / pool_sales if pool_sales else 0)
        curve.append(point)
        boundaries[segment_id] = point  # the last group of a tier is where it ends
    tiers = []
    cumulative = Decimal(0)
    for segment in segments:
        mine = [g for g in ranked if g[0] == segment.id]
        customers = sum(g[2] for g in mine)
        sales = sum((Decimal(g[3] or 0) for g in mine), Decimal(0))
        if not segment.excluded:
            cumulative += segment.threshold
        tiers.append(
            ParetoTierRow(
                segment_id=segment.id,
                name=segment.name,
                threshold_pct=segment.threshold,
                cumulative_threshold_pct=None if segment.excluded else cumulative,
                is_default=segment.is_default,
                excluded=segment.excluded,
                customers=customers,
                share_customers_pct=_pct(customers, pool),
                sales=sales,
                share_sales_pct=_pct(sales, pool_sales),
                first_rank=min((g[4] for g in mine), default=None),
                last_rank=max((g[5] for g in mine), default=None),
                boundary=boundaries.get(segment.id),
            )
        )
    defaulted = [g for g in outside if g[0] is not None]
    names = {s.id: s.name for s in segments}
    default_id = max(defaulted, key=lambda g: g[2])[0] if defaulted else None
    default_name = names.get(default_id) if default_id is not None else None
    if default_name is None:
        default_name = next((s.name for s in segments if s.is_default), None)
    start, end = run_period(run)
    return ParetoOverview(
        type_id=segment_type.id,
        type_name=segment_type.name,
        run_id=run.id if run is not None else None,
        as_of=run_as_of(run),
        period_start=start,
        period_end=end,
        customers=sum(g[2] for g in groups),
        pool_customers=pool,
        pool_sales=pool_sales,
        default_segment=default_name,
        default_customers=sum(g[2] for g in defaulted),
        unassigned_customers=sum(g[2] for g in outside if g[0] is None),
        tiers=tuple(tiers),
        curve=tuple(curve),
    )
