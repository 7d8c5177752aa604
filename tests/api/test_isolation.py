"""Tenant isolation, route by route, from the OpenAPI schema.

Every operation of the schema must have a plan here (a new route without one fails
:func:`test_every_route_has_a_plan`). Each plan is tried with ACME's ids:

* as BETA's admin (another organization): reads and writes that name an ACME id answer 404,
  lists hold nothing of ACME's, and afterwards ACME's data is exactly as before;
* as ACME's rep R1 (the organization limits reps to their own customers): anything naming R2's
  customer answers 404, lists hold only R1's customers, and no write changes anything it must
  not (a rep may not edit types, run them, manage users or webhooks);
* as GAMMA's admin, connected to ACME while ACME shares a VAT-based type: the same as BETA
  (with the shared type's id in place of ACME's Pareto type), except that GAMMA's customers
  carry ACME's segment names in that type, and nothing else of ACME's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import or_, select

from segmint.accounts.models import Organization, User
from segmint.metadata.models import Base
from segmint.runs.models import Run
from segmint.segments.models import SegmentType
from tests.api.conftest import World, share_with_gamma

#: Strings that only ACME's data contains: none may show up in an answer to BETA.
ACME_MARKERS = (
    "ACME Sales",
    "ACME Behaviour",
    "Customer 1",
    "acme.test",
    "strategic account",
    "hooks.example.test",
)
#: ACME's shared type's secrets: its override reason (its name is for connected eyes only).
SHARED_MARKERS = ("partner secret",)
#: What a connected organization learns about a shared segment of one of its customers.
SHARED_FIELDS = {
    "type_id",
    "type_name",
    "owner_slug",
    "owner_name",
    "segment",
    "description",
    "recommended_action",
}
#: The customer of R2 that rep R1 must not see (C03: odd, so sales rep R2).
OTHER_REPS_CUSTOMER = "C03"


@dataclass(frozen=True)
class Plan:
    """How to call one operation with ACME's ids; ``kind`` says what isolation means for it."""

    kind: str  # "item" (names an ACME id), "list" (lists the caller's own), "self" (the caller)
    path: dict[str, str] = field(default_factory=dict)  # path parameter -> key of World.ids
    body: dict[str, Any] | None = None
    query: dict[str, Any] = field(default_factory=dict)
    customer: bool = False  # names a customer (rep R1 must get 404 for R2's)
    reads: bool = False  # a POST that only computes (what-if): reps may call it


