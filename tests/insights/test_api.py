"""The public surface of ``segmint.insights`` (the REST API and web pages are written against
it) and the JSON-friendliness of its results."""

from __future__ import annotations

import dataclasses
import json
from decimal import Decimal

import pytest

import segmint.insights as insights_api
from tests.insights.support import abc, golden, insights, matrix, overview
from tests.runs.support import Org

sqlite_only = pytest.mark.parametrize("metadata_url", ["sqlite"], indirect=True)


def test_public_api_is_pinned() -> None:
    assert insights_api.__all__ == [
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


def _json(result) -> dict:
    def default(value):
        if isinstance(value, Decimal):
            return str(value)
        return value.isoformat()

    return json.loads(json.dumps(dataclasses.asdict(result), default=default))


@sqlite_only
def test_results_are_frozen_and_serialise_to_json(org: Org):
    rfm = insights(org, golden(org), cuts={"r": [5, 60, 90, 180]})
    with pytest.raises(dataclasses.FrozenInstanceError):
        rfm.cards.customers = 0  # type: ignore[misc]
    as_json = _json(rfm)
    assert as_json["cards"]["total_sales"] == "28560.0000"
    assert as_json["moves"] == [
        {"from_segment": "Champions", "to_segment": "Loyal", "customers": 1}
    ]
    type_id, run_id = abc(org)
    assert _json(overview(org, type_id))["curve"][-1] == {"x": 1.0, "y": 1.0}
    same = _json(matrix(org, type_id, run_id, run_id))
    assert sum(link["value"] for link in same["sankey"]["links"]) == same["total"]
