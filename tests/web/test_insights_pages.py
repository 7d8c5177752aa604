"""The insights pages through the TestClient: the numbers on the page are the services' numbers,
filters and the rep restriction apply as in the API, other organizations get 404, and bad input
gives a 4xx page, never a 500."""

from __future__ import annotations

import json
import re
from datetime import date
from decimal import Decimal
from typing import Any

import markupsafe

from segmint.insights import pareto_overview, rfm_insights
from segmint.web.pages.insights import chart_blocks
from tests.api.conftest import World
from tests.web.support import client_login

AS_OF = date(2025, 12, 31)


def json_block(html: str, block_id: str) -> Any:
    found = re.search(
        rf'<script type="application/json" id="{block_id}">(.*?)</script>', html, re.S
    )
    assert found, f"no JSON block {block_id}"
    return json.loads(found.group(1))


def card(html: str, name: str) -> str:
    found = re.search(rf'data-card="{name}">(.*?)</span>', html, re.S)
    assert found, f"no card {name}"
    return found.group(1)


def esc(text: str) -> str:
    """As Jinja's autoescape writes text into HTML."""
    return str(markupsafe.escape(text))


def service(world: World, who: str, **kwargs: Any) -> Any:
    with world.db.read_session() as session:
        return rfm_insights(
            session=session,
            store=world.app.state.store,
            actor=world.actors[who],
            type_id=world.ids["rfm"],
            as_of=AS_OF,
            months=12,
            **kwargs,
        )


def test_insights_page_shows_the_service_numbers(web_world: World) -> None:
    world = web_world
    client_login(world, "acme_manager")
    response = world.client.get(f"/insights/{world.ids['rfm']}?as_of=2025-12-31&segment=Lost")
    assert response.status_code == 200
    html = response.text
    expected = service(world, "acme_manager")
    assert expected.cards.active_customers == 60
    assert card(html, "active_customers") == "60"
    assert card(html, "total_sales") == f"{float(expected.cards.total_sales):,.2f}"
    # The chart: one block per segment, each with its count; the JSON is the API's.
    data = json_block(html, "insights-data")
    api = world.get(
        "acme_manager",
        f"/api/v1/segment-types/{world.ids['rfm']}/insights",
        params={"as_of": "2025-12-31", "months": 12},
    ).json()
    assert data == api
    for row in expected.segments:
        block = re.search(
            rf'<a class="seg [^"]*"[^>]*data-segment="{re.escape(esc(row.name))}"', html
        )
        assert block, row.name
        assert f'aria-label="{esc(row.name)}: {row.customers} customers"' in html
    # The summary table and the details of the segment asked for.
    lost = next(s for s in expected.segments if s.name == "Lost")
    assert lost.customers > 0
    assert re.search(r'<h3 id="details-title">Lost</h3>', html)
    assert f'<dd data-detail="customers">{lost.customers}</dd>' in html
    assert f"/customers?type={world.ids['rfm']}&amp;segment=Lost" in html
    assert html.count('<tr data-segment="') == len(expected.segments)
    # The setup table: the stored cut points in the inputs, the buckets described.
    stored = world.get("acme_manager", f"/api/v1/segment-types/{world.ids['rfm']}").json()
    first_r = str(Decimal(stored["r_cuts"][0]).normalize())
    assert f'name="r0" value="{int(Decimal(first_r))}"' in html
    for metric in expected.cut_points:
        for bucket in metric.buckets:
            assert esc(bucket.description) in html


