"""Who is calling: an API token (``Authorization: Bearer sgm_…``) or the browser session cookie.

The cookie holds the session's random secret and an HMAC of it under the settings' secret key,
so a tampered cookie is refused before the database is asked. It is HttpOnly, SameSite=Lax, and
Secure when the request came over HTTPS. A write (any method but GET, HEAD, OPTIONS) made with
the cookie must carry the session's CSRF token in ``X-CSRF-Token`` (the web app's forms send it
as the ``csrf_token`` field); a token-authenticated request needs none, since a browser never
adds an ``Authorization`` header by itself.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request, Response

from segmint.accounts.access import Identity, Policy, resolve_session, resolve_token, touch
from segmint.accounts.actor import Actor
from segmint.metadata.database import Database

COOKIE = "segmint_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


# Dependencies that only read memory are ``async``: FastAPI runs a plain ``def`` dependency in
# the thread pool, a hop that costs more than what they do.
async def get_db(request: Request) -> Database:
    return request.app.state.db


DbDep = Annotated[Database, Depends(get_db)]


def _mac(key: str, value: str) -> str:
    digest = hmac.new(key.encode(), value.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def cookie_value(request: Request, secret: str) -> str:
    return f"{secret}.{_mac(request.app.state.settings.secret_key, secret)}"


def session_secret(request: Request) -> str | None:
    """The session secret from a correctly signed cookie, else None."""
    raw = request.cookies.get(COOKIE)
    if not raw or len(raw) > 300 or "." not in raw:
        return None
    secret, mac = raw.rsplit(".", 1)
    expected = _mac(request.app.state.settings.secret_key, secret)
    return secret if hmac.compare_digest(mac, expected) else None


def set_session_cookie(request: Request, response: Response, secret: str) -> None:
    settings = request.app.state.settings
    response.set_cookie(
        COOKIE,
        cookie_value(request, secret),
        max_age=int(settings.session_hours * 3600),
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/",
    )


def clear_session_cookie(request: Request, response: Response) -> None:
    response.delete_cookie(
        COOKIE, path="/", httponly=True, samesite="lax", secure=request.url.scheme == "https"
    )


def policy(request: Request) -> Policy:
    return Policy.from_settings(request.app.state.settings)


def find_identity(request: Request) -> Identity | None:
    """The identity of the request, or None (no credentials, or invalid ones). Cached on the
    request, so pages and API dependencies resolve it once."""
    if hasattr(request.state, "identity"):
        return request.state.identity
    db: Database = request.app.state.db
    found: Identity | None = None
    authorization = request.headers.get("authorization", "")
    via_token = authorization[:7].lower() == "bearer "
    with db.read_session() as session:
        if via_token:
            found = resolve_token(session=session, secret=authorization[7:].strip())
        elif (secret := session_secret(request)) is not None:
            found = resolve_session(session=session, secret=secret, policy=policy(request))
    if found is not None and found.touch_due:
        with db.session() as session:
            touch(session=session, identity=found)
    request.state.identity = found
    request.state.via_token = via_token
    return found


def check_csrf(request: Request, identity: Identity, submitted: str | None = None) -> None:
    """Refuse a cookie-authenticated write without the session's CSRF token."""
    if request.method in SAFE_METHODS or identity.session_id is None:
        return
    sent = submitted if submitted is not None else request.headers.get(CSRF_HEADER, "")
    if not identity.csrf_token or not hmac.compare_digest(sent, identity.csrf_token):
        raise HTTPException(403, f"missing or wrong CSRF token (send it in {CSRF_HEADER})")


def current_identity(request: Request) -> Identity:
    identity = find_identity(request)
    if identity is None:
        raise HTTPException(
            401, "log in or send an API token", headers={"WWW-Authenticate": "Bearer"}
        )
    check_csrf(request, identity)
    return identity


IdentityDep = Annotated[Identity, Depends(current_identity)]


async def current_actor(identity: IdentityDep) -> Actor:
    return identity.actor


ActorDep = Annotated[Actor, Depends(current_actor)]
