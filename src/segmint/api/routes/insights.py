"""Insights of an RFM type, the Pareto overview and the migration matrix between two runs."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import Field

from segmint.api.problems import error_responses
from segmint.api.schemas import Id, In
from segmint.api.security import ActorDep, DbDep
from segmint.insights.migration import migration_matrix
from segmint.insights.pareto import pareto_overview
from segmint.insights.rfm import rfm_insights
from segmint.insights.schemas import MigrationMatrix, ParetoOverview, RfmInsights

router = APIRouter(tags=["insights"])

Values = Annotated[list[Annotated[str, Query(max_length=200)]], Query(max_length=50)]
Months = Annotated[int | None, Query(ge=1, le=240)]
RunQuery = Annotated[int, Query(ge=1, le=2_147_483_647)]
Cuts = Annotated[
    list[Annotated[Decimal, Field(ge=0, max_digits=22, decimal_places=4)]],
    Field(min_length=4, max_length=4),
]
DIMENSIONS = ("territory", "sales_rep", "product_id", "brand", "branch")


class WhatIfIn(In):
    """Proposed cut points (one or more metrics; the others keep the stored ones) and the same
    period and filters as the insights."""

    r: Cuts | None = None
    f: Cuts | None = None
    m: Cuts | None = None
    as_of: date | None = None
    months: Annotated[int, Field(ge=1, le=240)] | None = None
    filters: dict[
        str, Annotated[list[Annotated[str, Field(max_length=200)]], Field(max_length=50)]
    ] = Field(
        default_factory=dict, description='Dimension -> values, e.g. {"territory": ["North"]}'
    )


def _filters(**values: list[str]) -> dict[str, list[str]]:
    return {name: list(v) for name, v in values.items() if v}


@router.get(
    "/segment-types/{type_id}/insights",
    response_model=RfmInsights,
    responses=error_responses(401, 404, 422, 503),
)
def insights(
    type_id: Id,
    request: Request,
    actor: ActorDep,
    db: DbDep,
    as_of: date | None = None,
    months: Months = None,
    territory: Values = [],  # noqa: B006 - FastAPI copies defaults
    sales_rep: Values = [],  # noqa: B006
    product_id: Values = [],  # noqa: B006
    brand: Values = [],  # noqa: B006
    branch: Values = [],  # noqa: B006
) -> RfmInsights:
    """Summary cards, segments (summary table and details), the 5x5 chart's cells and the cut
    points of an RFM type, computed live from the sales (cached until the next import or type
    change). Period: the type's, or the rolling ``months`` up to ``as_of`` (default today).
    Dimension filters are repeatable and combine."""
    with db.read_session() as session:
        return rfm_insights(
            session=session,
            store=request.app.state.store,
            actor=actor,
            type_id=type_id,
            as_of=as_of,
            months=months,
            filters=_filters(
                territory=territory,
                sales_rep=sales_rep,
                product_id=product_id,
                brand=brand,
                branch=branch,
            ),
        )


@router.post(
    "/segment-types/{type_id}/insights/what-if",
    response_model=RfmInsights,
    responses=error_responses(401, 404, 422, 503),
)
def what_if(
    type_id: Id, body: WhatIfIn, request: Request, actor: ActorDep, db: DbDep
) -> RfmInsights:
    """The insights with proposed cut points, plus ``moves``: how many customers would change
    segment against the stored cut points. Nothing is saved (``PATCH`` the type to save)."""
    cuts = {m: [str(c) for c in v] for m in ("r", "f", "m") if (v := getattr(body, m)) is not None}
    with db.read_session() as session:
        return rfm_insights(
            session=session,
            store=request.app.state.store,
            actor=actor,
            type_id=type_id,
            as_of=body.as_of,
            months=body.months,
            filters=body.filters,
            cuts=cuts or None,
        )


@router.get(
    "/segment-types/{type_id}/pareto",
    response_model=ParetoOverview,
    responses=error_responses(401, 404, 409, 422),
)
def pareto(
    type_id: Id,
    actor: ActorDep,
    db: DbDep,
    run_id: Annotated[int | None, Query(ge=1, le=2_147_483_647)] = None,
    points: Annotated[int, Query(ge=2, le=2000)] = 200,
) -> ParetoOverview:
    """Customers and sales per tier and the Pareto curve (cumulative share of sales against
    share of customers) with the tier boundaries, from the current (or the given) run."""
    with db.read_session() as session:
        return pareto_overview(
            session=session, actor=actor, type_id=type_id, run_id=run_id, points=points
        )


@router.get(
    "/segment-types/{type_id}/migration",
    response_model=MigrationMatrix,
    responses=error_responses(401, 404, 409, 422),
)
def migration(
    type_id: Id, actor: ActorDep, db: DbDep, from_run: RunQuery, to_run: RunQuery
) -> MigrationMatrix:
    """How many customers moved from each segment in ``from_run`` to each in ``to_run``
    (automatic segments), with the Sankey chart's nodes and links."""
    with db.read_session() as session:
        return migration_matrix(
            session=session, actor=actor, type_id=type_id, from_run=from_run, to_run=to_run
        )
