"""Settings > Connections: the organizations yours is connected to, invitations sent and
received, and what is shared each way.

Managers and admins open it (managers read: they decide which types are shared, on the
segment settings); admins invite, accept, decline and end, through the REST API from
``static/js/connections.js``, so the page and the API enforce the same rules. A rep gets the 403
page.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from segmint.sharing import service as sharing
from segmint.web.pages.customers import user_names
from segmint.web.session import PageIdentity, render

router = APIRouter()

#: Declined and ended connections shown below the open ones (the API lists them all).
HISTORY_LIMIT = 20


@router.get("/settings/connections", response_class=HTMLResponse, name="connections")
def connections_page(request: Request, identity: PageIdentity) -> HTMLResponse:
    identity.actor.require_manager("the connection settings")
    actor = identity.actor
    with request.app.state.db.read_session() as session:
        every = sharing.list_connections(session=session, actor=actor)
        received: dict[str, list[Any]] = defaultdict(list)
        for shared_type in sharing.shared_types(session=session, actor=actor):
            received[shared_type.owner_slug].append(shared_type)
        ours = sharing.shares(session=session, actor=actor)
        ids = {
            i for c in every for i in (c.invited_by, c.responded_by, c.ended_by) if i is not None
        }
        names = user_names(session, identity, ids)
    return render(
        request,
        "connections.html",
        identity=identity,
        title="Connections",
        active="settings",
        is_admin=actor.role == "admin",
        incoming=[c for c in every if c.status == "pending" and c.direction == "incoming"],
        outgoing=[c for c in every if c.status == "pending" and c.direction == "outgoing"],
        active_connections=[c for c in every if c.status == "active"],
        past=[c for c in every if c.status in ("declined", "ended")][:HISTORY_LIMIT],
        received=received,
        ours=ours,
        names=names,
    )
