"""The Customers list in Debian's chromium: change a segment from the dropdown (with a reason),
see it and its tooltip, clear it with the blank option by keyboard, expand a row, filter, and
export the filtered view to CSV and Excel, which must hold exactly the rows the page shows."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from tests.api.conftest import World
from tests.web.support import VIEWPORT, ConsoleWatch, LiveServer, browser_login

pytestmark = pytest.mark.browser

TABLET = {"width": 768, "height": 1024}


def shown_rows(page: Any) -> list[tuple[str, str]]:
    """(customer ID, effective segment) of every row the list shows."""
    found = page.eval_on_selector_all(
        "tr.customer-row",
        """rows => rows.map(r => [r.dataset.customer,
            r.querySelector('.col-segment [data-f="effective"]').textContent])""",
    )
    return [tuple(row) for row in found]


def fits_horizontally(page: Any) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


def test_change_clear_filter_and_export_in_a_browser(
    browser: Any, web_world: World, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    with LiveServer(web_world.app) as base:
        context = browser.new_context(viewport=VIEWPORT, accept_downloads=True)
        page = context.new_page()
        watch = ConsoleWatch(page)
        browser_login(page, base, "acme_manager")
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Customers").click()
        page.wait_for_url(base + "/customers")
        assert fits_horizontally(page)

        # Change C05's segment (automatic C) to A with a reason.
        holder = page.locator('tr.customer-row[data-customer="C05"] .col-segment .seg')
        button = holder.locator("button.seg-button")
        tooltip = holder.get_by_role("tooltip")
        expect(button).to_have_accessible_name("C")
        button.hover()
        expect(tooltip).to_be_visible()
        expect(tooltip).to_contain_text("ACME Sales")
        expect(tooltip).to_contain_text("Manual: —")
        button.click()
        dialog = page.get_by_role("dialog", name="Segment of C05 in ACME Sales")
        expect(dialog).to_be_visible()
        expect(page.get_by_label("Segment", exact=True)).to_be_focused()
        page.get_by_label("Segment", exact=True).select_option("A")
        page.get_by_label("Reason (optional)").fill("key account since May")
        dialog.get_by_role("button", name="Save").click()
        expect(dialog).to_be_hidden()
        expect(button).to_be_focused()  # focus goes back where it was
        expect(holder.locator('[data-f="effective"]')).to_have_text("A")
        expect(holder.locator('[data-f="mark"]')).to_be_visible()
        expect(button).to_have_accessible_name("A (manual)")
        button.hover()
        expect(tooltip).to_be_visible()
        expect(tooltip).to_contain_text("Automatic: C")
        expect(tooltip).to_contain_text("Manual: A (key account since May)")
        overrides = web_world.get(
            "acme_manager", f"/api/v1/segment-types/{web_world.ids['pareto']}/overrides"
        ).json()["items"]
        assert {
            "customer_key": "C05",
            "segment": "A",
            "reason": "key account since May",
        }.items() <= (next(o for o in overrides if o["customer_key"] == "C05").items())

        # Reopen it with the keyboard and choose the blank option: back to the automatic C.
        button.focus()
        page.keyboard.press("Enter")
        expect(dialog).to_be_visible()
        choice = page.get_by_label("Segment", exact=True)
        expect(choice).to_have_value("A")
        choice.select_option("")
        page.keyboard.press("Tab")
        page.keyboard.press("Enter")  # in the reason field: submits the form
        expect(dialog).to_be_hidden()
        expect(holder.locator('[data-f="effective"]')).to_have_text("C")
        expect(holder.locator('[data-f="mark"]')).to_be_hidden()
        button.hover()
        expect(tooltip).to_contain_text("Manual: —")
        overrides = web_world.get(
            "acme_manager", f"/api/v1/segment-types/{web_world.ids['pareto']}/overrides"
        ).json()["items"]
        assert "C05" not in {o["customer_key"] for o in overrides}

        # Expand a row: every segment type.
        page.locator('tr.customer-row[data-customer="C05"] button.expand').click()
        details = page.locator("#details-6")
        expect(details).to_be_visible()
        expect(details).to_contain_text("ACME Behaviour")
        expect(details).to_contain_text("Loyal")

        # Filter by segment A and by branch B2, through the form.
        page.get_by_text("Segment: Any").click()
        page.get_by_role("checkbox", name="A", exact=True).check()
        page.get_by_text("Branch: Any").click()
        page.get_by_role("checkbox", name="B2", exact=True).check()
        page.keyboard.press("Escape")  # closes the menu, which covers the button
        expect(page.get_by_role("checkbox", name="B2", exact=True)).to_be_hidden()
        page.get_by_role("button", name="Apply").click()
        page.wait_for_url("**/customers?*")
        shown = shown_rows(page)
        assert shown and {segment for _, segment in shown} == {"A"}
        assert 0 < len(shown) < 30
        assert "Showing 1–{0} of {0}".format(len(shown)) in page.inner_text("#result-count")

        # Export exactly that view.
        with page.expect_download() as download:
            page.get_by_role("link", name="Export CSV").click()
        csv_path = tmp_path / "customers.csv"
        download.value.save_as(csv_path)
        with csv_path.open(newline="", encoding="utf-8-sig") as f:
            exported = list(csv.DictReader(f))
        assert [(r["customer_id"], r["ACME Sales: effective"]) for r in exported] == shown
        assert {r["branch"] for r in exported} == {"B2"}

        with page.expect_download() as download:
            page.get_by_role("link", name="Export Excel").click()
        xlsx_path = tmp_path / "customers.xlsx"
        download.value.save_as(xlsx_path)
        book = openpyxl.load_workbook(xlsx_path, read_only=True)
        header, *cells = [list(r) for r in book.active.iter_rows(values_only=True)]
        book.close()  # read-only workbooks keep the file open until closed
        at = header.index("ACME Sales: effective")
        assert [(r[0], r[at]) for r in cells] == shown

        # A tablet: the list still fits the width.
        page.set_viewport_size(TABLET)
        page.reload()
        assert fits_horizontally(page)
        context.close()
        assert watch.problems == []
