"""The real app under uvicorn, looked at by Debian's chromium through Playwright: logging in,
the overview, the notification bell and logging out."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.api.conftest import World
from tests.web.support import VIEWPORT, ConsoleWatch, LiveServer, browser_login

pytestmark = pytest.mark.browser


def test_login_overview_bell_and_logout(web_world: World, browser, tmp_path: Path) -> None:
    with LiveServer(web_world.app) as base:
        page = browser.new_page(viewport=VIEWPORT)
        watch = ConsoleWatch(page)
        response = page.goto(base + "/")
        # Not logged in: the login form, which brings us back to where we wanted to go.
        assert page.url == base + "/login?next=/"
        assert response is not None and response.headers["x-frame-options"] == "DENY"
        page.get_by_label("E-mail address").fill("acme_manager@acme.test")
        page.get_by_label("Password").fill("wrong password!")
        page.get_by_role("button", name="Log in").click()
        assert (
            page.get_by_test_id("login-error").inner_text() == "Wrong e-mail address or password."
        )

        browser_login(page, base, "acme_manager")
        assert page.title() == "Overview · Segmint"
        assert page.get_by_test_id("org-name").inner_text() == "Acme"
        lines = sum(i % 6 + 1 for i in range(60))
        assert f"{lines:,}" in page.locator(".cards").inner_text()
        cards = page.locator("article.type-card h3").all_inner_texts()
        assert cards == ["ACME Sales", "ACME Behaviour"]
        # The stylesheet was allowed by the CSP and applied.
        topbar_bg = page.locator(".topbar").evaluate("e => getComputedStyle(e).backgroundColor")
        assert topbar_bg == "rgb(31, 78, 121)"
        # Managers see Settings; the bell counts the three runs' notifications.
        menu = page.get_by_role("navigation", name="Main").get_by_role("link")
        assert menu.all_inner_texts() == ["Overview", "Customers", "Insights", "Settings"]
        assert page.get_by_test_id("unread").inner_text() == "2"
        page.get_by_test_id("bell").click()
        page.get_by_role("button", name="Mark all as read").click()
        assert page.get_by_test_id("unread").count() == 0
        page.screenshot(path=str(tmp_path / "overview.png"), full_page=True)

        page.get_by_role("button", name="Log out").click()
        page.wait_for_url(base + "/login")
        page.goto(base + "/")
        assert page.url == base + "/login?next=/"

        # A rep's menu has no Settings.
        browser_login(page, base, "acme_rep1")
        assert "Settings" not in page.get_by_role("navigation", name="Main").inner_text()
        page.close()
    assert (tmp_path / "overview.png").stat().st_size > 0
    # The one console error is the browser reporting the wrong password's 401 page.
    assert watch.problems == [
        "Failed to load resource: the server responded with a status of 401 (Unauthorized)"
    ]
