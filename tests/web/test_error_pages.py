"""Error pages keep the layout of the logged-in user: the menu, the bell, who is logged in and
the logout button, so a 404 is not a dead end. Without a session they are plain pages."""

from __future__ import annotations

import pytest

from tests.api.conftest import World
from tests.web.support import client_login


@pytest.mark.parametrize("path", ["/customers/NOPE", "/nowhere", "/insights/999999"])
def test_an_error_page_keeps_the_menu_of_the_logged_in_user(web_world: World, path: str) -> None:
    client_login(web_world, "acme_manager")
    response = web_world.client.get(path, headers={"Accept": "text/html"})
    assert response.status_code == 404
    page = response.text
    assert 'aria-label="Main"' in page and 'href="/customers"' in page
    assert 'action="/logout"' in page and "manager" in page
    assert 'name="csrf-token"' in page
    assert response.headers["X-Correlation-ID"] in page


def test_an_error_page_without_a_session_has_no_menu(web_world: World) -> None:
    web_world.client.cookies.clear()
    response = web_world.client.get("/nowhere", headers={"Accept": "text/html"})
    assert response.status_code == 404
    assert 'action="/logout"' not in response.text
    assert 'aria-label="Main"' not in response.text


def test_an_api_token_asking_for_html_gets_no_browser_menu(web_world: World) -> None:
    web_world.client.cookies.clear()
    response = web_world.client.get(
        "/api/v1/customers/NOPE",
        headers={**web_world.headers("acme_manager"), "Accept": "text/html"},
    )
    assert response.status_code == 404
    assert 'action="/logout"' not in response.text
