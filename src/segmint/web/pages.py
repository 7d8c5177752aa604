"""Server-rendered pages. Route functions are plain ``def``: the store calls block, so FastAPI
runs them in its thread pool."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from segmint.web.deps import StoreDep, TemplatesDep

router = APIRouter()


# HEAD too: uptime monitors and `curl -I` use it.
@router.api_route("/", methods=["GET", "HEAD"], response_class=HTMLResponse, name="home")
def home(request: Request, store: StoreDep, templates: TemplatesDep) -> HTMLResponse:
    """The organizations in the sales store and the size of their data."""
    orgs = store.organizations()
    totals = {
        "sales_lines": sum(o.sales_lines for o in orgs),
        "customers": sum(o.customers for o in orgs),
        "products": sum(o.products for o in orgs),
    }
    return templates.TemplateResponse(
        request, "home.html", {"title": "Organizations", "orgs": orgs, "totals": totals}
    )
