"""The FastAPI application factory.

``create_app(settings)`` builds every resource the app uses (the sales store handle, the template
environment) and keeps them on ``app.state``; importing this module builds nothing.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date
from pathlib import Path
from typing import Any

import anyio.to_thread
import jinja2
from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from segmint import __version__
from segmint.api import problems
from segmint.api.limits import BodyLimitMiddleware
from segmint.api.router import api_router
from segmint.insights.cache import CACHE as INSIGHTS_CACHE
from segmint.insights.lines import LINE_INDEXES
from segmint.settings import Settings
from segmint.store import SalesStore, StoreBusy
from segmint.web import pages
from segmint.web.deps import StoreDep
from segmint.web.session import LoginRequired, login_redirect

HERE = Path(__file__).parent
TEMPLATES_DIR = HERE / "templates"
STATIC_DIR = HERE / "static"

# A health check must answer quickly, not wait the store's full busy timeout for an import.
HEALTH_BUSY_TIMEOUT = 1.0
# Seconds a client is told to wait before retrying while the store is busy.
BUSY_RETRY_AFTER = 5

# Everything comes from our own origin: no CDN, no inline script or style. The app must work
# offline, and this keeps an injected tag from running.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS: dict[str, str] = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
}


class SecurityHeadersMiddleware:
    """Adds :data:`SECURITY_HEADERS` to every HTTP response, static files and errors included.

    A plain ASGI middleware rather than ``@app.middleware("http")``: it only touches the response
    start message, so streaming responses stay streaming.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.raw_headers = [
            (name.lower().encode("latin-1"), value.encode("latin-1"))
            for name, value in SECURITY_HEADERS.items()
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(n, v) for n, v in self.raw_headers if n not in present]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def thousands(value: int | float) -> str:
    """Thousands separators; floats (amounts) get two decimals.

    >>> thousands(1234567), thousands(12957.0), thousands(0)
    ('1,234,567', '12,957.00', '0')
    """
    if isinstance(value, float):
        return f"{value:,.2f}"
    return f"{value:,}"


def iso_date(value: date | None) -> str:
    """ISO 8601, or a dash when there is no date.

    >>> iso_date(date(2024, 12, 30)), iso_date(None)
    ('2024-12-30', '—')
    """
    return value.isoformat() if value else "—"


def plotly_js_path() -> Path:
    """``plotly.min.js`` inside the installed plotly package (found without importing it)."""
    import importlib.util

    spec = importlib.util.find_spec("plotly")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the plotly package is not installed (pip install plotly)")
    return Path(next(iter(spec.submodule_search_locations))) / "package_data" / "plotly.min.js"


def _templates() -> Jinja2Templates:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["thousands"] = thousands
    env.filters["iso_date"] = iso_date
    env.globals["version"] = __version__
    return Jinja2Templates(env=env)


#: Requests handled at once by one server process (see :func:`lifespan`).
REQUEST_THREADS = 12