PLANS: dict[tuple[str, str], Plan] = {
    ("POST", "/api/v1/auth/login"): Plan(
        "self", body={"email": "acme_manager@acme.test", "password": "wrong password!"}
    ),
    ("POST", "/api/v1/auth/logout"): Plan("self"),
    ("GET", "/api/v1/me"): Plan("self"),
    ("GET", "/api/v1/organization"): Plan("self"),
    ("PATCH", "/api/v1/organization"): Plan("self", body={"reps_can_override": False}),
    ("GET", "/api/v1/tokens"): Plan("list"),
    ("POST", "/api/v1/tokens"): Plan("self", body={"name": "mine"}),
    ("DELETE", "/api/v1/tokens/{token_id}"): Plan("item", path={"token_id": "token"}),
    ("GET", "/api/v1/users"): Plan("list"),
    ("POST", "/api/v1/users"): Plan(
        "self", body={"email": "new-{who}@x.test", "role": "rep", "password": "long enough pw"}
    ),
    ("GET", "/api/v1/users/{user_id}"): Plan("item", path={"user_id": "user"}),
    ("PATCH", "/api/v1/users/{user_id}"): Plan(
        "item", path={"user_id": "user"}, body={"active": False}
    ),
    ("GET", "/api/v1/customers"): Plan("list"),
    ("GET", "/api/v1/customers/export"): Plan("list", query={"format": "csv"}),
    ("GET", "/api/v1/customers/{customer_id}"): Plan("item", customer=True),
    ("GET", "/api/v1/customers/{customer_id}/timeline"): Plan("item", customer=True),
    ("GET", "/api/v1/segment-types"): Plan("list"),
    ("POST", "/api/v1/segment-types"): Plan("self", body={"name": "Mine", "method": "pareto"}),
    ("GET", "/api/v1/segment-types/{type_id}"): Plan("item", path={"type_id": "pareto"}),
    ("PATCH", "/api/v1/segment-types/{type_id}"): Plan(
        "item", path={"type_id": "pareto"}, body={"name": "Renamed"}
    ),
    ("DELETE", "/api/v1/segment-types/{type_id}"): Plan("item", path={"type_id": "pareto"}),
    ("PUT", "/api/v1/segment-types/{type_id}/segments"): Plan(
        "item",
        path={"type_id": "pareto"},
        body={"segments": [{"name": "All", "threshold": "100"}]},
    ),
    ("POST", "/api/v1/segment-types/{type_id}/runs"): Plan("item", path={"type_id": "pareto"}),
    ("GET", "/api/v1/segment-types/{type_id}/runs"): Plan("item", path={"type_id": "pareto"}),
    ("GET", "/api/v1/runs"): Plan("list"),
    ("GET", "/api/v1/runs/{run_id}"): Plan("item", path={"run_id": "pareto_run"}),
    ("GET", "/api/v1/segment-types/{type_id}/overrides"): Plan("item", path={"type_id": "pareto"}),
    ("POST", "/api/v1/segment-types/{type_id}/overrides"): Plan(
        "item",
        path={"type_id": "pareto"},
        body={"customer_key": OTHER_REPS_CUSTOMER, "segment": "A", "reason": "x"},
        customer=True,
    ),
    ("POST", "/api/v1/segment-types/{type_id}/overrides/clear"): Plan(
        "item", path={"type_id": "pareto"}, body={"customer_key": "C01"}, customer=True
    ),
    ("POST", "/api/v1/segment-types/{type_id}/overrides/clear-all"): Plan(
        "item", path={"type_id": "pareto"}
    ),
    ("GET", "/api/v1/notifications"): Plan("list"),
    ("GET", "/api/v1/notifications/unread-count"): Plan("self"),
    ("POST", "/api/v1/notifications/{notification_id}/read"): Plan(
        "item", path={"notification_id": "notification"}
    ),
    ("POST", "/api/v1/notifications/read-all"): Plan("self"),
    ("GET", "/api/v1/webhooks"): Plan("list"),
    ("POST", "/api/v1/webhooks"): Plan("self", body={"url": "https://beta.example.test/h"}),
    ("DELETE", "/api/v1/webhooks/{endpoint_id}"): Plan("item", path={"endpoint_id": "webhook"}),
    ("GET", "/api/v1/webhooks/{endpoint_id}/deliveries"): Plan(
        "item", path={"endpoint_id": "webhook"}
    ),
    ("GET", "/healthz"): Plan("self"),
    ("GET", "/api/v1/segment-types/{type_id}/insights"): Plan(
        "item", path={"type_id": "rfm"}, query={"territory": "North"}
    ),
    ("POST", "/api/v1/segment-types/{type_id}/insights/what-if"): Plan(
        "item", path={"type_id": "rfm"}, body={"r": [10, 30, 60, 120]}, reads=True
    ),
    ("GET", "/api/v1/segment-types/{type_id}/pareto"): Plan("item", path={"type_id": "pareto"}),
    ("GET", "/api/v1/segment-types/{type_id}/migration"): Plan(
        "item",
        path={"type_id": "pareto"},
        query={"from_run": "{pareto_run}", "to_run": "{pareto_run}"},
    ),
    ("GET", "/api/v1/connections"): Plan("list"),
    ("POST", "/api/v1/connections"): Plan("self", body={"slug": "gamma"}),
    ("GET", "/api/v1/connections/{connection_id}"): Plan(
        "item", path={"connection_id": "connection"}
    ),
    ("POST", "/api/v1/connections/{connection_id}/accept"): Plan(
        "item", path={"connection_id": "connection"}
    ),
    ("POST", "/api/v1/connections/{connection_id}/decline"): Plan(
        "item", path={"connection_id": "connection"}
    ),
    ("POST", "/api/v1/connections/{connection_id}/end"): Plan(
        "item", path={"connection_id": "connection"}
    ),
    ("GET", "/api/v1/shared-types"): Plan("list"),
}
EXTRA_PLANS: dict[tuple[str, str], Plan] = {}


def operations(world: World) -> set[tuple[str, str]]:
    schema = world.client.get("/api/v1/openapi.json").json()
    return {
        (method.upper(), path)
        for path, item in schema["paths"].items()
        for method in item
        if method in ("get", "post", "put", "patch", "delete")
    }


