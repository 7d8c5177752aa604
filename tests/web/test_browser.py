"""The real app under uvicorn, looked at by Debian's chromium through Playwright."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from segmint.settings import Settings
from segmint.web.app import create_app
from tests.conftest import chromium_path

pytestmark = pytest.mark.browser

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
def live_url(seeded_settings: Settings) -> Iterator[str]:
    """The app served by uvicorn in a thread, on a free port of 127.0.0.1."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        create_app(seeded_settings), log_level="warning", ws="none", lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        for _ in range(200):
            if server.started:
                break
            if not thread.is_alive():
                pytest.fail("uvicorn stopped before it started")
            threading.Event().wait(0.05)
        else:
            pytest.fail("uvicorn did not start within 10 s")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.fixture
def chromium() -> str:
    path = chromium_path()
    if path is None:
        pytest.skip(
            "chromium not found: install Debian's chromium (apt-get install chromium) "
            "or set SEGMINT_CHROMIUM to its path"
        )
    return path


def test_home_page_in_a_browser(live_url: str, chromium: str, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    problems: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 720})
            # A CSP violation or a missing asset shows up as a console error or a failed request.
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("requestfailed", lambda r: problems.append(f"failed: {r.url}"))
            response = page.goto(live_url + "/")
            assert response is not None and response.status == 200
            assert response.headers["x-frame-options"] == "DENY"

            rows = page.locator("table.orgs tbody tr")
            assert rows.count() == 2
            acme = page.locator('tr[data-org="ACME"]')
            assert acme.locator("th").inner_text() == "ACME"
            # Sales lines, customers, products, first and last invoice, net sales.
            assert acme.locator("td").all_inner_texts() == [
                "1,234", "50", "0", "2024-01-01", "2024-12-30", "12,957.00",
            ]  # fmt: skip
            beta = page.locator('tr[data-org="BETA"]')
            assert beta.locator("td").all_inner_texts() == [
                "3", "2", "1", "2025-03-01", "2025-03-05", "300.25",
            ]  # fmt: skip
            assert page.title() == "Organizations · Segmint"

            # The stylesheet was allowed by the CSP and applied.
            topbar_bg = page.locator(".topbar").evaluate("e => getComputedStyle(e).backgroundColor")
            assert topbar_bg == "rgb(31, 78, 121)"

            page.screenshot(path=str(tmp_path / "home.png"), full_page=True)
        finally:
            browser.close()
    assert (tmp_path / "home.png").stat().st_size > 0
    assert problems == []
