"""From a stored segment type to the engine's frozen parameters for one ``as_of`` date."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from segmint.engine import ParetoParams, RfmParams, Tier, resolve_period
from segmint.segments.models import SegmentType


def pareto_params(segment_type: SegmentType, as_of: date) -> ParetoParams:
    period = resolve_period(as_of, segment_type.timespan_months, segment_type.interval)
    tiers = tuple(
        Tier(s.name, Decimal(s.threshold), default=s.is_default, excluded=s.excluded)
        for s in segment_type.segments
    )
    return ParetoParams(
        tiers=tiers,
        period=period,
        min_sales=segment_type.min_sales,
        branches=tuple(segment_type.branches or ()),
        brands=tuple(segment_type.brands or ()),
        identity=segment_type.identity,  # type: ignore[arg-type]
    )


def rfm_params(segment_type: SegmentType, as_of: date, *, suggested: bool = False) -> RfmParams:
    """``suggested=True`` ignores the stored cut points (to compute the suggested ones)."""
    period = resolve_period(as_of, segment_type.timespan_months, segment_type.interval)
    segments = segment_type.segments

    def cuts(metric: str) -> tuple[Decimal, ...] | None:
        stored = getattr(segment_type, f"{metric}_cuts")
        return None if suggested or stored is None else tuple(Decimal(c) for c in stored)

    return RfmParams(
        period,
        r_cuts=cuts("r"),
        f_cuts=cuts("f"),
        m_cuts=cuts("m"),
        segment_map=tuple((s.name, tuple(s.cells)) for s in segments if s.cells),
        default_segment=next((s.name for s in segments if s.is_default), None),
        excluded_segments=tuple(s.name for s in segments if s.excluded),
        identity=segment_type.identity,  # type: ignore[arg-type]
        as_of=as_of,
    )