def acme_state(world: World) -> dict[str, list]:
    """Every row that belongs to ACME, table by table (audit entries and tokens' last-use times
    aside: reading leaves those)."""
    with world.db.read_session() as session:
        acme = session.scalars(select(Organization).where(Organization.slug == "acme")).one()
        type_ids = list(
            session.scalars(select(SegmentType.id).where(SegmentType.organization_id == acme.id))
        )
        run_ids = list(session.scalars(select(Run.id).where(Run.organization_id == acme.id)))
        user_ids = list(session.scalars(select(User.id).where(User.organization_id == acme.id)))
        state: dict[str, list] = {}
        for table in Base.metadata.sorted_tables:
            columns = table.c
            if table.name in ("audit_log", "login_failures"):
                continue
            if "organization_id" in columns:
                where = columns.organization_id == acme.id
            elif table.name == "organizations":
                where = columns.id == acme.id
            elif table.name == "segments":
                where = columns.type_id.in_(type_ids)
            elif table.name == "assignments":
                where = columns.run_id.in_(run_ids)
            elif table.name == "org_connections":
                where = or_(columns.inviter_id == acme.id, columns.invitee_id == acme.id)
            elif "user_id" in columns:
                where = columns.user_id.in_(user_ids)
            else:
                raise AssertionError(f"table {table.name}: say how ACME's rows are found")
            skip = {"last_used_at", "last_seen_at"}
            rows = session.execute(select(table).where(where)).mappings().all()
            state[table.name] = sorted(
                json.dumps({k: v for k, v in row.items() if k not in skip}, default=str)
                for row in rows
            )
        return state


def call(world: World, who: str, method: str, path: str, plan: Plan, customer: str):
    url = path
    for name, key in plan.path.items():
        url = url.replace("{" + name + "}", str(world.ids[key]))
    url = url.replace("{customer_id}", customer)
    body = plan.body
    if body is not None:
        body = json.loads(json.dumps(body).replace("{who}", who))
        if "customer_key" in body and plan.customer:
            body["customer_key"] = customer
    query = {
        k: str(world.ids[v[1:-1]]) if str(v).startswith("{") else v for k, v in plan.query.items()
    }
    return world.request(who, method, url, json=body, params=query)


def test_every_route_has_a_plan(sqlite_world: World) -> None:
    found = operations(sqlite_world)
    planned = set(PLANS) | set(EXTRA_PLANS)
    assert found - planned == set(), "routes without an isolation plan"
    assert planned - found == set(), "plans for routes that do not exist"


def _texts(response) -> str:
    return (
        response.text
        if response.headers.get("content-type", "").startswith(("application/json", "text/"))
        else response.content.decode("latin-1")
    )


def _outsider_walk(world: World, who: str, customer: str, markers: tuple[str, ...]) -> None:
    """Every planned route as ``who`` of another organization: ACME's ids are 404, answers
    show none of ``markers``, and ACME's data stays exactly as it was."""
    before = acme_state(world)
    for (method, path), plan in sorted({**PLANS, **EXTRA_PLANS}.items()):
        if who == "gamma_admin" and "{connection_id}" in path:
            continue  # GAMMA is a party to that connection: tested on its own below
        response = call(world, who, method, path, plan, customer=customer)
        where = f"{method} {path} -> {response.status_code} {response.text[:200]}"
        if plan.kind == "item":
            assert response.status_code == 404, where
        else:
            assert response.status_code < 500, where
            if response.status_code < 300:
                for marker in markers:
                    assert marker not in _texts(response), f"{where}: shows {marker!r}"
    assert acme_state(world) == before


@pytest.mark.slow
def test_another_organization_sees_and_changes_nothing(world: World) -> None:
    share_with_gamma(world)  # BETA is not connected: ACME's shared type is not for it either
    _outsider_walk(world, "beta_admin", "C05", (*ACME_MARKERS, *SHARED_MARKERS, "ACME Partners"))
    listed = world.get("beta_admin", "/api/v1/customers").json()["items"]
    assert [(c["customer_id"], c["vat_key"], c["shared_segments"]) for c in listed] == [
        ("K1", "BE0400000001", []),  # C01's VAT number, but no connection
        ("K2", None, []),
    ]
    assert world.get("beta_admin", "/api/v1/shared-types").json() == []


def _shared(world: World, who: str) -> dict[str, list[dict[str, Any]]]:
    """GAMMA's customers as ``who`` sees them: customer ID -> shared segments."""
    response = world.get(who, "/api/v1/customers")
    assert response.status_code == 200, response.text
    return {c["customer_id"]: c["shared_segments"] for c in response.json()["items"]}


def _acme_effective(world: World, type_id: int) -> dict[str, str | None]:
    """ACME's own effective segment per VAT key in its shared type, as ACME's manager sees it."""
    items = world.get("acme_manager", "/api/v1/customers", params={"limit": 500}).json()["items"]
    return {
        c["vat_key"]: next((s["effective"] for s in c["segments"] if s["type_id"] == type_id), None)
        for c in items
    }


