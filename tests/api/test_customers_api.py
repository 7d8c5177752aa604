"""Customer IDs as ERPs write them, slashes included ("CUST/0042", sent as %2F): the customer,
its timeline and an override of it are reachable through the API. And segment filters of
several types at once (``segment_filter=<type id>:<name>``) on the list and the export, and
the segments connected organizations share, in the export too."""

from __future__ import annotations

import csv
import io
from urllib.parse import quote

import pytest

from segmint.customers.table import clear_tables
from tests.api.conftest import World, share_with_gamma


@pytest.mark.parametrize("customer_id", ["CUST/0042", "/leading", "a//b/"])
def test_a_customer_id_with_slashes_is_reachable(sqlite_world: World, customer_id: str) -> None:
    w = sqlite_world
    with w.app.state.store.connect() as con:
        con.execute(
            "INSERT INTO customers (org, customer_id, name, sales_rep) VALUES ('acme', ?, ?, 'R1')",
            [customer_id, "Slashed"],
        )
    clear_tables()
    path = f"/api/v1/customers/{quote(customer_id, safe='')}"
    found = w.get("acme_manager", path)
    assert found.status_code == 200, (found.request.url, found.text)
    assert found.json()["customer_id"] == customer_id
    set_it = w.post(
        "acme_manager",
        f"/api/v1/segment-types/{w.ids['pareto']}/overrides",
        json={"customer_key": customer_id, "segment": "A", "reason": "key account"},
    )
    assert set_it.status_code < 300, set_it.text
    segments = w.get("acme_manager", path).json()["segments"]
    assert [(s["manual"], s["effective"]) for s in segments if s["type_id"] == w.ids["pareto"]] == [
        ("A", "A")
    ]
    timeline = w.get("acme_manager", f"{path}/timeline")
    assert timeline.status_code == 200, timeline.text
    entries = [(e["customer_key"], e["source"], e["effective_to"]) for e in timeline.json()]
    assert entries == [(customer_id, "manual", "A")]
    # Another organization still finds nothing under that ID.
    assert w.get("beta_manager", path).status_code == 404
    assert w.get("beta_manager", f"{path}/timeline").status_code == 404


@pytest.mark.parametrize("value", ["A", "x:A", ":A", "12:", "-1:A", "99999999999:A", "1 :A"])
def test_a_malformed_segment_filter_is_a_422_naming_it(sqlite_world: World, value: str) -> None:
    for path in ("/api/v1/customers", "/api/v1/customers/export"):
        response = sqlite_world.get("acme_manager", path, params={"segment_filter": value})
        assert response.status_code == 422, response.text
        body = response.json()
        assert body["fields"][0]["field"] == "segment_filter"
        assert repr(value)[:20].strip("'") in body["message"]


def test_segment_filters_of_two_types_keep_the_customers_in_both(sqlite_world: World) -> None:
    w = sqlite_world
    pareto, rfm = w.ids["pareto"], w.ids["rfm"]

    def listed(**params: object) -> list[str]:
        found = w.get("acme_manager", "/api/v1/customers", params={"limit": 500, **params})
        assert found.status_code == 200, found.text
        return [c["customer_id"] for c in found.json()["items"]]

    only_a = listed(segment_type=pareto, segment="A")
    champions = set(listed(segment_type=rfm, segment=["Champions", "Loyal"]))
    both = listed(segment_filter=[f"{pareto}:A", f"{rfm}:Champions", f"{rfm}:Loyal"])
    assert both == [c for c in only_a if c in champions] and 0 < len(both) < len(only_a)
    # An unknown type is a 404, as segment_type's is; an unknown segment a 422 naming it.
    assert (
        w.get("acme_manager", "/api/v1/customers", params={"segment_filter": "999:A"}).status_code
        == 404
    )
    unknown = w.get("acme_manager", "/api/v1/customers", params={"segment_filter": f"{pareto}:Z"})
    assert unknown.status_code == 422 and "'Z'" in unknown.json()["message"]


def test_the_export_has_a_column_per_shared_type(world: World) -> None:
    type_id = share_with_gamma(world)
    owner = {
        c["vat_key"]: next(s["effective"] for s in c["segments"] if s["type_id"] == type_id)
        for c in world.get("acme_manager", "/api/v1/customers", params={"limit": 500}).json()[
            "items"
        ]
    }
    listed = {
        c["customer_id"]: [s["segment"] for s in c["shared_segments"]]
        for c in world.get("gamma_rep", "/api/v1/customers").json()["items"]
    }
    exported = world.get("gamma_rep", "/api/v1/customers/export", params={"format": "csv"})
    assert exported.status_code == 200, exported.text
    reader = csv.DictReader(io.StringIO(exported.content.decode("utf-8-sig")))
    column = "ACME Partners (Acme, shared)"
    assert reader.fieldnames is not None and reader.fieldnames[-1] == column
    rows = {r["customer_id"]: r[column] for r in reader}
    assert rows == {k: (v[0] if v else "") for k, v in listed.items()}
    assert rows["G2"] == owner["BE0400000002"] == "A" and rows["G4"] == ""
    assert "partner secret" not in exported.text  # the owner's reason stays the owner's
    # An organization without a connection gets no such column.
    beta = world.get("beta_admin", "/api/v1/customers/export", params={"format": "csv"}).text
    assert "shared)" not in beta
