"""Server-rendered pages, one module per area. Route functions are plain ``def``: the store and
database calls block, so FastAPI runs them in its thread pool. Each module has its own
``router``; :data:`router` gathers them."""

from __future__ import annotations

from fastapi import APIRouter

from segmint.web.pages import (
    auth,
    connections,
    customers,
    home,
    insights,
    notifications,
    segment_settings,
)

router = APIRouter()
router.include_router(auth.router)
router.include_router(home.router)
router.include_router(insights.router)
router.include_router(notifications.router)
router.include_router(customers.router)
router.include_router(segment_settings.router)
router.include_router(connections.router)
