"""The setup table of the RFM insights: each metric's four cut points and what its five
buckets mean, in words a sales manager reads ("R 5: bought within the last 12 days")."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from segmint.errors import ValidationError
from segmint.insights.schemas import MetricCuts, ScoreBucket
from segmint.segments.service import _check_cuts

METRICS = ("r", "f", "m")
_LABELS = {"r": "Recency (days since the last purchase)", "f": "Frequency (purchases)"}
_LABELS["m"] = "Monetary (net sales)"


def number(value: Decimal) -> str:
    """A cut point as people write it: ``1,250``, ``99.5``.

    >>> number(Decimal("1250.0000")), number(Decimal("99.5000")), number(Decimal("0"))
    ('1,250', '99.5', '0')
    """
    text = f"{value.normalize():,f}"
    return "0" if text in ("-0", "0") else text


def _plural(n: Decimal, one: str, many: str) -> str:
    return f"{number(n)} {one if n == 1 else many}"


def _r_bucket(score: int, above: Decimal | None, up_to: Decimal | None) -> str:
    if above is None:
        if up_to == 0:
            return "bought on the as-of date"
        return f"bought within the last {_plural(up_to, 'day', 'days')}"
    if up_to is None:
        return f"last purchase more than {_plural(above, 'day', 'days')} ago"
    if above + 1 == up_to:
        return f"last purchase {_plural(up_to, 'day', 'days')} ago"
    return f"last purchase {number(above + 1)} to {number(up_to)} days ago"


def _f_bucket(score: int, above: Decimal | None, up_to: Decimal | None) -> str:
    if above is None:
        return f"at most {_plural(up_to, 'purchase', 'purchases')}"
    if up_to is None:
        return f"more than {_plural(above, 'purchase', 'purchases')}"
    if above + 1 == up_to:
        return _plural(up_to, "purchase", "purchases")
    return f"{number(above + 1)} to {number(up_to)} purchases"


def _m_bucket(score: int, above: Decimal | None, up_to: Decimal | None) -> str:
    if above is None:
        return f"net sales of at most {number(up_to)}"
    if up_to is None:
        return f"net sales over {number(above)}"
    return f"net sales over {number(above)} up to {number(up_to)}"


_TEXT = {"r": _r_bucket, "f": _f_bucket, "m": _m_bucket}


def metric_cuts(metric: str, cuts: tuple[Decimal, ...]) -> MetricCuts:
    """The five buckets of ``metric`` with cut points ``cuts`` (four, non-decreasing).

    F and M score ``1 + (cut points strictly below the value)``, so bucket k holds values above
    cut k-1 up to cut k; R scores ``5 - (cut points strictly below the days)``, the other way
    round. Equal cut points leave a bucket empty: its score is never given.

    >>> r = metric_cuts("r", tuple(Decimal(c) for c in (12, 30, 30, 180)))
    >>> [b.description for b in r.buckets]  # doctest: +NORMALIZE_WHITESPACE
    ['R 5: bought within the last 12 days', 'R 4: last purchase 13 to 30 days ago',
     'R 3: not used (cut points 2 and 3 are both 30)', 'R 2: last purchase 31 to 180 days ago',
     'R 1: last purchase more than 180 days ago']
    """
    bounds: list[tuple[int, Decimal | None, Decimal | None, int]] = []
    for k in range(5):  # bucket k (0-4) holds values above cut k-1 up to cut k
        above = cuts[k - 1] if k > 0 else None
        up_to = cuts[k] if k < 4 else None
        score = 5 - k if metric == "r" else k + 1
        bounds.append((score, above, up_to, k))
    buckets = []
    for score, above, up_to, k in sorted(bounds, key=lambda b: -b[0]):
        used = above is None or up_to is None or above < up_to
        if used:
            text = _TEXT[metric](score, above, up_to)
        else:
            text = f"not used (cut points {k} and {k + 1} are both {number(up_to)})"
        buckets.append(
            ScoreBucket(
                score=score,
                above=above,
                up_to=up_to,
                used=used,
                description=f"{metric.upper()} {score}: {text}",
            )
        )
    return MetricCuts(metric=metric, label=_LABELS[metric], cuts=cuts, buckets=tuple(buckets))


def proposed_cuts(cuts: Any) -> dict[str, tuple[Decimal, ...]] | None:
    """Validated what-if cut points: ``{"r": [4 numbers], ...}`` for one or more metrics."""
    if cuts is None:
        return None
    if not isinstance(cuts, Mapping) or not cuts:
        raise ValidationError(
            f"cuts: give proposed cut points as {{'r'|'f'|'m': [4 numbers]}}, got {cuts!r}",
            field="cuts",
        )
    result = {}
    for metric, values in cuts.items():
        if metric not in METRICS:
            raise ValidationError(f"cuts: {metric!r} is not a metric; use r, f or m", field="cuts")
        field = f"cuts.{metric}"
        if isinstance(values, str | bytes) or not isinstance(values, list | tuple):
            raise ValidationError(f"{field}: give a list of 4 numbers, got {values!r}", field=field)
        try:
            checked = _check_cuts(metric, list(values))
        except ValidationError as error:
            message = str(error).replace(f"{metric}_cuts", field, 1)
            raise ValidationError(message, field=field) from None
        result[metric] = tuple(Decimal(v) for v in checked or ())
    return result