@pytest.mark.slow
def test_a_connected_organization_sees_shared_segment_names_and_nothing_else(
    world: World,
) -> None:
    type_id = share_with_gamma(world)
    world.ids["pareto"] = type_id  # every plan on ACME's Pareto type tries the shared one
    _outsider_walk(world, "gamma_admin", "C01", (*ACME_MARKERS, *SHARED_MARKERS))

    owner = _acme_effective(world, type_id)
    assert owner["BE0400000002"] == "A"  # set by hand, with a reason GAMMA must not see
    for who in ("gamma_admin", "gamma_rep"):
        shared = _shared(world, who)
        assert set(shared) == {"G1", "G2", "G3", "G4"}
        for customer_id, vat_key in (("G1", "BE0400000001"), ("G2", "BE0400000002")):
            (segment,) = shared[customer_id]
            assert set(segment) == SHARED_FIELDS, segment
            assert (segment["type_id"], segment["type_name"], segment["owner_slug"]) == (
                type_id,
                "ACME Partners",
                "acme",
            )
            assert segment["segment"] == owner[vat_key]
        assert shared["G4"] == []  # no VAT number
        one = world.get(who, "/api/v1/customers/G2").json()
        assert one["shared_segments"] == shared["G2"]
        # GAMMA's own segments hold none of ACME's types
        assert all(s["type_id"] != type_id for s in one["segments"])

    types = world.get("gamma_rep", "/api/v1/shared-types").json()
    assert [(t["id"], t["name"], t["method"], t["owner_name"]) for t in types] == [
        (type_id, "ACME Partners", "pareto", "Acme")
    ]
    assert set(types[0]) == {"id", "name", "method", "owner_slug", "owner_name", "segments"}
    assert [set(s) for s in types[0]["segments"]] == [
        {"name", "description", "recommended_action"}
    ] * 3
    # ... and no route writes to it or reads its figures from GAMMA's side
    for method, url, body in (
        ("PATCH", f"/api/v1/segment-types/{type_id}", {"shared": False}),
        (
            "POST",
            f"/api/v1/segment-types/{type_id}/overrides",
            {"customer_key": "BE0400000001", "segment": "C"},
        ),
        ("POST", f"/api/v1/segment-types/{type_id}/runs", None),
        ("GET", f"/api/v1/segment-types/{type_id}/overrides", None),
        ("GET", f"/api/v1/segment-types/{type_id}/pareto", None),
    ):
        response = world.request("gamma_admin", method, url, json=body)
        assert response.status_code == 404, (method, url, response.text)


@pytest.mark.slow
def test_sharing_stops_when_the_type_is_unshared_or_the_connection_ends(world: World) -> None:
    type_id = share_with_gamma(world)
    assert _shared(world, "gamma_rep")["G1"] != []
    response = world.request(
        "acme_manager", "PATCH", f"/api/v1/segment-types/{type_id}", json={"shared": False}
    )
    assert response.status_code == 200, response.text
    assert set(map(len, _shared(world, "gamma_rep").values())) == {0}
    assert world.get("gamma_rep", "/api/v1/shared-types").json() == []

    world.request(
        "acme_manager", "PATCH", f"/api/v1/segment-types/{type_id}", json={"shared": True}
    )
    assert len(_shared(world, "gamma_rep")["G1"]) == 1
    ended = world.post("acme_admin", f"/api/v1/connections/{world.ids['connection']}/end")
    assert ended.status_code == 200, ended.text
    assert set(map(len, _shared(world, "gamma_rep").values())) == {0}
    assert world.get("gamma_rep", "/api/v1/shared-types").json() == []
    seen = world.get("gamma_rep", f"/api/v1/connections/{world.ids['connection']}").json()
    assert (seen["status"], seen["ended_by_side"], seen["ended_by"]) == ("ended", "partner", None)


@pytest.mark.slow
def test_a_rep_limited_to_own_customers_sees_and_changes_only_those(world: World) -> None:
    who = "acme_rep1"
    before = acme_state(world)
    for (method, path), plan in sorted({**PLANS, **EXTRA_PLANS}.items()):
        response = call(world, who, method, path, plan, customer=OTHER_REPS_CUSTOMER)
        where = f"{method} {path} -> {response.status_code} {response.text[:200]}"
        assert response.status_code < 500, where
        if plan.customer:
            assert response.status_code == 404, where
        elif method != "GET" and plan.kind == "item" and not plan.reads:
            assert response.status_code in (403, 404), where
    after = acme_state(world)
    # The rep's own actions (a token of its own, a user it may not create) aside, nothing moved.
    after["api_tokens"] = [t for t in after["api_tokens"] if '"name": "mine"' not in t]
    assert after == before
    listed = world.get(who, "/api/v1/customers", params={"limit": 500}).json()
    assert listed["total"] == 30
    assert {c["sales_rep"] for c in listed["items"]} == {"R1"}
    exported = world.get(who, "/api/v1/customers/export", params={"format": "csv"}).text
    assert "C02" in exported and OTHER_REPS_CUSTOMER not in exported
