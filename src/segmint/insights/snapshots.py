"""Reading run snapshots for the insights: which segments a run knew, in which order.

A run records the segments it used (id, name, % of sales) in ``Run.params``. A segment that
still exists shows under its current name (people know it by that name; its id is what the
snapshot holds), with the % of sales the run used; a segment removed since shows as the run
knew it. Flags (default, excluded) come from the type as it is now.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from segmint.runs.models import Run
from segmint.segments.models import SegmentType


@dataclass(frozen=True)
class RunSegment:
    id: int
    name: str
    threshold: Decimal
    is_default: bool
    excluded: bool


def run_segments(segment_type: SegmentType, run: Run | None) -> list[RunSegment]:
    """The run's segments in its order (the type's current ones when the run lists none)."""
    current = {s.id: s for s in segment_type.segments}
    listed = (run.params or {}).get("segments") if run is not None else None
    if not listed:
        return [
            RunSegment(s.id, s.name, Decimal(s.threshold), s.is_default, s.excluded)
            for s in segment_type.segments
        ]
    result = []
    for entry in listed:
        now = current.get(entry.get("id"))
        result.append(
            RunSegment(
                id=int(entry["id"]),
                name=now.name if now is not None else str(entry["name"]),
                threshold=Decimal(str(entry.get("threshold") or 0)),
                is_default=bool(now is not None and now.is_default),
                excluded=bool(now is not None and now.excluded),
            )
        )
    return result


def segment_names(segment_type: SegmentType, *runs: Run) -> tuple[dict[int, str], list[str]]:
    """Names by segment id, and every name in order: the type's segments as they are now, then
    segments that only the runs still name (removed since)."""
    names = {s.id: s.name for s in segment_type.segments}
    order = [s.name for s in segment_type.segments]
    for run in runs:
        for entry in (run.params or {}).get("segments") or ():
            segment_id = int(entry["id"])
            if segment_id not in names:
                names[segment_id] = str(entry["name"])
                if names[segment_id] not in order:
                    order.append(names[segment_id])
    return names, order


def run_as_of(run: Run | None) -> date | None:
    if run is None:
        return None
    if run.as_of is not None:
        return run.as_of
    text = (run.summary or {}).get("as_of")
    return date.fromisoformat(text) if text else None


def run_period(run: Run | None) -> tuple[date | None, date | None]:
    period = ((run.params or {}).get("period") if run is not None else None) or (None, None)
    start, end = period
    return (
        date.fromisoformat(start) if start else None,
        date.fromisoformat(end) if end else None,
    )
