"""Customer IDs as ERPs write them, slashes included ("CUST/0042", sent as %2F): the customer,
its timeline and an override of it are reachable through the API."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from segmint.customers.table import clear_tables
from tests.api.conftest import World


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
