"""Settings > Connections and the shared segments on the Customers pages, rendered by the
server: who may open the page and what each role gets, the invitations and connections, the
Settings tabs, and a connected organization's customers with the owner's segment names only."""

from __future__ import annotations

import re
import time

from tests.api.conftest import World
from tests.web.support import client_login
from tests.web.test_settings_pages import assert_csp_clean, page, parse


def share_and_run(world: World) -> int:
    """ACME's shared VAT-based type "ACME Partners", run by the app's worker, with C02's VAT
    number moved to A by hand (a reason GAMMA must not see); its id."""
    created = world.post(
        "acme_manager",
        "/api/v1/segment-types",
        json={"name": "ACME Partners", "method": "pareto", "identity": "vat", "shared": True},
    )
    assert created.status_code == 201, created.text
    type_id = created.json()["id"]
    run = world.post(
        "acme_manager", f"/api/v1/segment-types/{type_id}/runs", json={"as_of": "2025-12-31"}
    ).json()
    deadline = time.monotonic() + 60
    while world.get("acme_manager", f"/api/v1/runs/{run['id']}").json()["status"] != "succeeded":
        assert time.monotonic() < deadline, "the run did not finish"
        time.sleep(0.1)
    response = world.post(
        "acme_manager",
        f"/api/v1/segment-types/{type_id}/overrides",
        json={"customer_key": "BE0400000002", "segment": "A", "reason": "partner secret"},
    )
    assert response.status_code == 200, response.text
    return type_id


def owner_segments(world: World, type_id: int) -> dict[str, str]:
    """ACME's effective segment per VAT key in ``type_id``, from ACME's own API."""
    items = world.get("acme_manager", "/api/v1/customers", params={"limit": 500}).json()["items"]
    return {
        c["vat_key"]: s["effective"]
        for c in items
        for s in c["segments"]
        if s["type_id"] == type_id
    }


def shared_cells(html: str) -> dict[str, str]:
    """Customer ID -> the text of its "Shared with you" cell in the list."""
    found = re.findall(
        r'<tr class="customer-row" data-customer="([^"]+)">.*?data-testid="shared-cell">(.*?)</td>',
        html,
        flags=re.DOTALL,
    )
    return {key: " ".join(re.sub(r"<[^>]+>", "", cell).split()) for key, cell in found}


def test_a_rep_may_not_open_the_connections(web_world: World) -> None:
    client_login(web_world, "acme_rep1")
    html = page(web_world, "/settings/connections", 403)
    assert "manager or admin role" in html


def test_a_manager_reads_without_buttons(web_world: World) -> None:
    client_login(web_world, "acme_manager")
    html = page(web_world, "/settings/connections")
    tables = parse(html).tables
    assert tables["active"][1][:3] == ["Gamma (gamma)", tables["active"][1][1], "Nothing yet"]
    assert 'id="invite-form"' not in html and 'data-action="end"' not in html
    assert "You share no segment type" in html
    assert_csp_clean(html)


def test_an_admin_invites_answers_and_ends(web_world: World) -> None:
    client_login(web_world, "acme_admin")
    html = page(web_world, "/settings/connections")
    assert 'id="invite-form"' in html
    assert f'data-action="end" data-id="{web_world.ids["connection"]}"' in html
    assert 'aria-current="page" data-testid="settings-tab-connections"' in html
    assert "No invitations waiting for you" in html
    assert_csp_clean(html)
    # BETA invites ACME: ACME's admin sees it with Accept and Decline, BETA's as sent
    sent = web_world.post("beta_admin", "/api/v1/connections", json={"slug": "acme"}).json()
    html = page(web_world, "/settings/connections")
    incoming = parse(html).tables["incoming"]
    assert incoming[1][0] == "Beta (beta)"
    assert f'data-action="accept" data-id="{sent["id"]}"' in html
    assert f'data-action="decline" data-id="{sent["id"]}"' in html
    client_login(web_world, "beta_admin")
    html = page(web_world, "/settings/connections")
    assert parse(html).tables["outgoing"][1][0] == "Acme (acme)"
    assert f'data-action="withdraw" data-id="{sent["id"]}"' in html
    # the notification behind ACME's bell links to the page
    client_login(web_world, "acme_admin")
    html = page(web_world, "/notifications")
    assert "Beta invites you to connect" in html and 'href="/settings/connections"' in html
    # declined, it moves to the past
    web_world.post("acme_admin", f"/api/v1/connections/{sent['id']}/decline")
    html = page(web_world, "/settings/connections")
    past = parse(html).tables["past"]
    assert past[1][:2] == ["Beta (invited you)", "declined"]
    assert "by Acme Admin" in past[1][3]


def test_what_is_shared_each_way(web_world: World) -> None:
    type_id = share_and_run(web_world)
    client_login(web_world, "gamma_admin")
    html = page(web_world, "/settings/connections")
    active = parse(html).tables["active"]
    assert active[1][0] == "Acme (acme)"
    assert active[1][2] == "ACME Partners (ABC: A, B, C)"
    client_login(web_world, "acme_manager")
    html = page(web_world, "/settings/connections")
    assert f'<a href="/settings/segments/{type_id}">ACME Partners</a>' in html


def test_the_settings_tabs_link_the_connections(web_world: World) -> None:
    client_login(web_world, "acme_manager")
    html = page(web_world, "/settings/segments")
    assert 'href="/settings/connections"' in html
    assert 'aria-current="page" data-testid="settings-tab-segments"' in html


def test_a_connected_organization_sees_the_owners_segment_names_on_its_customers(
    web_world: World,
) -> None:
    type_id = share_and_run(web_world)
    owner = owner_segments(web_world, type_id)
    assert owner["BE0400000002"] == "A"
    client_login(web_world, "gamma_rep")
    html = page(web_world, "/customers")
    cells = shared_cells(html)
    assert cells == {
        "G1": f"{owner['BE0400000001']} (Acme)",
        "G2": "A (Acme)",
        "G3": f"{owner['BE0400000003']} (Acme)",
        "G4": "—",
    }
    # expanded rows: a table per customer, a line per shared type (G4 has no VAT number)
    assert html.count('data-testid="shared-segments"') == 4
    segments = re.findall(r'data-testid="shared-segment"[^>]*>([^<]*)</td>', html)
    assert segments == [owner[f"BE040000000{i}"] for i in (1, 2, 3)]
    assert parse(html).tables["shared-segments"][1][0].startswith("No shared segment for G4")
    for secret in ("partner secret", "ACME Sales", "ACME Behaviour", "Eligible sales</th>"):
        assert secret not in html
    assert_csp_clean(html)

    html = page(web_world, "/customers/G2")
    assert 'data-testid="shared-card"' in html
    assert '<strong data-testid="shared-segment">A</strong>' in html
    assert "Shared by Acme" in html and "partner secret" not in html
    assert_csp_clean(html)


def test_no_shared_column_without_shared_types(web_world: World) -> None:
    share_and_run(web_world)
    # BETA is connected to nobody; ACME shares but receives nothing
    for who in ("beta_manager", "acme_manager"):
        client_login(web_world, who)
        html = page(web_world, "/customers")
        assert "Shared with you" not in html and 'data-testid="shared-segments"' not in html
    html = page(web_world, "/customers/C01")
    assert 'data-testid="shared-card"' not in html
    # the connection ends: GAMMA's list loses the column
    web_world.post("acme_admin", f"/api/v1/connections/{web_world.ids['connection']}/end")
    client_login(web_world, "gamma_rep")
    html = page(web_world, "/customers")
    assert "Shared with you" not in html and "ACME Partners" not in html
