"""Insights: the figures behind the RFM insights page, the Pareto overview and the migration
matrix, for the REST API and the web app to show (no HTTP here). See ``docs/insights.md``.

- :func:`rfm_insights` computes live from the sales store (cached until the next import or
  edit of the type);
- :func:`pareto_overview` and :func:`migration_matrix` read run snapshots in the metadata
  database.

Every function takes keyword arguments and an explicit :class:`~segmint.accounts.actor.Actor`
and returns frozen dataclasses (:mod:`segmint.insights.schemas`).
"""

from segmint.insights.cache import clear_cache
from segmint.insights.migration import migration_matrix
from segmint.insights.pareto import pareto_overview
from segmint.insights.rfm import rfm_insights
from segmint.insights.schemas import (
    NONE_LABEL,
    CurvePoint,
    MetricCuts,
    MigrationMatrix,
    ParetoOverview,
    ParetoTierRow,
    RfmCards,
    RfmCell,
    RfmInsights,
    RfmSegmentRow,
    Sankey,
    SankeyLink,
    SankeyNode,
    ScoreBucket,
    SegmentMove,
)

__all__ = [
    "NONE_LABEL",
    "CurvePoint",
    "MetricCuts",
    "MigrationMatrix",
    "ParetoOverview",
    "ParetoTierRow",
    "RfmCards",
    "RfmCell",
    "RfmInsights",
    "RfmSegmentRow",
    "Sankey",
    "SankeyLink",
    "SankeyNode",
    "ScoreBucket",
    "SegmentMove",
    "clear_cache",
    "migration_matrix",
    "pareto_overview",
    "rfm_insights",
]
