"""Who is looking at a page, and what every page's layout needs to know about them.

Pages use the same session cookie as the REST API (:mod:`segmint.api.security`): a page needs a
logged-in user and sends anyone else to ``/login?next=<the page>``. :func:`render` gives every
template the user, the organization, the CSRF token (for the page's scripts, which call the API
with it in ``X-CSRF-Token``), the unread notification count for the bell and the menu the role
may see (and, on the Settings pages, the Settings tabs).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from segmint.accounts.access import Identity
from segmint.api.security import check_csrf, find_identity
from segmint.runs.notifications import unread_count


class LoginRequired(Exception):
    """Raised by a page dependency when nobody is logged in; the app answers with a redirect."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


def login_redirect(request: Request, exc: Exception) -> RedirectResponse:
    assert isinstance(exc, LoginRequired)
    return RedirectResponse(f"/login?next={quote(exc.next_path, safe='/')}", status_code=303)


def safe_next(value: str | None) -> str:
    """Where to go after logging in: a path on this site only (no ``//host`` or scheme)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


def page_identity(request: Request) -> Identity:
    identity = find_identity(request)
    if identity is None:
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(path)
    return identity


PageIdentity = Annotated[Identity, Depends(page_identity)]


def check_form_csrf(request: Request, identity: Identity, token: str | None) -> None:
    """A form post made with the cookie must carry the session's CSRF token as ``csrf_token``."""
    check_csrf(request, identity, submitted=token or "")


@dataclass(frozen=True)
class NavItem:
    label: str
    href: str
    key: str


def navigation(identity: Identity) -> list[NavItem]:
    """The main menu: what this role can use."""
    items = [
        NavItem("Overview", "/", "home"),
        NavItem("Customers", "/customers", "customers"),
        NavItem("Insights", "/insights", "insights"),
    ]
    if identity.actor.can_manage:
        items.append(NavItem("Settings", "/settings/segments", "settings"))
    return items


def settings_navigation(identity: Identity) -> list[NavItem]:
    """The tabs of the Settings pages (managers and admins reach Settings)."""
    return [
        NavItem("Customer segments", "/settings/segments", "segments"),
        NavItem("Connections", "/settings/connections", "connections"),
    ]


def render(
    request: Request,
    template: str,
    *,
    identity: Identity | None,
    title: str,
    active: str = "",
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    """Render ``template`` with the layout's context (user, organization, menu, bell)."""
    templates: Jinja2Templates = request.app.state.templates
    layout: dict[str, Any] = {"title": title, "active": active, "me": None}
    if identity is not None:
        with request.app.state.db.read_session() as session:
            unread = unread_count(session=session, actor=identity.actor)
        layout["me"] = {
            "user": identity.user,
            "organization": identity.organization,
            "role": identity.actor.role,
            "can_manage": identity.actor.can_manage,
            "csrf_token": identity.csrf_token or "",
            "unread": unread,
            "nav": navigation(identity),
            "settings_nav": settings_navigation(identity),
        }
    return templates.TemplateResponse(
        request, template, {**layout, **context}, status_code=status_code
    )
