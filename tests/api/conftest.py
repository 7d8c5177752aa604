"""Three organizations behind one live app, on SQLite and on PostgreSQL.

ACME has 60 customers (C00..C59; reps R1 and R2 alternate; two territories, two branches; VAT
numbers BE0400000000..BE0400000059, already normalized), sales in 2025, a Pareto and an RFM type
that have run, a manual override, a webhook endpoint, and users of every role, each with an API
token. BETA has two customers and its own admin; its K1 has C01's VAT number, but BETA is
connected to nobody. GAMMA (a wholesaler) is connected to ACME (ACME invited, GAMMA accepted)
and has four customers, three of them with ACME's VAT numbers (G1 = C01, G2 = C02, G3 = C03);
ACME shares no segment type yet (:func:`share_with_gamma` makes one). Reps of ACME see only their
own customers and may override them.
"""

from __future__ import annotations

import copy
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from segmint.accounts import access
from segmint.accounts import service as accounts
from segmint.accounts.actor import Actor
from segmint.assignments import service as assignments
from segmint.metadata.database import Database
from segmint.runs import webhooks
from segmint.runs.background import make_worker
from segmint.runs.service import start_run
from segmint.runs.worker import wait_for_run
from segmint.segments import service as segments
from segmint.settings import Settings
from segmint.sharing import service as sharing
from segmint.store import SalesStore
from segmint.web.app import create_app
from tests.conftest import (
    WorldTemplate,
    create_postgres_database,
    drop_postgres_database,
    postgres_url,
)

AS_OF = date(2025, 12, 31)
PASSWORD = "correct horse battery"


def seed_sales(store: SalesStore) -> None:
    with store.connect() as con:
        con.execute(
            """
            INSERT INTO customers (org, customer_id, name, vat_number, vat_key, branch,
                                   territory, sales_rep)
            SELECT 'acme', printf('C%02d', i), 'Customer ' || i, 'BE0' || (400000000 + i),
                   'BE0' || (400000000 + i), 'B' || (i % 2 + 1),
                   CASE WHEN i < 30 THEN 'North' ELSE 'South' END,
                   'R' || (i % 2 + 1)
            FROM range(60) t(i)
            """
        )
        # Customer i buys (i % 6 + 1) times in 2025 for 10 * (i + 1) each; C00 also has a credit.
        con.execute(
            """
            INSERT INTO sales_lines (org, document_id, line_no, invoice_date, customer_id,
                                     net_amount, product_id, brand, branch, sales_rep, territory)
            SELECT 'acme', 'D' || i || '-' || k, 1,
                   DATE '2025-01-05' + CAST((i * 5 + k * 40) % 360 AS INTEGER),
                   printf('C%02d', i), 10 * (i + 1), 'P' || (k % 3),
                   CASE WHEN k % 2 = 0 THEN 'Acme' ELSE 'Bolt' END, 'B' || (i % 2 + 1),
                   'R' || (i % 2 + 1), CASE WHEN i < 30 THEN 'North' ELSE 'South' END
            FROM range(60) t(i), range(6) s(k)
            WHERE k <= i % 6
            """
        )
        con.execute(
            """
            INSERT INTO customers (org, customer_id, name, vat_number, vat_key, sales_rep)
            VALUES ('beta', 'K1', 'Kappa', 'BE0400000001', 'BE0400000001', 'RB'),
                   ('beta', 'K2', 'Kilo', NULL, NULL, 'RB')
            """
        )
        con.execute(
            """
            INSERT INTO customers (org, customer_id, name, vat_number, vat_key, sales_rep)
            VALUES ('gamma', 'G1', 'Gamma One', 'be 0400.000.001', 'BE0400000001', 'RG'),
                   ('gamma', 'G2', 'Gamma Two', 'BE0400000002', 'BE0400000002', 'RG'),
                   ('gamma', 'G3', 'Gamma Three', 'BE0400000003', 'BE0400000003', 'RG'),
                   ('gamma', 'G4', 'Gamma Four', NULL, NULL, 'RG')
            """
        )
        con.execute(
            """
            INSERT INTO sales_lines (org, document_id, line_no, invoice_date, customer_id,
                                     net_amount)
            VALUES ('beta', 'INV-1', 1, DATE '2025-03-01', 'K1', 100),
                   ('beta', 'INV-2', 1, DATE '2025-03-02', 'K2', 250.25)
            """
        )


