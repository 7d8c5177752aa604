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
from segmint.accounts import service as accounts
from segmint.settings import Settings
from segmint.store import SalesStore
from segmint.web.app import SECURITY_HEADERS, create_app
from tests.api.conftest import PASSWORD, World
from tests.web.support import client_login, email


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


def test_home_sends_anonymous_visitors_to_the_login_page(client: TestClient) -> None:
    response = client.get("/notifications?page=2", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/notifications%3Fpage%3D2"
    login = client.get(response.headers["location"])
    assert login.status_code == 200
    assert 'name="next" value="/notifications?page=2"' in login.text


def test_home_empty_store_explains_how_to_load_data(empty_world: World) -> None:
    client_login(empty_world, "acme_manager")
    response = empty_world.client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert "No sales data yet" in html
    assert "segmint import sales sales.csv --org acme" in html
    assert "No segment types yet" in html
    assert 'href="/settings/segments/new"' in html


def test_home_shows_the_organizations_data_and_types(web_world: World) -> None:
    client_login(web_world, "acme_manager")
    html = " ".join(web_world.client.get("/").text.split())
    # tests/api/conftest.py: 60 customers; customer i has i % 6 + 1 lines of 10 * (i + 1).
    lines = sum(i % 6 + 1 for i in range(60))
    sales = sum((i % 6 + 1) * 10 * (i + 1) for i in range(60))
    assert f'<span class="stat-value">{lines:,}</span>' in html
    assert f'<span class="stat-value">{sales:,.2f}</span>' in html
    assert "ACME Sales" in html and "ACME Behaviour" in html
    assert "Beta ABC" not in html
    client_login(web_world, "beta_manager")
    beta = web_world.client.get("/").text
    assert "Beta ABC" in beta and "ACME Sales" not in beta


def test_home_escapes_organization_names(empty_world: World) -> None:
    with empty_world.db.session() as session:
        organization = accounts.get_organization(session=session, slug="acme")
        organization.name = "<b>evil</b>"
    client_login(empty_world, "acme_manager")
    html = empty_world.client.get("/").text
    assert "<b>evil</b>" not in html
    assert "&lt;b&gt;evil&lt;/b&gt;" in html


def test_login_form_refuses_a_wrong_password_and_logout_needs_the_csrf_token(
    web_world: World,
) -> None:
    c = web_world.client
    c.cookies.clear()
    wrong = c.post("/login", data={"email": email("acme_manager"), "password": "nope-nope-nope"})
    assert wrong.status_code == 401
    assert "Wrong e-mail address or password." in wrong.text
    client_login(web_world, "acme_manager")
    assert (
        c.post("/logout", data={"csrf_token": "forged"}, follow_redirects=False).status_code == 403
    )
    assert c.get("/", follow_redirects=False).status_code == 200
    token = c.get("/").text.split('name="csrf-token" content="')[1].split('"')[0]
    out = c.post("/logout", data={"csrf_token": token}, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/login"
    assert c.get("/", follow_redirects=False).status_code == 303


def test_login_redirects_only_to_paths_on_this_site(web_world: World) -> None:
    c = web_world.client
    for target, expected in (("/customers", "/customers"), ("//evil.test/x", "/"),
                             ("https://evil.test", "/"), ("/\\evil.test", "/")):  # fmt: skip
        c.cookies.clear()
        response = c.post(
            "/login",
            data={"email": email("acme_manager"), "password": PASSWORD, "next": target},
            follow_redirects=False,
        )
        assert response.headers["location"] == expected, target


def test_busy_store_gives_a_503_page_and_a_busy_health(
    settings: Settings, locked_store: Path
) -> None:
    app = create_app(settings)
    _quick_busy(app)
    with TestClient(app, raise_server_exceptions=False) as c:
        with app.state.db.session() as session:
            system = accounts.system_actor(session=session, org="acme")
            accounts.create_user(
                session=session,
                actor=system,
                email="m@acme.test",
                role="manager",
                password=PASSWORD,
            )
        c.post("/login", data={"email": "m@acme.test", "password": PASSWORD})
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
    [
        ("/", 303),
        ("/login", 200),
        ("/healthz", 200),
        ("/static/segmint.css", 200),
        ("/vendor/plotly.min.js", 200),
        ("/nowhere", 404),
    ],
)
def test_security_headers_on_every_response(client: TestClient, path: str, status: int) -> None:
    response = client.get(path, follow_redirects=False)
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


@pytest.mark.parametrize(("path", "status"), [("/", 303), ("/healthz", 200)])
def test_head_is_allowed(client: TestClient, path: str, status: int) -> None:
    response = client.head(path, follow_redirects=False)
    assert response.status_code == status
    assert response.content == b""
