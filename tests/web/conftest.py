"""Fixtures for the web tests. Data goes into the store with plain SQL through the store's own
module, so these tests do not depend on the importer or the demo generator."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from segmint.accounts import service as accounts
from segmint.settings import Settings
from segmint.store import SalesStore
from segmint.web.app import create_app
from tests.api.conftest import PASSWORD, World, WorldTemplate, world_from
from tests.conftest import chromium_path


def seed_store(settings: Settings) -> None:
    """Two organizations: ACME with 1,234 lines (thousands separators), BETA with 3 lines.

    ACME: invoice dates 2024-01-01 + (i mod 365) days, i = 0..1233 -> 2024-01-01..2024-12-30
    (2024 is a leap year); 50 customers C0..C49; 10.5 per line -> net sales 12,957.00.
    BETA: 3 lines, one a credit note: 100 + 250.25 - 50 = 300.25; 2 customers; 1 product.
    """
    with SalesStore.from_settings(settings).connect() as con:
        con.execute(
            """
            INSERT INTO sales_lines (org, document_id, line_no, invoice_date, customer_id,
                                     net_amount, quantity, product_id)
            SELECT 'ACME', 'D' || i, 1, DATE '2024-01-01' + CAST(i % 365 AS INTEGER),
                   'C' || (i % 50), 10.5, 1, 'P' || (i % 7)
            FROM range(1234) t(i)
            """
        )
        con.execute(
            """
            INSERT INTO customers (org, customer_id, name)
            SELECT 'ACME', 'C' || i, 'Customer ' || i FROM range(50) t(i)
            """
        )
        con.execute(
            """
            INSERT INTO sales_lines (org, document_id, line_no, invoice_date, customer_id,
                                     net_amount)
            VALUES ('BETA', 'INV-1', 1, DATE '2025-03-01', 'K1', 100),
                   ('BETA', 'INV-2', 1, DATE '2025-03-02', 'K2', 250.25),
                   ('BETA', 'CN-1', 1, DATE '2025-03-05', 'K1', -50)
            """
        )
        con.execute(
            "INSERT INTO customers (org, customer_id, name) "
            "VALUES ('BETA', 'K1', 'Kappa'), ('BETA', 'K2', 'Kilo')"
        )
        con.execute("INSERT INTO products (org, product_id, name) VALUES ('BETA', 'X1', 'Widget')")


@pytest.fixture
def seeded_settings(settings: Settings) -> Settings:
    """Settings whose sales store holds the data of :func:`seed_store`."""
    seed_store(settings)
    return settings


# -- a world with accounts, segment types and runs, for the pages and the browser ------------


@pytest.fixture
def web_world(sqlite_world_template: WorldTemplate, tmp_path: Path) -> Iterator[World]:
    """The API tests' world (ACME with 60 customers, a Pareto and an RFM type that ran, an
    override; BETA) on SQLite, with the in-process worker running so runs started from a page
    finish on their own. Each test gets its own copy of the files built once per session (the
    same template as the API tests' ``sqlite_world``)."""
    yield from world_from(sqlite_world_template, tmp_path, worker_in_process=True)


@pytest.fixture
def empty_world(tmp_path: Path) -> Iterator[World]:
    """An organization with accounts but no sales data and no segment types."""
    settings = Settings(data_dir=tmp_path / "data", worker_in_process=False, _env_file=None)
    app = create_app(settings)
    with TestClient(app) as client:
        world = World(app=app, client=client, db=app.state.db, settings=settings)
        with world.db.session() as session:
            accounts.ensure_organization(session=session, slug="acme", name="ACME Empty")
            system = accounts.system_actor(session=session, org="acme")
            for who, role in (
                ("acme_admin", "admin"),
                ("acme_manager", "manager"),
                ("acme_rep1", "rep"),
            ):
                user = accounts.create_user(
                    session=session,
                    actor=system,
                    email=f"{who}@acme.test",
                    role=role,
                    password=PASSWORD,
                    name=who,
                )
                world.users[who] = user.id
        yield world


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Debian's chromium driven by Playwright, one per test module."""
    path = chromium_path()
    if path is None:
        pytest.skip(
            "chromium not found: install Debian's chromium (apt-get install chromium) "
            "or set SEGMINT_CHROMIUM to its path"
        )
    from playwright.sync_api import sync_playwright

    from tests.web.support import CHROMIUM_ARGS

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()
