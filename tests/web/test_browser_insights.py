"""The insights pages in Debian's chromium: the RFM segment chart, its details, the filters,
the setup dialog's what-if preview and save, the migration Sankey and the Pareto curve, all
under the app's strict CSP (ConsoleWatch fails on any CSP violation or script error)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import pytest

from tests.api.conftest import World
from tests.web.support import VIEWPORT, ConsoleWatch, LiveServer, browser_login

pytestmark = pytest.mark.browser

AS_OF = "2025-12-31"


def thousands(value: Any, decimals: int = 0) -> str:
    return f"{float(value):,.{decimals}f}"


def pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} %"


def test_rfm_insights_and_pareto_in_a_browser(browser: Any, web_world: World) -> None:
    from playwright.sync_api import expect

    world = web_world
    rfm, pareto = world.ids["rfm"], world.ids["pareto"]
    world.run("acme_manager", rfm)  # a second run: the migration section appears
    api = f"/api/v1/segment-types/{rfm}/insights"

    def insights(**query: Any) -> dict[str, Any]:
        params = urlencode({"as_of": AS_OF, "months": 12, **query}, doseq=True)
        response = world.get("acme_manager", f"{api}?{params}")
        assert response.status_code == 200, response.text
        return response.json()

    with LiveServer(world.app) as base:
        page = browser.new_page(viewport=VIEWPORT)
        watch = ConsoleWatch(page)
        try:
            browser_login(page, base, "acme_manager")
            page.goto(base + "/insights")
            page.get_by_role("link", name="Insights of ACME Behaviour").click()
            page.wait_for_url(f"{base}/insights/{rfm}")
            page.goto(f"{base}/insights/{rfm}?as_of={AS_OF}")

            # The chart: one focusable block per segment of the map, with its count.
            whole = insights()
            blocks = page.locator("#rfm-chart .seg")
            expect(blocks).to_have_count(len(whole["segments"]))
            expect(page.locator('[data-card="active_customers"]')).to_have_text(
                thousands(whole["cards"]["active_customers"])
            )

            # Click a segment: its details, as the API computes them, and the customer link.
            need = next(s for s in whole["segments"] if s["name"] == "Need Attention")
            # (its first cell: the block is L-shaped, its box's centre is another segment's cell)
            page.locator('.seg[data-segment="Need Attention"] rect').first.click()
            details = page.locator("#segment-details")
            expect(details.locator("h3")).to_have_text("Need Attention")
            expect(details.locator('[data-detail="customers"]')).to_have_text(
                thousands(need["customers"])
            )
            expect(details.locator('[data-detail="sales"]')).to_have_text(
                thousands(need["sales"], 2)
            )
            expect(details.locator('[data-detail="share_sales_pct"]')).to_have_text(
                pct(need["share_sales_pct"])
            )
            expect(details.locator('[data-detail="link"]')).to_have_attribute(
                "href", f"/customers?type={rfm}&segment=Need%20Attention"
            )
            # The keyboard does the same: Tab to a block, Enter shows its details.
            page.locator('.seg[data-segment="Loyal"]').focus()
            expect(page.locator("#chart-tip")).to_be_visible()
            page.keyboard.press("Enter")
            expect(details.locator("h3")).to_have_text("Loyal")

            # Two filters: territory North and brand Acme; cards and table follow the API.
            for dimension, value in (("territory", "North"), ("brand", "Acme")):
                page.get_by_role("button", name="Filter").click()
                page.get_by_label("Dimension").select_option(dimension)
                page.get_by_label("Value", exact=True).select_option(value)
                page.get_by_role("button", name="Add filter").click()
            filtered = insights(territory="North", brand="Acme")
            assert filtered["cards"]["total_sales"] != whole["cards"]["total_sales"]
            expect(page.locator('[data-card="total_sales"]')).to_have_text(
                thousands(filtered["cards"]["total_sales"], 2)
            )
            expect(page.locator('[data-card="active_customers"]')).to_have_text(
                thousands(filtered["cards"]["active_customers"])
            )
            expect(page.locator("#filter-chips .chip")).to_have_count(2)
            for row in filtered["segments"]:
                cells = page.locator(f'#summary-table tr[data-segment="{row["name"]}"] td')
                expect(cells.nth(0)).to_have_text(thousands(row["customers"]))
            assert "territory=North" in page.url and "brand=Acme" in page.url

            # The setup dialog: change a cut point, see the preview, then save.
            page.get_by_role("button", name="Segmentation setup").click()
            dialog = page.locator("#setup-dialog")
            expect(dialog).to_be_visible()
            expect(dialog.locator('[data-buckets="r"] tr')).to_have_count(5)
            r_cuts = next(c for c in filtered["cut_points"] if c["metric"] == "r")["cuts"]
            proposed = ["60", *[str(int(float(c))) for c in r_cuts[1:]]]
            dialog.get_by_label("Cut 1").first.fill("60")
            preview = world.post(
                "acme_manager",
                f"{api}/what-if",
                json={
                    "r": proposed,
                    "as_of": AS_OF,
                    "months": 12,
                    "filters": {"territory": ["North"], "brand": ["Acme"]},
                },
            ).json()
            word = "customer" if preview["moved"] == 1 else "customers"
            expect(dialog.locator("[data-what-if-status]")).to_have_text(
                f"{thousands(preview['moved'])} {word} would change segment."
            )
            save = dialog.get_by_role("button", name="Save cut points")
            expect(save).to_be_enabled()
            save.click()
            expect(dialog).to_be_hidden()
            stored = world.get("acme_manager", f"/api/v1/segment-types/{rfm}").json()
            assert [float(c) for c in stored["r_cuts"]] == [float(c) for c in proposed]

            # The migration between the two runs: matrix and Sankey.
            expect(
                page.locator("#migration table[data-migration-table] tbody tr")
            ).not_to_have_count(0)
            expect(page.locator("#sankey .sankey")).to_have_count(1)

            # The Pareto overview: the curve with its boundaries.
            page.goto(f"{base}/pareto/{pareto}")
            expect(page.locator("#pareto-curve .scatterlayer .trace")).to_have_count(3)
            expect(page.locator("#tiers-table tbody tr")).to_have_count(3)
            assert watch.problems == []
        finally:
            page.close()
