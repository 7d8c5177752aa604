"""Every page of the app renders, for every role, on the demo data and for an organization with
no data at all. The pages are enumerated from the app's routes, so a new page is covered (or,
when it takes a path parameter this test cannot fill, fails it until it is taught here)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from fastapi.routing import APIRoute
from starlette.testclient import TestClient

from segmint.demo.accounts import DEMO_PASSWORD, prepare_demo
from segmint.settings import Settings
from segmint.web import pages
from segmint.web.app import create_app
from tests.web.support import client_login

ORG = "alpha-wholesale"
# Page routes that are not pages to look at (form posts are not GET; these are GET but not HTML).
NOT_PAGES = {"/healthz", "/vendor/plotly.min.js"}


def _walk(routes) -> Iterator[APIRoute]:
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif hasattr(route, "original_router"):  # FastAPI 0.165 includes routers lazily
            yield from _walk(route.original_router.routes)


def page_paths(app=None) -> list[str]:
    """The GET routes of the pages router (no prefix), as templates."""
    paths = {r.path for r in _walk(pages.router.routes) if "GET" in r.methods}
    assert not any(p.startswith("/api/") for p in paths)
    return sorted(paths - NOT_PAGES)


def fill(path: str, ids: dict[str, object]) -> str:
    """A concrete URL for a route template: which id a parameter takes depends on the page."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1).split(":")[0]
        if name == "type_id":
            if path.startswith("/insights"):
                return str(ids["rfm"])
            return str(ids["pareto"])
        if name == "customer_key":
            return str(ids["customer"])
        raise AssertionError(f"{path}: teach test_every_page.fill what {name} is")

    return re.sub(r"\{([^}]+)\}", value, path)


def _login(client: TestClient, email: str) -> None:
    client.cookies.clear()
    response = client.post(
        "/login", data={"email": email, "password": DEMO_PASSWORD}, follow_redirects=False
    )
    assert response.status_code == 303, response.text


@pytest.fixture(scope="module")
def demo(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[TestClient, dict[str, object]]]:
    """A small demo data set with its accounts, types and runs, behind the app."""
    from segmint.demo.service import load_demo_data

    tmp = tmp_path_factory.mktemp("demo")
    settings = Settings(data_dir=tmp / "data", worker_in_process=False, _env_file=None)
    load_demo_data(settings=settings, lines=20_000, as_of=date(2026, 10, 31))
    app = create_app(settings)
    with TestClient(app) as client:
        prepare_demo(settings=settings, db=app.state.db)
        _login(client, f"manager@{ORG}.example.com")
        types = client.get("/api/v1/segment-types").json()
        ids: dict[str, object] = {
            method: next(t["id"] for t in types if t["method"] == method)
            for method in ("rfm", "pareto")
        }
        customers = client.get("/api/v1/customers?limit=1").json()
        ids["customer"] = customers["items"][0]["customer_id"]
        yield client, ids


@pytest.mark.parametrize("who", ["admin", "manager", "rep"])
def test_every_page_renders_on_demo_data(demo, who: str) -> None:
    client, ids = demo
    _login(client, f"{who}@{ORG}.example.com")
    # Reps of this organization see only their own customers: point at one of theirs.
    ids = {
        **ids,
        "customer": client.get("/api/v1/customers?limit=1").json()["items"][0]["customer_id"],
    }
    paths = page_paths(client.app)
    assert {"/", "/customers", "/insights", "/settings/segments"} <= set(paths), paths
    for template in paths:
        url = fill(template, ids)
        response = client.get(url, follow_redirects=False)
        if template == "/login":
            assert response.status_code == 303, url  # logged in: sent on
            continue
        if who == "rep" and (template.startswith(("/settings", "/pareto"))):
            # Settings are for managers; the Pareto overview shows every customer's sales,
            # which a rep limited to their own customers may not see.
            assert response.status_code == 403, url
            continue
        assert response.status_code == 200, (url, response.text[:500])
        assert response.headers["content-type"].startswith("text/html"), url
        assert "Traceback" not in response.text and "undefined" not in response.text.lower(), url


def test_every_page_renders_for_an_organization_without_data(empty_world, tmp_path: Path) -> None:
    client_login(empty_world, "acme_manager")
    client = empty_world.client
    for template in page_paths(client.app):
        if "{" in template:
            # Nothing to point at: an id that does not exist is a 404 page, not an error.
            url = fill(template, {"rfm": 1, "pareto": 1, "customer": "NOPE"})
            response = client.get(url, follow_redirects=False)
            assert response.status_code == 404, url
            assert response.headers["content-type"].startswith("text/html"), url
            continue
        response = client.get(template, follow_redirects=False)
        expected = 303 if template == "/login" else 200
        assert response.status_code == expected, (template, response.text[:500])
