"""What the page and browser tests share: the app under uvicorn, Debian's chromium through
Playwright, and logging in through the real login form."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import uvicorn

from tests.api.conftest import PASSWORD, World

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1366, "height": 768}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """An app served by uvicorn in a thread. ``lifespan="off"``: the world's TestClient already
    ran the lifespan (database, worker thread) on the same app object."""

    def __init__(self, app: object) -> None:
        self.port = free_port()
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off", ws="none"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


def email(who: str) -> str:
    """The e-mail address of a world's user (``acme_manager`` -> ``acme_manager@acme.test``)."""
    return f"{who}@{who.split('_')[0]}.test"


def client_login(world: World, who: str) -> None:
    """Log the world's TestClient in as ``who`` through the HTML login form (session cookie)."""
    world.client.cookies.clear()
    response = world.client.post(
        "/login",
        data={"email": email(who), "password": PASSWORD, "next": "/"},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text


def browser_login(page: Any, base_url: str, who: str) -> None:
    """Log a Playwright page in as ``who`` by filling in the login form."""
    page.goto(base_url + "/login")
    page.get_by_label("E-mail address").fill(email(who))
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(base_url + "/")


class ConsoleWatch:
    """Collects console errors, page errors and failed requests (a CSP violation shows up as a
    console error): a browser test asserts the list is empty at its end."""

    def __init__(self, page: Any) -> None:
        self.problems: list[str] = []
        page.on("console", lambda m: self.problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        page.on("requestfailed", self._failed)

    def _failed(self, request: Any) -> None:
        # A request cut short because the page navigated away is not a problem of the page.
        if request.failure != "net::ERR_ABORTED":
            self.problems.append(f"failed: {request.url} ({request.failure})")
