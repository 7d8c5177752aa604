"""The notification list behind the bell: runs finished and failed."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from segmint.runs import notifications
from segmint.web.session import PageIdentity, check_form_csrf, render

router = APIRouter()


@router.get("/notifications", response_class=HTMLResponse, name="notifications")
def notification_list(request: Request, identity: PageIdentity) -> HTMLResponse:
    with request.app.state.db.read_session() as session:
        items = notifications.list_notifications(session=session, actor=identity.actor, limit=100)
    return render(
        request,
        "notifications.html",
        identity=identity,
        title="Notifications",
        items=items,
    )


@router.post("/notifications/read")
def mark_all_read(
    request: Request,
    identity: PageIdentity,
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    check_form_csrf(request, identity, csrf_token)
    with request.app.state.db.session() as session:
        notifications.mark_all_read(session=session, actor=identity.actor)
    return RedirectResponse("/notifications", status_code=303)
