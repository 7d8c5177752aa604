"""Frozen parameter objects of the engine and the period rule.

Every object validates itself on construction and raises :class:`segmint.errors.ValidationError`
naming the offending field, so an engine function never starts on parameters that break a rule.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Literal

from segmint.errors import ValidationError

Identity = Literal["id", "vat"]
Interval = Literal["rolling", "fixed_year"]

#: Dimension columns a filter may name (sales-line columns of the canonical schema).
FILTER_COLUMNS = frozenset(
    {"territory", "sales_rep", "product_id", "brand", "branch", "customer_id", "document_id"}
)
_SCALE = Decimal("0.0001")  # amounts and thresholds carry at most four decimals


@dataclass(frozen=True)
class Period:
    """An inclusive date range ``start``..``end``."""

    start: date
    end: date

    def __post_init__(self) -> None:
        if self.start > self.end:
            raise ValidationError(
                f"period starts {self.start} after it ends {self.end}", field="period"
            )


def _minus_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 - months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last))


def resolve_period(as_of: date, months: int = 12, interval: Interval = "rolling") -> Period:
    """Resolve a segment type's timespan into an inclusive :class:`Period`.

    *Rolling*: sales dated after ``as_of`` minus ``months`` calendar months (the day of month is
    clamped to the shorter month), up to and including ``as_of``. *Fixed year*: the last
    ``months / 12`` completed calendar years before ``as_of``.

    >>> from datetime import date
    >>> resolve_period(date(2026, 11, 22), 12)
    Period(start=datetime.date(2025, 11, 23), end=datetime.date(2026, 11, 22))
    >>> resolve_period(date(2024, 3, 31), 1)  # 31 March minus one month is 29 February
    Period(start=datetime.date(2024, 3, 1), end=datetime.date(2024, 3, 31))
    >>> resolve_period(date(2026, 11, 22), 12, "fixed_year")
    Period(start=datetime.date(2025, 1, 1), end=datetime.date(2025, 12, 31))
    """
    if not isinstance(months, int) or isinstance(months, bool) or months < 1:
        raise ValidationError(
            f"months must be a positive whole number, got {months!r}", field="months"
        )
    if interval == "rolling":
        return Period(_minus_months(as_of, months) + timedelta(days=1), as_of)
    if interval == "fixed_year":
        if months % 12:
            raise ValidationError(
                f"a fixed-year period needs a multiple of 12 months, got {months}", field="months"
            )
        return Period(date(as_of.year - months // 12, 1, 1), date(as_of.year - 1, 12, 31))
    raise ValidationError(
        f"interval must be 'rolling' or 'fixed_year', got {interval!r}", field="interval"
    )


def _decimal(value: object, what: str) -> Decimal:
    try:
        number = Decimal(str(value))
    except ArithmeticError:
        raise ValidationError(f"{what} must be a number, got {value!r}", field=what) from None
    if not number.is_finite() or number != number.quantize(_SCALE):
        raise ValidationError(
            f"{what} must be a number with at most 4 decimals, got {value!r}", field=what
        )
    return number


def _filters(pairs: tuple[tuple[str, tuple[str, ...]], ...]) -> None:
    for column, values in pairs:
        if column not in FILTER_COLUMNS:
            raise ValidationError(
                f"cannot filter on {column!r}; use one of {', '.join(sorted(FILTER_COLUMNS))}",
                field="filters",
            )
        if not values:
            raise ValidationError(f"filter on {column!r} has no values", field="filters")


@dataclass(frozen=True)
class Tier:
    """A segment of a Pareto type: its name, its % of sales and its flags."""

    name: str
    threshold: Decimal
    default: bool = False
    excluded: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "threshold", _decimal(self.threshold, "threshold"))
        if not self.name:
            raise ValidationError("a tier needs a name", field="tiers")
        if self.threshold < 0 or self.threshold > 100:
            raise ValidationError(
                f"tier {self.name!r}: threshold {self.threshold} is not between 0 and 100",
                field="tiers",
            )
        if self.excluded and self.threshold != 0:
            raise ValidationError(
                f"excluded tier {self.name!r} must have threshold 0, got {self.threshold}",
                field="tiers",
            )
        if self.excluded and self.default:
            raise ValidationError(
                f"tier {self.name!r} cannot be both default and excluded", field="tiers"
            )


def _check_segments(names: list[str], defaults: list[str], excluded: set[str]) -> None:
    if len(set(names)) != len(names):
        raise ValidationError(f"segment names repeat: {names}", field="tiers")
    if len(defaults) > 1:
        raise ValidationError(f"at most one default segment, got {defaults}", field="default")
    if set(defaults) & excluded:
        raise ValidationError(f"default segment {defaults[0]!r} is excluded", field="default")


@dataclass(frozen=True)
class ParetoParams:
    """Settings of a Pareto (ABC) segment type.

    ``tiers`` are in their listed order; the non-excluded ones must add up to exactly 100.
    ``filters`` are ``(column, values)`` pairs applied to the sales lines before anything else
    (the report filters); ``branches``/``brands`` are the type's own constraints on eligible
    sales.

    >>> from datetime import date
    >>> p = ParetoParams.abc(Period(date(2025, 1, 1), date(2025, 12, 31)))
    >>> [(t.name, str(t.threshold)) for t in p.tiers]
    [('A', '80'), ('B', '15'), ('C', '5')]
    """

    tiers: tuple[Tier, ...]
    period: Period
    min_sales: Decimal = Decimal(0)
    branches: tuple[str, ...] = ()
    brands: tuple[str, ...] = ()
    identity: Identity = "id"
    filters: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "min_sales", _decimal(self.min_sales, "min_sales"))
        object.__setattr__(self, "tiers", tuple(self.tiers))
        if self.identity not in ("id", "vat"):
            raise ValidationError(
                f"identity must be 'id' or 'vat', got {self.identity!r}", field="identity"
            )
        active = [t for t in self.tiers if not t.excluded]
        if not active:
            raise ValidationError(
                "a Pareto type needs at least one non-excluded tier", field="tiers"
            )
        total = sum((t.threshold for t in active), Decimal(0))
        if total != 100:
            raise ValidationError(f"tier thresholds add up to {total} %, not 100 %", field="tiers")
        _check_segments(
            [t.name for t in self.tiers],
            [t.name for t in self.tiers if t.default],
            {t.name for t in self.tiers if t.excluded},
        )
        _filters(self.filters)

    @classmethod
    def abc(cls, period: Period, **kwargs: object) -> ParetoParams:
        """The classic A=80, B=15, C=5 type over ``period``."""
        tiers = (Tier("A", Decimal(80)), Tier("B", Decimal(15)), Tier("C", Decimal(5)))
        return cls(tiers=tiers, period=period, **kwargs)  # type: ignore[arg-type]

    @property
    def default_segment(self) -> str | None:
        return next((t.name for t in self.tiers if t.default), None)

    @property
    def excluded_segments(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.tiers if t.excluded)


#: PRODUCT.md's default RFM map: every (R, FM) cell, written as "RFM" digits, has one segment.
DEFAULT_RFM_MAP: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Champions", ("55", "54", "45")),
    ("Loyal", ("53", "44", "35", "34")),
    ("Potential Loyalist", ("52", "42", "43", "33")),
    ("New Customers", ("51",)),
    ("Promising", ("41", "31")),
    ("Need Attention", ("32", "23", "22")),
    ("About to Sleep", ("21",)),
    ("At Risk", ("25", "24", "13")),
    ("Can't Lose Them", ("15", "14")),
    ("Hibernating", ("12",)),
    ("Lost", ("11",)),
)
_CELL = re.compile(r"^[1-5][1-5]$")
_ALL_CELLS = {f"{r}{fm}" for r in range(1, 6) for fm in range(1, 6)}


def _cuts(name: str, values: tuple | None) -> tuple[Decimal, ...] | None:
    if values is None:
        return None
    cuts = tuple(_decimal(v, f"{name}_cuts") for v in values)
    if len(cuts) != 4:
        raise ValidationError(f"{name} needs 4 cut points, got {len(cuts)}", field=f"{name}_cuts")
    if name in ("r", "f") and any(c != c.to_integral_value() for c in cuts):
        raise ValidationError(
            f"{name} cut points are whole numbers (days, purchases), got "
            f"{', '.join(map(str, cuts))}",
            field=f"{name}_cuts",
        )
    if list(cuts) != sorted(cuts):
        raise ValidationError(
            f"{name} cut points must not decrease, got {', '.join(map(str, cuts))}",
            field=f"{name}_cuts",
        )
    return cuts


@dataclass(frozen=True)
class RfmParams:
    """Settings of an RFM segment type.

    Cut points are four non-decreasing values per metric; ``None`` means "use the suggested
    nearest-rank quintiles of the active customers". ``segment_map`` pairs each segment with its
    (R, FM) cells written as two digits, e.g. ``"54"`` for R=5, FM=4; it must cover each of the
    25 cells exactly once.

    >>> from datetime import date
    >>> p = RfmParams(Period(date(2025, 1, 1), date(2025, 12, 31)), f_cuts=(1, 2, 3, 5))
    >>> p.f_cuts, p.r_cuts
    ((Decimal('1'), Decimal('2'), Decimal('3'), Decimal('5')), None)
    """

    period: Period
    r_cuts: tuple[Decimal, ...] | None = None
    f_cuts: tuple[Decimal, ...] | None = None
    m_cuts: tuple[Decimal, ...] | None = None
    segment_map: tuple[tuple[str, tuple[str, ...]], ...] = DEFAULT_RFM_MAP
    default_segment: str | None = None
    excluded_segments: tuple[str, ...] = ()
    identity: Identity = "id"
    filters: tuple[tuple[str, tuple[str, ...]], ...] = ()
    as_of: date | None = field(default=None)

    def __post_init__(self) -> None:
        for name in ("r", "f", "m"):
            object.__setattr__(self, f"{name}_cuts", _cuts(name, getattr(self, f"{name}_cuts")))
        if self.identity not in ("id", "vat"):
            raise ValidationError(
                f"identity must be 'id' or 'vat', got {self.identity!r}", field="identity"
            )
        seen: dict[str, str] = {}
        for segment, cells in self.segment_map:
            for cell in cells:
                if not _CELL.match(cell):
                    raise ValidationError(
                        f"segment {segment!r}: {cell!r} is not an (R, FM) cell like '54'",
                        field="segment_map",
                    )
                if cell in seen:
                    raise ValidationError(
                        f"cell {cell} is mapped to both {seen[cell]!r} and {segment!r}",
                        field="segment_map",
                    )
                seen[cell] = segment
        if missing := sorted(_ALL_CELLS - set(seen)):
            raise ValidationError(
                f"cells without a segment: {', '.join(missing)}", field="segment_map"
            )
        names = [s for s, _ in self.segment_map]
        names += [
            s for s in (self.default_segment, *self.excluded_segments) if s and s not in names
        ]
        defaults = [self.default_segment] if self.default_segment else []
        _check_segments(names, defaults, set(self.excluded_segments))
        _filters(self.filters)

    @property
    def as_of_date(self) -> date:
        """The date recency is measured to: ``as_of`` when given, else the period's end."""
        return self.as_of or self.period.end
