"""The shapes the segment services take: plain data, validated by the service (which names the
offending field), reused by the CLI and the REST API."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal


@dataclass
class SegmentSpec:
    """A segment as a manager writes it; ``id`` is set when editing an existing segment."""

    name: str
    threshold: Decimal = Decimal(0)
    visit_every_days: int | None = None
    priority: int | None = None
    is_default: bool = False
    excluded: bool = False
    description: str = ""
    recommended_action: str = ""
    cells: list[str] = field(default_factory=list)
    id: int | None = None


#: Fields of a segment type that ``update_type`` accepts, with their Python types.
TYPE_FIELDS: dict[str, type | tuple[type, ...]] = {
    "name": str,
    "identity": str,
    "is_default": bool,
    "shared": bool,
    "branches": list,
    "brands": list,
    "min_sales": (Decimal, int, str),
    "timespan_months": int,
    "interval": str,
    "notify": bool,
    "r_cuts": (list, type(None)),
    "f_cuts": (list, type(None)),
    "m_cuts": (list, type(None)),
    "schedule": (str, type(None)),
    "run_after_import": bool,
}
