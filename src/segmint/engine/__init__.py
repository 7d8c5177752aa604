"""Segmint's segmentation engine: pure functions from lazy frames of sales lines and frozen
parameter objects to lazy frames of per-customer results, the same on DuckDB and Spark.

Inputs are DuckDB relations or Spark DataFrames (or narwhals LazyFrames over them); results are
narwhals LazyFrames over the same engine. See ``docs/engine.md``.
"""

from segmint.engine.params import (
    DEFAULT_RFM_MAP,
    ParetoParams,
    Period,
    RfmParams,
    Tier,
    resolve_period,
)
from segmint.engine.pareto import pareto_tiers
from segmint.engine.reports import (
    customers_without_vat_key,
    migration_matrix,
    segment_summary,
    summary_cards,
)
from segmint.engine.rfm import rfm_cut_points, rfm_segments, rfm_what_if

__all__ = [
    "DEFAULT_RFM_MAP",
    "ParetoParams",
    "Period",
    "RfmParams",
    "Tier",
    "customers_without_vat_key",
    "migration_matrix",
    "pareto_tiers",
    "resolve_period",
    "rfm_cut_points",
    "rfm_segments",
    "rfm_what_if",
    "segment_summary",
    "summary_cards",
]