def test_filters_in_the_query_are_applied(web_world: World) -> None:
    world = web_world
    client_login(world, "acme_manager")
    url = f"/insights/{world.ids['rfm']}?as_of=2025-12-31&territory=North&brand=Acme&brand=Bolt"
    html = world.client.get(url).text
    expected = service(
        world, "acme_manager", filters={"territory": ["North"], "brand": ["Acme", "Bolt"]}
    )
    whole = service(world, "acme_manager")
    assert expected.cards.total_sales < whole.cards.total_sales
    assert card(html, "total_sales") == f"{float(expected.cards.total_sales):,.2f}"
    state = json_block(html, "insights-state")
    assert state["filters"] == {"territory": ["North"], "brand": ["Acme", "Bolt"]}
    assert html.count('class="chip"') == 3
    # Removing a chip keeps the other filters.
    rfm = world.ids["rfm"]
    assert (
        f'href="/insights/{rfm}?as_of=2025-12-31&amp;months=12&amp;brand=Acme&amp;brand=Bolt"'
        in html
    )
    # The filter picker offers the organization's values.
    picker = json_block(html, "insights-picker")["values"]
    assert [v["value"] for v in picker["territory"]] == ["North", "South"]
    assert [v["value"] for v in picker["sales_rep"]] == ["R1", "R2"]
    assert [v["value"] for v in picker["product_id"]] == ["P0", "P1", "P2"]


def test_rep_sees_own_lines_only(web_world: World) -> None:
    world = web_world
    client_login(world, "acme_rep1")
    html = world.client.get(f"/insights/{world.ids['rfm']}?as_of=2025-12-31").text
    own = service(world, "acme_rep1")
    everyone = service(world, "acme_manager")
    assert own.restricted_to_rep
    assert own.cards.active_customers < everyone.cards.active_customers
    assert card(html, "active_customers") == str(own.cards.active_customers)
    assert "Only the sales lines credited to you are counted." in html
    picker = json_block(html, "insights-picker")["values"]
    assert [v["value"] for v in picker["sales_rep"]] == ["R1"]
    # No cut point inputs for a rep (it cannot save them).
    assert 'data-cut="r"' not in html
    # The Pareto overview is computed over every customer: refused for a restricted rep.
    response = world.client.get(f"/pareto/{world.ids['pareto']}")
    assert response.status_code == 403
    assert "ask a manager" in response.text


def test_pareto_page_shows_tiers_and_curve(web_world: World) -> None:
    world = web_world
    client_login(world, "acme_manager")
    response = world.client.get(f"/pareto/{world.ids['pareto']}")
    assert response.status_code == 200
    with world.db.read_session() as session:
        expected = pareto_overview(
            session=session, actor=world.actors["acme_manager"], type_id=world.ids["pareto"]
        )
    data = json_block(response.text, "pareto-data")
    assert [t["name"] for t in data["tiers"]] == ["A", "B", "C"]
    assert [t["customers"] for t in data["tiers"]] == [t.customers for t in expected.tiers]
    assert data["curve"][0] == {"x": 0.0, "y": 0.0} and data["curve"][-1] == {"x": 1.0, "y": 1.0}
    for tier in expected.tiers:
        assert f'<tr data-tier="{tier.name}">' in response.text
        assert f"{float(tier.sales):,.2f}" in response.text
    assert card(response.text, "pool_customers") == str(expected.pool_customers)
    assert "/vendor/plotly.min.js" in response.text
    assert 'id="migration"' not in response.text  # one run only


def test_migration_appears_with_two_runs(web_world: World) -> None:
    world = web_world
    second = world.run("acme_manager", world.ids["pareto"])
    client_login(world, "acme_manager")
    html = world.client.get(f"/pareto/{world.ids['pareto']}").text
    matrix = json_block(html, "migration-data")
    api = world.get(
        "acme_manager",
        f"/api/v1/segment-types/{world.ids['pareto']}/migration",
        params={"from_run": world.ids["pareto_run"], "to_run": second},
    ).json()
    assert matrix == api
    assert matrix["total"] == 60
    # A run that is not the type's: the section says so, the page still renders.
    html = world.client.get(
        f"/pareto/{world.ids['pareto']}?from_run={world.ids['rfm_run']}&to_run={second}"
    ).text
    assert "no run" in html


def test_index_lists_types_with_their_pages(web_world: World) -> None:
    world = web_world
    client_login(world, "acme_manager")
    html = world.client.get("/insights").text
    assert f'href="/insights/{world.ids["rfm"]}"' in html
    assert f'href="/pareto/{world.ids["pareto"]}"' in html
    assert "Beta ABC" not in html
    # A period after the data: the page says where the data ends and links there.
    html = world.client.get(f"/insights/{world.ids['rfm']}?as_of=2027-06-01").text
    assert card(html, "active_customers") == "0"
    found = re.search(r'<p class="notice" id="stale-notice">.*?as_of=(\d{4}-\d\d-\d\d)', html, re.S)
    assert found and found.group(1).startswith("2025-12")


