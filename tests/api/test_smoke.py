from __future__ import annotations

from tests.api.conftest import World


def test_customer_list_shows_segments(sqlite_world: World) -> None:
    w = sqlite_world
    r = w.get("acme_manager", "/api/v1/customers", params={"limit": 5})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["total"] == 60
    print(body["items"][1])
