"""Logging in and out of the web app (HTML forms; they work without JavaScript)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from segmint.accounts import access
from segmint.api.security import (
    clear_session_cookie,
    find_identity,
    policy,
    session_secret,
    set_session_cookie,
)
from segmint.web.session import PageIdentity, check_form_csrf, render, safe_next

router = APIRouter()


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@router.get("/login", response_class=HTMLResponse, name="login")
def login_page(request: Request, next: str = "/") -> Response:
    if find_identity(request) is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return render(
        request,
        "login.html",
        identity=None,
        title="Log in",
        next=safe_next(next),
        error="",
        email="",
    )


@router.post("/login", response_class=HTMLResponse)
def login_form(
    request: Request,
    email: Annotated[str, Form(max_length=254)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    db = request.app.state.db
    target = safe_next(next)
    try:
        with db.session() as session:
            _, secret = access.login(
                session=session,
                email=email,
                password=password,
                address=_client(request),
                policy=policy(request),
            )
    except access.LoginThrottled as exc:
        return render(
            request,
            "login.html",
            identity=None,
            title="Log in",
            next=target,
            email=email,
            error=str(exc),
            status_code=429,
        )
    except access.LoginFailed:
        with db.session() as session:
            access.record_failure(session=session, email=email, address=_client(request))
        return render(
            request,
            "login.html",
            identity=None,
            title="Log in",
            next=target,
            email=email,
            error="Wrong e-mail address or password.",
            status_code=401,
        )
    response = RedirectResponse(target, status_code=303)
    set_session_cookie(request, response, secret)
    return response


@router.post("/logout", name="logout")
def logout_form(
    request: Request,
    identity: PageIdentity,
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    check_form_csrf(request, identity, csrf_token)
    secret = session_secret(request)
    if secret is not None:
        with request.app.state.db.session() as session:
            access.logout(session=session, secret=secret)
    response = RedirectResponse("/login", status_code=303)
    clear_session_cookie(request, response)
    return response
