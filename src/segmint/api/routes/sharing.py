"""Connections between organizations and the segment types they share (read-only here: no
route writes to another organization's type)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Literal

from fastapi import APIRouter, Query, status

from segmint.api.problems import error_responses, links
from segmint.api.schemas import ConnectionIn, ConnectionOut, Id, SharedTypeOut
from segmint.api.security import ActorDep, DbDep
from segmint.sharing import service as sharing
from segmint.sharing.service import ConnectionView

router = APIRouter(tags=["sharing"])

Statuses = Annotated[list[Literal["pending", "active", "declined", "ended"]], Query(max_length=4)]


def _out(view: ConnectionView) -> ConnectionOut:
    return ConnectionOut.model_validate(asdict(view))


@router.get("/connections", response_model=list[ConnectionOut], responses=error_responses(401))
def list_connections(
    actor: ActorDep,
    db: DbDep,
    status: Statuses = [],  # noqa: B006 - FastAPI copies defaults
) -> list[ConnectionOut]:
    """Your organization's connections and invitations (every status unless ``status`` says
    which), newest first. Everyone in the organization may read them."""
    with db.read_session() as session:
        found = sharing.list_connections(session=session, actor=actor, statuses=status)
        return [_out(v) for v in found]


@router.post(
    "/connections",
    response_model=ConnectionOut,
    status_code=status.HTTP_201_CREATED,
    responses={
        **error_responses(401, 403, 409, 422),
        **links("connection_id", "get_connection", "end_connection"),
    },
)
def invite_organization(body: ConnectionIn, actor: ActorDep, db: DbDep) -> ConnectionOut:
    """Invite another organization (by its slug) to connect (admins). Once its admin accepts,
    each side sees the other's shared VAT-based segment types on its own customers. 422 for
    your own slug or an unknown one; 409 when connected or invited already."""
    with db.session() as session:
        return _out(sharing.invite(session=session, actor=actor, slug=body.slug))


@router.get(
    "/connections/{connection_id}",
    response_model=ConnectionOut,
    responses=error_responses(401, 404),
)
def get_connection(connection_id: Id, actor: ActorDep, db: DbDep) -> ConnectionOut:
    with db.read_session() as session:
        return _out(
            sharing.get_connection(session=session, actor=actor, connection_id=connection_id)
        )


@router.post(
    "/connections/{connection_id}/accept",
    response_model=ConnectionOut,
    responses=error_responses(401, 403, 404, 409),
)
def accept_connection(connection_id: Id, actor: ActorDep, db: DbDep) -> ConnectionOut:
    """Accept an invitation sent to your organization (admins); 409 unless it is pending and
    addressed to you."""
    with db.session() as session:
        return _out(sharing.accept(session=session, actor=actor, connection_id=connection_id))


@router.post(
    "/connections/{connection_id}/decline",
    response_model=ConnectionOut,
    responses=error_responses(401, 403, 404, 409),
)
def decline_connection(connection_id: Id, actor: ActorDep, db: DbDep) -> ConnectionOut:
    """Decline an invitation sent to your organization (admins)."""
    with db.session() as session:
        return _out(sharing.decline(session=session, actor=actor, connection_id=connection_id))


@router.post(
    "/connections/{connection_id}/end",
    response_model=ConnectionOut,
    responses=error_responses(401, 403, 404, 409),
)
def end_connection(connection_id: Id, actor: ActorDep, db: DbDep) -> ConnectionOut:
    """End a connection, or withdraw a pending invitation (admins of either side). Sharing
    stops at once, both ways."""
    with db.session() as session:
        return _out(sharing.end(session=session, actor=actor, connection_id=connection_id))


@router.get("/shared-types", response_model=list[SharedTypeOut], responses=error_responses(401))
def list_shared_types(actor: ActorDep, db: DbDep) -> list[SharedTypeOut]:
    """The segment types connected organizations share with yours: names, method and their
    segments' names, descriptions and recommended actions (never the owner's figures). The
    segments themselves are on the customers (``shared_segments``)."""
    with db.read_session() as session:
        return [
            SharedTypeOut.model_validate(asdict(t))
            for t in sharing.shared_types(session=session, actor=actor)
        ]
