"""The shapes the insights services return: frozen dataclasses of JSON-friendly values.

Counts are ``int``; money is ``Decimal`` (exact, four places; the API writes it as a string);
percentages (``*_pct``, 0-100) and averages are ``float`` rounded to 4 decimals, for display;
dates are ``date``. Sequences are tuples, so a cached result can be shared between requests
without anyone changing it. ``dataclasses.asdict`` turns any of them into plain dicts and lists.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

# -- RFM insights --------------------------------------------------------------------------------


@dataclass(frozen=True)
class RfmCards:
    """The summary cards of the insights page, over the period and the filters.

    ``customers``: known customers (with sales lines in the period, plus, without filters, every
    customer of the customer table); ``active_customers``: at least one purchase (a document with
    a positive net total) in the period; ``customers_scored``: active customers that got R/F/M
    scores (active minus those manually put in an excluded segment); ``total_sales``: net sales
    in the period of all known customers, credit notes included.
    """

    customers: int
    active_customers: int
    customers_scored: int
    total_sales: Decimal
    period_start: date
    period_end: date
    as_of: date
    months: int
    interval: str  # "rolling" | "fixed_year"


@dataclass(frozen=True)
class RfmSegmentRow:
    """One segment of the type, in the type's order: the summary table and the details panel.

    ``customers`` and ``sales`` count the customers whose effective segment this is (a manual
    override wins); shares are of all customers (and sales) that have a segment. ``avg_sales``
    is sales / customers. ``avg_recency_days``, ``avg_frequency``, ``avg_monetary`` and the
    average scores are over the segment's customers with a purchase in the period (None when it
    has none, e.g. the default segment of inactive customers).
    """

    segment_id: int
    name: str
    description: str
    recommended_action: str
    cells: tuple[str, ...]
    is_default: bool
    excluded: bool
    customers: int
    share_customers_pct: float | None
    sales: Decimal
    share_sales_pct: float | None
    avg_sales: Decimal | None
    avg_recency_days: float | None
    avg_frequency: float | None
    avg_monetary: Decimal | None
    avg_r_score: float | None
    avg_f_score: float | None
    avg_m_score: float | None


@dataclass(frozen=True)
class RfmCell:
    """One (R, FM) cell of the 5x5 chart: R grows to the right, FM (value) upwards.

    ``customers``/``sales`` are the scored customers whose scores fall in the cell (their
    automatic cell: a manual override moves a customer's segment, not its scores)."""

    r: int
    fm: int
    cell: str  # "54" = R 5, FM 4
    segment: str | None
    customers: int
    sales: Decimal


@dataclass(frozen=True)
class ScoreBucket:
    """One of the five buckets of a metric: the values that get ``score``.

    A value ``v`` is in the bucket when ``above < v <= up_to`` (``None`` = unbounded). ``used``
    is False when equal cut points leave the bucket empty (that score is then never given)."""

    score: int
    above: Decimal | None
    up_to: Decimal | None
    used: bool
    description: str


@dataclass(frozen=True)
class MetricCuts:
    """The four cut points of one metric (``r``: days, ``f``: purchases, ``m``: net sales) and
    its five buckets, score 5 (best) first."""

    metric: str
    label: str
    cuts: tuple[Decimal, ...]
    buckets: tuple[ScoreBucket, ...]


@dataclass(frozen=True)
class SegmentMove:
    """What-if: customers whose segment changes from ``from_segment`` (stored cut points) to
    ``to_segment`` (proposed ones); None is "no segment"."""

    from_segment: str | None
    to_segment: str | None
    customers: int


@dataclass(frozen=True)
class RfmInsights:
    """Everything the RFM insights page shows, computed live from the sales store.

    ``cuts_source``: "stored" (the type's cut points), "suggested" (the type has none yet: the
    nearest-rank quintiles of this data), "proposed" (a what-if). ``cut_points`` is empty when
    there is nothing to show (no stored cut points and no active customer). ``moves`` and
    ``moved`` are None unless proposed cut points were given. ``default_customers``: known
    customers outside the pool that got the default segment automatically; ``unassigned_customers``:
    customers without any segment (outside the pool of a type without default segment).
    """

    type_id: int
    type_name: str
    cards: RfmCards
    segments: tuple[RfmSegmentRow, ...]
    cells: tuple[RfmCell, ...]
    cut_points: tuple[MetricCuts, ...]
    cuts_source: str
    default_segment: str | None
    default_customers: int
    unassigned_customers: int
    filters: tuple[tuple[str, tuple[str, ...]], ...]
    restricted_to_rep: bool
    moves: tuple[SegmentMove, ...] | None = None
    moved: int | None = None


# -- Pareto overview -----------------------------------------------------------------------------


@dataclass(frozen=True)
class CurvePoint:
    """A point of the Pareto curve: ``x`` = share of the pool's customers (0-1, best first),
    ``y`` = their share of the pool's sales (0-1)."""

    x: float
    y: float


@dataclass(frozen=True)
class ParetoTierRow:
    """One segment of a Pareto type in a run's snapshot (the pool customers it holds).

    ``threshold_pct`` and ``cumulative_threshold_pct`` are the type's % of sales as the run used
    them; shares are of the pool; ``boundary`` is where the tier ends on the curve (None when
    the tier is empty)."""

    segment_id: int
    name: str
    threshold_pct: Decimal
    cumulative_threshold_pct: Decimal | None
    is_default: bool
    excluded: bool
    customers: int
    share_customers_pct: float | None
    sales: Decimal
    share_sales_pct: float | None
    first_rank: int | None
    last_rank: int | None
    boundary: CurvePoint | None


@dataclass(frozen=True)
class ParetoOverview:
    """The Pareto overview of a type from one run's snapshot (the current run by default).

    ``run_id`` is None when the type has no finished run yet: then everything is empty/zero.
    ``customers``: every customer in the snapshot; ``pool_customers``/``pool_sales``: the ranked
    ones; ``default_customers``/``unassigned_customers``: outside the pool, with the default
    segment / with none. ``curve`` runs from (0, 0) to (1, 1) through every tier boundary."""

    type_id: int
    type_name: str
    run_id: int | None
    as_of: date | None
    period_start: date | None
    period_end: date | None
    customers: int
    pool_customers: int
    pool_sales: Decimal
    default_segment: str | None
    default_customers: int
    unassigned_customers: int
    tiers: tuple[ParetoTierRow, ...]
    curve: tuple[CurvePoint, ...]


# -- migration matrix ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SankeyNode:
    """A node of the Sankey chart: ``id`` is ``"from:<label>"`` or ``"to:<label>"``."""

    id: str
    label: str
    side: str  # "from" | "to"


@dataclass(frozen=True)
class SankeyLink:
    source: str
    target: str
    value: int


@dataclass(frozen=True)
class Sankey:
    nodes: tuple[SankeyNode, ...]
    links: tuple[SankeyLink, ...]


@dataclass(frozen=True)
class MigrationMatrix:
    """Customers per (segment in ``from_run``, segment in ``to_run``) of one type.

    ``labels`` are the rows and the columns: ``segments`` (the type's segments in order, then
    segments only the snapshots still name) and ``NONE_LABEL`` last, for customers absent from
    a run or without a segment in it. ``counts[i][j]``: customers from ``labels[i]`` to
    ``labels[j]``. ``total`` = every customer of either run; ``moved`` = off the diagonal."""

    type_id: int
    type_name: str
    from_run: int
    to_run: int
    from_as_of: date | None
    to_as_of: date | None
    segments: tuple[str, ...]
    labels: tuple[str, ...]
    counts: tuple[tuple[int, ...], ...]
    row_totals: tuple[int, ...]
    column_totals: tuple[int, ...]
    total: int
    moved: int
    sankey: Sankey


#: The row/column of customers absent from a run or without a segment in it.
NONE_LABEL = "(none)"
