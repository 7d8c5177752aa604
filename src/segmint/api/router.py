"""Everything under ``/api/v1``."""

from __future__ import annotations

from urllib.parse import unquote

from fastapi import APIRouter, Depends, HTTPException, Request

from segmint.api.problems import error_responses
from segmint.api.routes import (
    accounts,
    customers,
    insights,
    notifications,
    segment_types,
    sharing,
)


def refuse_nul(request: Request) -> None:
    """No path or query value may hold a NUL character (no database can store one)."""
    raw = request.scope.get("raw_path", b"") + b"?" + request.scope.get("query_string", b"")
    if b"\x00" in raw or "\x00" in unquote(raw.decode("latin-1")):
        raise HTTPException(422, "the URL must not contain NUL characters")


def api_router() -> APIRouter:
    router = APIRouter(
        prefix="/api/v1",
        dependencies=[Depends(refuse_nul)],
        # Every operation may answer these; each route adds its own (404, 409, 503 …).
        responses=error_responses(400, 401, 403, 422, 500),
        # operationId = the route function's name: short, stable, and what links refer to.
        generate_unique_id_function=lambda route: route.name,
    )
    for module in (accounts, customers, segment_types, insights, notifications, sharing):
        router.include_router(module.router)
    return router
