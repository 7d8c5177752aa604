"""Connecting two organizations and sharing a VAT-based segment type, in Debian's chromium:
BETA's admin invites ACME (after two refused tries), ACME's admin accepts from the notification,
ACME's manager creates a shared VAT-based type and runs it, and BETA's manager sees ACME's segment
on its customer with the same VAT number, read-only. No console or CSP errors on the way."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.api.conftest import World
from tests.web.support import VIEWPORT, ConsoleWatch, LiveServer, browser_login

pytestmark = pytest.mark.browser


def refused(watch: ConsoleWatch, count: int) -> None:
    """The browser logs each refused request (422) as a console error: exactly those, then
    start counting afresh."""
    assert len(watch.problems) == count, watch.problems
    assert all("status of 422" in p for p in watch.problems), watch.problems
    watch.problems.clear()


def test_connect_share_and_see_the_segment(browser: Any, web_world: World) -> None:
    from playwright.sync_api import expect

    with LiveServer(web_world.app) as base:
        pages: list[tuple[Any, ConsoleWatch]] = []

        def open_as(who: str) -> Any:
            context = browser.new_context(viewport=VIEWPORT)
            page = context.new_page()
            page.set_default_timeout(10_000)
            pages.append((page, ConsoleWatch(page)))
            browser_login(page, base, who)
            return page

        # BETA's admin: Settings > Connections, invite itself and a slug nobody has, then ACME.
        beta = open_as("beta_admin")
        beta.get_by_role("navigation", name="Main").get_by_role("link", name="Settings").click()
        beta.wait_for_url(base + "/settings/segments")
        beta.get_by_role("navigation", name="Settings").get_by_role(
            "link", name="Connections"
        ).click()
        beta.wait_for_url(base + "/settings/connections")
        expect(beta.get_by_role("heading", name="Connections", exact=True)).to_be_visible()
        slug = beta.get_by_label("Organization's slug")
        error = beta.locator("#invite-error")
        slug.fill("beta")
        beta.get_by_role("button", name="Invite").click()
        expect(error).to_contain_text("your own organization")
        expect(slug).to_have_attribute("aria-invalid", "true")
        slug.fill("nobody")
        slug.press("Enter")
        expect(error).to_contain_text("no organization 'nobody'")
        refused(pages[-1][1], 2)
        slug.fill("acme")
        beta.get_by_role("button", name="Invite").click()
        expect(beta.get_by_test_id("outgoing")).to_contain_text("Acme")

        # ACME's admin: the bell, the notification, Accept (confirmed).
        acme = open_as("acme_admin")
        expect(acme.get_by_test_id("unread")).to_be_visible()
        acme.get_by_test_id("bell").click()
        acme.wait_for_url(base + "/notifications")
        expect(acme.locator(".notification").first).to_contain_text("Beta invites you")
        acme.locator(".notification").first.get_by_role("link", name="Connections").click()
        acme.wait_for_url(base + "/settings/connections")
        incoming = acme.get_by_test_id("incoming")
        incoming.get_by_role("button", name="Accept").click()
        acme.get_by_role("dialog").get_by_role("button", name="Accept").click()
        active = acme.get_by_test_id("active")
        expect(active).to_contain_text("Beta")
        expect(active).to_contain_text("Gamma")  # connected before
        expect(acme.get_by_test_id("no-incoming")).to_be_visible()

        # ACME's manager: a new VAT-based type, shared; an ID-based one cannot be.
        manager = open_as("acme_manager")
        manager.goto(base + "/settings/segments/new")
        manager.get_by_label("Name", exact=True).fill("ACME Partners")
        manager.get_by_label("ABC (Pareto)").check()
        manager.get_by_label("Type", exact=True).select_option("id")
        manager.get_by_label("Shared with connected organizations (VAT-based only)").check()
        manager.get_by_role("button", name="Save", exact=True).click()
        expect(manager.locator("[data-error-for='shared']")).to_contain_text(
            "only VAT-based types can be shared"
        )
        refused(pages[-1][1], 1)
        manager.get_by_label("Type", exact=True).select_option("vat")
        manager.get_by_label("Timespan (months)").fill("24")  # the world's sales are 2025's
        manager.get_by_role("button", name="Save", exact=True).click()
        manager.wait_for_url(re.compile(re.escape(base) + r"/settings/segments/\d+$"))
        type_id = int(manager.url.rsplit("/", 1)[1])
        manager.get_by_role("button", name="Auto Assign Segments").click()
        manager.get_by_role("dialog").get_by_role("button", name="Auto Assign").click()
        expect(manager.get_by_test_id("run-progress")).to_be_visible()
        expect(manager.locator(".run-stage")).to_contain_text("Done", timeout=60_000)
        owner = next(
            s["effective"]
            for s in web_world.get("acme_manager", "/api/v1/customers/C01").json()["segments"]
            if s["type_id"] == type_id
        )
        assert owner

        # BETA's manager: K1 (C01's VAT number) shows ACME's segment, labelled with ACME.
        shop = open_as("beta_manager")
        shop.get_by_role("navigation", name="Main").get_by_role("link", name="Customers").click()
        shop.wait_for_url(base + "/customers")
        row = shop.locator('tr.customer-row[data-customer="K1"]')
        expect(row.get_by_test_id("shared-cell")).to_have_text(f"{owner} (Acme)")
        expect(
            shop.locator('tr.customer-row[data-customer="K2"]').get_by_test_id("shared-cell")
        ).to_have_text("—")
        row.get_by_test_id("expand").click()
        details = shop.locator("#details-1")
        expect(details).to_be_visible()
        shared = details.get_by_test_id("shared-segments")
        expect(shared).to_contain_text("ACME Partners")
        expect(shared).to_contain_text("Acme")
        expect(shared.get_by_test_id("shared-segment")).to_have_text(owner)
        # read-only: nothing to click on a shared segment
        expect(shared.locator("button")).to_have_count(0)
        row.get_by_role("link", name="K1").click()
        shop.wait_for_url(base + "/customers/K1")
        card = shop.get_by_test_id("shared-card")
        expect(card).to_contain_text("ACME Partners")
        expect(card).to_contain_text("Shared by Acme")
        expect(card.get_by_test_id("shared-segment")).to_have_text(owner)

        # ACME's admin ends the connection with BETA: K1's shared segment is gone.
        acme.reload()
        acme.get_by_test_id("active").locator("tr", has_text="Beta").get_by_role(
            "button", name="End connection"
        ).click()
        acme.get_by_role("dialog").get_by_role("button", name="End connection").click()
        expect(acme.get_by_test_id("past")).to_contain_text("ended")
        shop.goto(base + "/customers")
        expect(shop.locator('tr.customer-row[data-customer="K1"]')).to_be_visible()
        expect(shop.get_by_test_id("shared-cell")).to_have_count(0)

        for page, watch in pages:
            assert watch.problems == [], (page.url, watch.problems)
