"""Settings > Customer segments in a real browser: a manager creates a type, gets the segment
validation wrong and right, edits the type's fields, runs it and watches it finish, clears
manual segments and deletes the type."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from segmint.assignments import service as assignments
from segmint.segments import service as segments
from tests.api.conftest import World
from tests.web.support import VIEWPORT, ConsoleWatch, LiveServer, browser_login

pytestmark = pytest.mark.browser

TABLET = {"width": 768, "height": 1024}

# Records every text the run's status line shows (page.evaluate runs outside the page's CSP).
RECORD_STAGES = """() => {
  window.__stages = [];
  const stage = document.querySelector("[data-testid='run-stage']");
  new MutationObserver(() => window.__stages.push(stage.textContent))
    .observe(stage, {childList: true, characterData: true, subtree: true});
}"""


def fits_width(page: object) -> bool:
    """Nothing sticks out sideways (no horizontal scrolling of the whole page)."""
    return page.evaluate(  # type: ignore[attr-defined]
        "() => document.documentElement.scrollWidth <= window.innerWidth"
    )


def stored_segments(world: World, type_id: int) -> list[tuple[str, Decimal, bool]]:
    with world.db.read_session() as session:
        found = segments.get_type(
            session=session, actor=world.actors["acme_manager"], type_id=type_id
        )
        return [(s.name, s.threshold, s.excluded) for s in found.segments]


def test_manager_creates_edits_runs_and_clears(browser: object, web_world: World) -> None:
    from playwright.sync_api import expect

    with LiveServer(web_world.app) as base:
        context = browser.new_context(viewport=VIEWPORT)  # type: ignore[attr-defined]
        page = context.new_page()
        page.set_default_timeout(10_000)
        watch = ConsoleWatch(page)
        try:
            browser_login(page, base, "acme_manager")

            # Settings > Customer segments, then "+".
            page.get_by_role("navigation", name="Main").get_by_role("link", name="Settings").click()
            page.wait_for_url(base + "/settings/segments")
            expect(page.get_by_role("heading", name="Customer segments")).to_be_visible()
            expect(page.get_by_test_id("types")).to_contain_text("ACME Sales")
            assert fits_width(page)
            page.get_by_role("link", name="New segment type").click()
            page.wait_for_url(base + "/settings/segments/new")
            page.get_by_label("Name", exact=True).fill("Visit Priority")
            page.get_by_label("ABC (Pareto)").check()
            page.get_by_label("Type", exact=True).select_option("id")
            page.get_by_label("Minimum net sales").fill("100")
            page.get_by_label("Timespan (months)").fill("12")
            # The test data is from 2025: a fixed year covers it whatever today is.
            page.get_by_label("Interval").select_option("fixed_year")
            page.get_by_role("button", name="Save", exact=True).click()

            # The new type's page: A/B/C 80/15/5, 100 % in total.
            page.wait_for_url(re.compile(re.escape(base) + r"/settings/segments/\d+$"))
            type_id = int(page.url.rsplit("/", 1)[1])
            expect(page.get_by_role("heading", name="Visit Priority", exact=True)).to_be_visible()
            expect(page.locator("#toast")).to_contain_text("created")
            tiers = page.get_by_test_id("segments").locator("tbody tr")
            expect(tiers).to_have_count(3)
            for i, (name, share) in enumerate((("A", "80 %"), ("B", "15 %"), ("C", "5 %"))):
                expect(tiers.nth(i).locator("th")).to_contain_text(name)
                expect(tiers.nth(i).locator("td").first).to_have_text(share)
            expect(page.get_by_test_id("total")).to_have_text("100 %")
            assert fits_width(page)

            # Edit mode: a wrong total is refused next to the total, and nothing is saved.
            page.get_by_test_id("edit").click()
            page.wait_for_url(f"{base}/settings/segments/{type_id}/edit")
            rows = page.locator("#segment-rows > tr")
            total = page.locator("#threshold-total")
            expect(total).to_have_text("100 %")
            rows.nth(1).get_by_label("% Sales").fill("10")
            expect(total).to_have_text("95 % (must be 100 %)")
            page.get_by_role("button", name="Save segments").click()
            problem = page.locator("[data-error-for='segments.threshold']")
            expect(problem).to_be_visible()
            expect(problem).to_contain_text("add up to 95 %")
            expect(page.locator("#segments-form [data-form-error]")).to_contain_text("Not saved")
            # Chromium logs the refused request; that one is expected, anything else is not.
            assert [p for p in watch.problems if "status of 422" not in p] == []
            assert len(watch.problems) == 1
            watch.problems.clear()
            assert stored_segments(web_world, type_id) == [
                ("A", Decimal(80), False),
                ("B", Decimal(15), False),
                ("C", Decimal(5), False),
            ]

            # Fix it, add an excluded VIP segment and move it above C with the keyboard.
            rows.nth(2).get_by_label("% Sales").fill("10")
            expect(total).to_have_text("100 %")
            page.get_by_role("button", name="Add segment").click()
            expect(rows).to_have_count(4)
            rows.nth(3).get_by_label("Name").fill("VIP")
            rows.nth(3).get_by_label("Excluded").check()
            expect(rows.nth(3).get_by_label("% Sales")).to_have_value("0")
            page.get_by_role("button", name="Move VIP up").focus()
            page.keyboard.press("Enter")
            expect(rows.nth(2).get_by_label("Name")).to_have_value("VIP")
            expect(total).to_have_text("100 %")
            page.get_by_role("button", name="Save segments").click()
            expect(page.locator("#segments-form .saved-note")).to_have_text("Segments saved.")
            expect(problem).to_be_hidden()
            assert stored_segments(web_world, type_id) == [
                ("A", Decimal(80), False),
                ("B", Decimal(10), False),
                ("VIP", Decimal(0), True),
                ("C", Decimal(10), False),
            ]
            page.set_viewport_size(TABLET)
            assert fits_width(page)
            page.set_viewport_size(VIEWPORT)

            # The type's own fields: a fixed year of 18 months is refused next to the timespan.
            timespan = page.get_by_label("Timespan (months)")
            timespan.fill("18")
            page.get_by_role("button", name="Save settings").click()
            expect(page.locator("[data-error-for='timespan_months']")).to_contain_text(
                "multiple of 12"
            )
            expect(timespan).to_have_attribute("aria-invalid", "true")
            assert len(watch.problems) == 1 and "status of 422" in watch.problems[0]
            watch.problems.clear()
            timespan.fill("24")
            page.get_by_label("Notify me when auto-assignment completes").uncheck()
            page.get_by_role("button", name="Save settings").click()
            expect(page.locator("#type-form .saved-note")).to_have_text("Settings saved.")
            with web_world.db.read_session() as session:
                saved = segments.get_type(
                    session=session, actor=web_world.actors["acme_manager"], type_id=type_id
                )
                assert (saved.timespan_months, saved.interval, saved.notify) == (
                    24,
                    "fixed_year",
                    False,
                )
                assert saved.min_sales == 100

            # View mode: Auto Assign, confirm, live progress until done, then the history.
            page.get_by_test_id("done").click()
            page.wait_for_url(f"{base}/settings/segments/{type_id}")
            page.evaluate(RECORD_STAGES)
            page.get_by_role("button", name="Auto Assign Segments").click()
            page.get_by_role("dialog").get_by_role("button", name="Auto Assign").click()
            expect(page.get_by_test_id("run-progress")).to_be_visible()
            stage = page.get_by_test_id("run-stage")
            expect(stage).to_contain_text("Done", timeout=30_000)
            assert page.locator("#run-progress-bar").evaluate("e => e.value") == 1
            seen = page.evaluate("() => window.__stages")
            assert any(text.startswith(("Queued", "Running")) for text in seen), seen
            history = page.get_by_test_id("history").locator("tbody tr")
            expect(history).to_have_count(1)
            expect(history.first.locator("td").first).to_have_text("succeeded")
            expect(history.first).to_contain_text("current")
            counts = history.first.locator("ul.counts")
            expect(counts).to_contain_text(re.compile(r"A \d+"))
            expect(page.get_by_test_id("current-result")).to_be_visible()
            match = re.search(r"assigned (\d+) customers", stage.inner_text())
            assert match and int(match.group(1)) > 0

            # Clear Manual Segments on ACME Sales (C01 is overridden there).
            pareto = web_world.ids["pareto"]
            page.goto(f"{base}/settings/segments/{pareto}")
            count = page.get_by_test_id("override-count")
            expect(count).to_have_text("1")
            page.get_by_role("button", name="Clear Manual Segments").click()
            dialog = page.get_by_role("dialog")
            expect(dialog).to_contain_text("Remove all 1 manual segments")
            dialog.get_by_role("button", name="Clear Manual Segments").click()
            expect(count).to_have_text("0")
            with web_world.db.read_session() as session:
                assert (
                    assignments.override_count(
                        session=session, actor=web_world.actors["acme_manager"], type_id=pareto
                    )
                    == 0
                )
            page.reload()
            expect(page.get_by_test_id("override-count")).to_have_text("0")

            # Delete the new type (confirm): back on the list, without it.
            page.goto(f"{base}/settings/segments/{type_id}")
            page.get_by_role("button", name="Delete type").click()
            page.get_by_role("dialog").get_by_role("button", name="Delete type").click()
            page.wait_for_url(base + "/settings/segments")
            expect(page.locator("#toast")).to_contain_text("deleted")
            expect(page.get_by_test_id("types")).not_to_contain_text("Visit Priority")

            assert watch.problems == []
        finally:
            context.close()
