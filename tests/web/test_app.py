"""The web app through FastAPI's TestClient: health, home page, busy store, security headers."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from starlette.testclient import TestClient

from segmint import __version__
from segmint.settings import Settings
from segmint.store import SalesStore
from segmint.web.app import SECURITY_HEADERS, create_app


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as c:
        yield c


@pytest.fixture
def seeded_client(seeded_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(seeded_settings)) as c:
        yield c


@pytest.fixture
def locked_store(settings: Settings) -> Iterator[Path]:
    """Another process holds the sales store open for writing (as an import does)."""
    path = settings.sales_store_path
    path.parent.mkdir(parents=True, exist_ok=True)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys\n"
            f"con = duckdb.connect({str(path)!r})\n"
            "print('locked', flush=True)\n"
            "sys.stdin.read()\n"
            "con.close()\n",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        yield path
    finally:
        holder.communicate("", timeout=30)


def _quick_busy(app: FastAPI) -> None:
    """Give up on a locked store after 0.2 s instead of the default 10 s."""
    store: SalesStore = app.state.store
    app.state.store = SalesStore(store.path, busy_timeout=0.2)


def test_create_app_touches_nothing(settings: Settings) -> None:
    create_app(settings)
    assert not settings.data_dir.exists()


def test_health(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "version": __version__, "sales_store": "ok"}


def test_health_with_data(seeded_client: TestClient) -> None:
    assert seeded_client.get("/healthz").json()["sales_store"] == "ok"


def test_home_empty_store_explains_how_to_load_data(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "No sales data yet" in response.text
    assert "segmint demo-data" in response.text
    assert "segmint import sales" in response.text
    assert "<table" not in response.text


def test_home_lists_organizations_with_their_size(seeded_client: TestClient) -> None:
    response = seeded_client.get("/")
    assert response.status_code == 200
    html = response.text
    # Numbers from tests/web/conftest.py:seed_store.
    acme = html[html.index('data-org="ACME"') : html.index('data-org="BETA"')]
    for cell in ("1,234", ">50<", ">0<", "2024-01-01", "2024-12-30", "12,957.00"):
        assert cell in acme, cell
    beta = html[html.index('data-org="BETA"') :]
    for cell in (">3<", ">2<", ">1<", "2025-03-01", "2025-03-05", "300.25"):
        assert cell in beta, cell
    assert "2 organizations in the sales store: 1,237 sales lines, 52 customers, 1 product." in (
        " ".join(html.split())
    )
    assert "No sales data yet" not in html


def test_home_escapes_organization_names(settings: Settings) -> None:
    with SalesStore.from_settings(settings).connect() as con:
        con.execute("INSERT INTO customers (org, customer_id) VALUES ('<b>evil</b>', 'C1')")
    with TestClient(create_app(settings)) as c:
        html = c.get("/").text
    assert "<b>evil</b>" not in html
    assert "&lt;b&gt;evil&lt;/b&gt;" in html


def test_busy_store_gives_a_503_page_and_a_busy_health(
    settings: Settings, locked_store: Path
) -> None:
    app = create_app(settings)
    _quick_busy(app)
    with TestClient(app, raise_server_exceptions=False) as c:
        page = c.get("/")
        health = c.get("/healthz")
    assert page.status_code == 503
    assert page.headers["retry-after"] == "5"
    assert page.headers["content-type"].startswith("text/html")
    assert "The sales store is busy" in page.text
    assert "Traceback" not in page.text
    assert _has_security_headers(page.headers)
    assert health.status_code == 200
    assert health.json() == {"status": "ok", "version": __version__, "sales_store": "busy"}


def _has_security_headers(headers) -> bool:
    return all(headers.get(name) == value for name, value in SECURITY_HEADERS.items())


@pytest.mark.parametrize(
    ("path", "status"),
    [("/", 200), ("/healthz", 200), ("/static/segmint.css", 200), ("/nowhere", 404)],
)
def test_security_headers_on_every_response(client: TestClient, path: str, status: int) -> None:
    response = client.get(path)
    assert response.status_code == status
    assert _has_security_headers(response.headers)


def test_content_security_policy_allows_self_only() -> None:
    csp = SECURITY_HEADERS["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["default-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    for value in directives.values():
        assert set(value.split()) <= {"'self'", "'none'"}, value


def test_static_css_is_served(client: TestClient) -> None:
    response = client.get("/static/segmint.css")
    assert response.headers["content-type"].startswith("text/css")
    assert ".topbar" in response.text


@pytest.mark.parametrize("path", ["/", "/healthz"])
def test_head_is_allowed(client: TestClient, path: str) -> None:
    response = client.head(path)
    assert response.status_code == 200
    assert response.content == b""