def _organizations_with_rfm_types(db: Any) -> list[str]:
    from sqlalchemy import select

    from segmint.accounts.models import Organization
    from segmint.segments.models import SegmentType

    if LINE_INDEXES.max_lines <= 0:
        return []
    with db.read_session() as session:
        return list(
            session.scalars(
                select(Organization.slug)
                .join(SegmentType, SegmentType.organization_id == Organization.id)
                .where(SegmentType.method == "rfm")
                .distinct()
                .order_by(Organization.slug)
            )
        )


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """At start: open the metadata database and migrate it, then start the worker thread when
    ``settings.worker_in_process``; at shutdown: stop the worker and close the database. (Not in
    :func:`create_app`, which touches no file.)"""
    from segmint.metadata.database import Database
    from segmint.metadata.migrate import upgrade
    from segmint.runs.background import WorkerThread, make_worker

    settings: Settings = app.state.settings
    # Requests to the (synchronous) routes run in anyio's thread pool, 40 threads by default.
    # Python runs one of them at a time anyway; forty runnable threads only take turns holding
    # the GIL in 5 ms slices, so every request of a burst finishes late. A pool of REQUEST_THREADS
    # keeps the others queued in the event loop instead, and the metadata database's pool
    # holds that many connections (SQLite connections were opened and closed beyond its 5 + 10).
    anyio.to_thread.current_default_thread_limiter().total_tokens = REQUEST_THREADS
    db = Database.from_settings(settings, pool_size=REQUEST_THREADS)
    upgrade(db)
    app.state.db = db
    LINE_INDEXES.warm(app.state.store, _organizations_with_rfm_types(db))
    if settings.web_workers > 1:  # one of several processes: share computed insights
        INSIGHTS_CACHE.share(
            settings.shared_cache_dir,
            scope=f"{__version__} {settings.metadata_database_url}",
        )
    worker = None
    if settings.worker_in_process:
        worker = WorkerThread(make_worker(settings, db, store=app.state.store))
        worker.start()
    app.state.worker = worker
    # Everything made so far (modules, classes, the app: ~170,000 objects) lives as long as the
    # process. Frozen, the collector no longer walks it on every full collection: those took
    # ~250 ms each under load, long enough to be the customer list's p99 (docs/performance.md).
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        if worker is not None:
            worker.stop()
        INSIGHTS_CACHE.share(None)
        db.dispose()


def app_from_environment() -> FastAPI:
    """The app for one of several server processes (``segmint serve --workers N``): uvicorn
    imports this factory in each process; the settings come from the environment."""
    return create_app(Settings())


def create_app(settings: Settings) -> FastAPI:
    """Build the web app for ``settings``."""
    app = FastAPI(
        title="Segmint",
        version=__version__,
        # The hosted Swagger UI loads its script from a CDN, which the CSP forbids and an offline
        # install cannot reach; the REST API work serves its own docs page.
        docs_url=None,
        redoc_url=None,
        openapi_url="/api/v1/openapi.json",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.store = SalesStore.from_settings(settings)
    LINE_INDEXES.max_lines = settings.insights_index_max_lines
    app.state.templates = _templates()

    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(SecurityHeadersMiddleware)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(pages.router, include_in_schema=False)
    app.include_router(api_router())
    problems.install(app)
    app.add_exception_handler(LoginRequired, login_redirect)

    @app.get("/vendor/plotly.min.js", include_in_schema=False, name="plotly")
    def plotly_js() -> FileResponse:
        """Plotly's JavaScript from the plotly wheel: charts work offline, without a CDN."""
        return FileResponse(
            plotly_js_path(),
            media_type="text/javascript",
            headers={"Cache-Control": "public, max-age=86400"},
        )

    @app.exception_handler(StoreBusy)
    def store_busy(request: Request, exc: StoreBusy) -> Response:
        if problems.wants_html(request):
            templates: Jinja2Templates = request.app.state.templates
            return templates.TemplateResponse(
                request,
                "busy.html",
                {"title": "Busy"},
                status_code=503,
                headers={"Retry-After": str(BUSY_RETRY_AFTER)},
            )
        return problems.problem_response(
            request, 503, "store_busy", str(exc), headers={"Retry-After": str(BUSY_RETRY_AFTER)}
        )

    @app.head("/healthz", include_in_schema=False)
    @app.get("/healthz", tags=["health"])
    def healthz(store: StoreDep) -> dict[str, Any]:
        """Liveness plus whether the sales store can be read right now."""
        probe = SalesStore(
            store.path,
            memory_limit=store.memory_limit,
            threads=store.threads,
            busy_timeout=min(store.busy_timeout, HEALTH_BUSY_TIMEOUT),
        )
        try:
            probe.is_empty()
            sales_store = "ok"
        except StoreBusy:
            sales_store = "busy"
        return {"status": "ok", "version": __version__, "sales_store": sales_store}

    return app