@dataclass
class World:
    app: object
    client: TestClient
    db: Database
    settings: Settings
    tokens: dict[str, str] = field(default_factory=dict)
    users: dict[str, int] = field(default_factory=dict)
    actors: dict[str, Actor] = field(default_factory=dict)
    ids: dict[str, int] = field(default_factory=dict)

    def headers(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def get(self, who: str, url: str, **kwargs):
        return self.client.get(url, headers=self.headers(who), **kwargs)

    def post(self, who: str, url: str, **kwargs):
        return self.client.post(url, headers=self.headers(who), **kwargs)

    def request(self, who: str, method: str, url: str, **kwargs):
        return self.client.request(method, url, headers=self.headers(who), **kwargs)

    def run(self, who: str, type_id: int) -> int:
        """Start a run as ``who`` and compute it with a worker, here and now."""
        with self.db.session() as session:
            run = start_run(session=session, actor=self.actors[who], type_id=type_id, as_of=AS_OF)
            run_id = run.id
        make_worker(self.settings, self.db, store=self.app.state.store).run_once()
        # With the app's own worker running (``web_world``), that worker may have claimed the
        # run first and be computing it still: the run is only done when it has finished.
        wait_for_run(self.db, self.actors[who], run_id, poll_seconds=0.05, timeout=120)
        return run_id


def build_world(settings: Settings) -> Iterator[World]:
    app = create_app(settings)
    seed_sales(app.state.store)
    with TestClient(app) as client:
        db: Database = app.state.db
        world = World(app=app, client=client, db=db, settings=settings)
        people = {
            "acme_admin": ("acme", "admin", None),
            "acme_manager": ("acme", "manager", None),
            "acme_rep1": ("acme", "rep", "R1"),
            "acme_rep2": ("acme", "rep", "R2"),
            "beta_admin": ("beta", "admin", None),
            "beta_manager": ("beta", "manager", None),
            "gamma_admin": ("gamma", "admin", None),
            "gamma_rep": ("gamma", "rep", "RG"),
        }
        with db.session() as session:
            for slug in ("acme", "beta", "gamma"):
                org = accounts.ensure_organization(session=session, slug=slug)
                if slug == "acme":
                    org.reps_see_own_customers_only = True
                    org.reps_can_override = True
            session.flush()
            for who, (slug, role, rep) in people.items():
                system = accounts.system_actor(session=session, org=slug)
                user = accounts.create_user(
                    session=session,
                    actor=system,
                    email=f"{who}@{slug}.test",
                    role=role,
                    password=PASSWORD,
                    name=who.replace("_", " ").title(),
                    sales_rep=rep,
                )
                organization = accounts.get_organization(session=session, slug=slug)
                actor = accounts.actor_for(user, organization)
                _, secret = access.create_token(session=session, actor=actor, name=f"{who} token")
                world.tokens[who] = secret
                world.users[who] = user.id
                world.actors[who] = actor
            manager = world.actors["acme_manager"]
            pareto = segments.create_type(
                session=session, actor=manager, name="ACME Sales", method="pareto"
            )
            rfm = segments.create_type(
                session=session, actor=manager, name="ACME Behaviour", method="rfm"
            )
            beta_type = segments.create_type(
                session=session,
                actor=world.actors["beta_manager"],
                name="Beta ABC",
                method="pareto",
            )
            world.ids.update(pareto=pareto.id, rfm=rfm.id, beta_type=beta_type.id)
        world.ids["pareto_run"] = world.run("acme_manager", world.ids["pareto"])
        world.ids["rfm_run"] = world.run("acme_manager", world.ids["rfm"])
        world.ids["beta_run"] = world.run("beta_manager", world.ids["beta_type"])
        with db.session() as session:
            manager = world.actors["acme_manager"]
            assignments.set_override(
                session=session,
                actor=manager,
                type_id=world.ids["pareto"],
                customer_key="C01",
                segment="A",
                reason="strategic account",
            )
            endpoint, _ = webhooks.add_endpoint(
                session=session, actor=manager, url="https://hooks.example.test/segmint"
            )
            world.ids["webhook"] = endpoint.id
            tokens = access.list_tokens(session=session, actor=world.actors["acme_admin"])
            world.ids["token"] = next(t.id for t in tokens if t.user_id == world.users["acme_rep2"])
            from segmint.runs.notifications import list_notifications

            world.ids["notification"] = list_notifications(session=session, actor=manager)[0].id
            invited = sharing.invite(
                session=session, actor=world.actors["acme_admin"], slug="gamma"
            )
            sharing.accept(
                session=session, actor=world.actors["gamma_admin"], connection_id=invited.id
            )
            world.ids["connection"] = invited.id
        world.ids["user"] = world.users["acme_rep2"]
        yield world


def world_from(
    template: WorldTemplate, tmp_path: Path, *, metadata_url: str | None = None, **settings: object
) -> Iterator[World]:
    """A world of its own: a copy of the template's files, a new app on the copy."""
    data_dir = tmp_path / "data"
    shutil.copytree(template.data_dir, data_dir)
    config = Settings(data_dir=data_dir, metadata_url=metadata_url, _env_file=None, **settings)
    app = create_app(config)
    with TestClient(app) as client:
        yield World(
            app=app,
            client=client,
            db=app.state.db,
            settings=config,
            **copy.deepcopy(template.known),
        )


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def world(request, tmp_path: Path) -> Iterator[World]:
    """The world on SQLite and on PostgreSQL (a database of its own, dropped afterwards)."""
    if request.param == "sqlite":
        template = request.getfixturevalue("sqlite_world_template")
        yield from world_from(template, tmp_path, worker_in_process=False)
        return
    template = request.getfixturevalue("postgres_world_template")
    name = create_postgres_database(template.postgres)
    try:
        yield from world_from(
            template, tmp_path, metadata_url=postgres_url(name), worker_in_process=False
        )
    finally:
        drop_postgres_database(name)


@pytest.fixture
def sqlite_world(sqlite_world_template: WorldTemplate, tmp_path: Path) -> Iterator[World]:
    """The world on SQLite only, for tests of the HTTP layer itself."""
    yield from world_from(sqlite_world_template, tmp_path, worker_in_process=False)


def share_with_gamma(world: World) -> int:
    """ACME's VAT-based, shared ABC type "ACME Partners", run, with C02's VAT number moved to A
    by hand (reason "partner secret"); its id. GAMMA sees it on G1..G3."""
    response = world.post(
        "acme_manager",
        "/api/v1/segment-types",
        json={"name": "ACME Partners", "method": "pareto", "identity": "vat", "shared": True},
    )
    assert response.status_code == 201, response.text
    type_id = response.json()["id"]
    world.run("acme_manager", type_id)
    response = world.post(
        "acme_manager",
        f"/api/v1/segment-types/{type_id}/overrides",
        json={"customer_key": "BE0400000002", "segment": "A", "reason": "partner secret"},
    )
    assert response.status_code == 200, response.text
    world.ids["shared_type"] = type_id
    return type_id