def test_wrong_method_redirects_to_the_right_page(web_world: World) -> None:
    world = web_world
    client_login(world, "acme_manager")
    to_pareto = world.client.get(f"/insights/{world.ids['pareto']}", follow_redirects=False)
    assert to_pareto.status_code == 303
    assert to_pareto.headers["location"] == f"/pareto/{world.ids['pareto']}"
    to_rfm = world.client.get(f"/pareto/{world.ids['rfm']}", follow_redirects=False)
    assert to_rfm.headers["location"] == f"/insights/{world.ids['rfm']}"


def test_other_organization_gets_404(web_world: World) -> None:
    world = web_world
    client_login(world, "beta_manager")
    for page, type_id in (("insights", world.ids["rfm"]), ("pareto", world.ids["pareto"])):
        response = world.client.get(f"/{page}/{type_id}")
        assert response.status_code == 404
        assert "text/html" in response.headers["content-type"]
        assert "ACME" not in response.text


BAD_URLS = [
    "/insights/abc",
    "/insights/0",
    "/insights/{rfm}?months=x",
    "/insights/{rfm}?months=999",
    "/insights/{rfm}?as_of=2025-13-45",
    "/insights/{rfm}?territory=" + "x" * 300,
    "/pareto/{pareto}?run_id=-1",
    "/pareto/{pareto}?run_id=99999",
    "/insights/99999",
]


def test_bad_parameters_give_4xx_pages(web_world: World) -> None:
    world = web_world
    client_login(world, "acme_manager")
    for query in BAD_URLS:
        url = query.format(rfm=world.ids["rfm"], pareto=world.ids["pareto"])
        response = world.client.get(url)
        assert 400 <= response.status_code < 500, (url, response.status_code)
        assert "text/html" in response.headers["content-type"]


def test_not_logged_in_goes_to_login(web_world: World) -> None:
    web_world.client.cookies.clear()
    response = web_world.client.get(f"/insights/{web_world.ids['rfm']}", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=/insights/")


def test_pages_render_without_data_or_runs(empty_world: World) -> None:
    world = empty_world
    client_login(world, "acme_manager")
    assert "No segment types yet" in world.client.get("/insights").text
    rfm = world.client.post(
        "/api/v1/segment-types",
        json={"name": "Behaviour", "method": "rfm"},
        headers={"X-CSRF-Token": _csrf(world)},
    )
    assert rfm.status_code == 201, rfm.text
    pareto = world.client.post(
        "/api/v1/segment-types",
        json={"name": "Sales", "method": "pareto"},
        headers={"X-CSRF-Token": _csrf(world)},
    )
    page = world.client.get(f"/insights/{rfm.json()['id']}")
    assert page.status_code == 200
    assert card(page.text, "active_customers") == "0"
    assert "No cut points yet" in page.text
    page = world.client.get(f"/pareto/{pareto.json()['id']}")
    assert page.status_code == 200
    assert "Not run yet" in page.text
    assert "/vendor/plotly.min.js" not in page.text


def _csrf(world: World) -> str:
    html = world.client.get("/insights").text
    found = re.search(r'<meta name="csrf-token" content="([^"]+)">', html)
    assert found
    return found.group(1)


def test_chart_blocks_cover_every_cell_once(web_world: World) -> None:
    """The chart's geometry: 25 cells, each in exactly one block; every segment of the default
    map has a label inside one of its own cells."""
    blocks = chart_blocks(service(web_world, "acme_manager"))
    cells = [c["cell"] for b in blocks for c in b.cells]
    assert sorted(cells) == sorted(f"{r}{fm}" for r in range(1, 6) for fm in range(1, 6))
    for block in blocks:
        inside = any(
            c["x"] <= block.label_x <= c["x"] + 100 and c["y"] <= block.label_y <= c["y"] + 100
            for c in block.cells
        )
        assert inside, block.name
