"""The caller's notifications (the bell) and the organization's webhook endpoints."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from segmint.api.problems import error_responses, links
from segmint.api.schemas import (
    Count,
    DeliveryOut,
    Id,
    NotificationOut,
    WebhookCreated,
    WebhookIn,
    WebhookOut,
)
from segmint.api.security import ActorDep, DbDep
from segmint.errors import NotFound
from segmint.runs import notifications, webhooks

router = APIRouter()

Limit = Annotated[int, Query(ge=1, le=200)]


@router.get(
    "/notifications",
    response_model=list[NotificationOut],
    responses=error_responses(401),
    tags=["notifications"],
)
def list_notifications(
    actor: ActorDep, db: DbDep, unread: bool = False, limit: Limit = 50
) -> list[NotificationOut]:
    """Your notifications (run finished, run failed), newest first."""
    with db.read_session() as session:
        found = notifications.list_notifications(
            session=session, actor=actor, unread_only=unread, limit=limit
        )
        return [NotificationOut.model_validate(n) for n in found]


@router.get(
    "/notifications/unread-count",
    response_model=Count,
    responses=error_responses(401),
    tags=["notifications"],
)
def unread_count(actor: ActorDep, db: DbDep) -> Count:
    """The number on the bell."""
    with db.read_session() as session:
        return Count(count=notifications.unread_count(session=session, actor=actor))


@router.post(
    "/notifications/{notification_id}/read",
    response_model=NotificationOut,
    responses=error_responses(401, 403, 404),
    tags=["notifications"],
)
def mark_read(notification_id: Id, actor: ActorDep, db: DbDep) -> NotificationOut:
    with db.session() as session:
        found = notifications.mark_read(
            session=session, actor=actor, notification_id=notification_id
        )
        return NotificationOut.model_validate(found)


@router.post(
    "/notifications/read-all",
    response_model=Count,
    responses=error_responses(401, 403),
    tags=["notifications"],
)
def mark_all_read(actor: ActorDep, db: DbDep) -> Count:
    """Mark every unread notification read; returns how many there were."""
    with db.session() as session:
        return Count(count=notifications.mark_all_read(session=session, actor=actor))


@router.get(
    "/webhooks",
    response_model=list[WebhookOut],
    responses=error_responses(401, 403),
    tags=["webhooks"],
)
def list_webhooks(actor: ActorDep, db: DbDep) -> list[WebhookOut]:
    """The organization's webhook endpoints (managers)."""
    with db.read_session() as session:
        return [
            WebhookOut.model_validate(e)
            for e in webhooks.list_endpoints(session=session, actor=actor)
        ]


@router.post(
    "/webhooks",
    response_model=WebhookCreated,
    status_code=status.HTTP_201_CREATED,
    responses={
        **error_responses(401, 403, 422),
        **links("endpoint_id", "delete_webhook", "list_deliveries"),
    },
    tags=["webhooks"],
)
def add_webhook(body: WebhookIn, actor: ActorDep, db: DbDep) -> WebhookCreated:
    """Register an https URL for events (``run.finished``, ``run.failed``,
    ``segment.changed``; none listed means all). The signing secret is in this response only."""
    with db.session() as session:
        endpoint, secret = webhooks.add_endpoint(
            session=session, actor=actor, url=body.url, events=body.events
        )
        session.flush()
        return WebhookCreated(**WebhookOut.model_validate(endpoint).model_dump(), secret=secret)


@router.delete(
    "/webhooks/{endpoint_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(401, 403, 404),
    tags=["webhooks"],
)
def delete_webhook(endpoint_id: Id, actor: ActorDep, db: DbDep) -> Response:
    with db.session() as session:
        webhooks.delete_endpoint(session=session, actor=actor, endpoint_id=endpoint_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/webhooks/{endpoint_id}/deliveries",
    response_model=list[DeliveryOut],
    responses=error_responses(401, 403, 404),
    tags=["webhooks"],
)
def list_deliveries(
    endpoint_id: Id, actor: ActorDep, db: DbDep, limit: Limit = 50
) -> list[DeliveryOut]:
    """The endpoint's latest deliveries: status, attempts, last error."""
    with db.read_session() as session:
        if endpoint_id not in {e.id for e in webhooks.list_endpoints(session=session, actor=actor)}:
            raise NotFound(f"no webhook endpoint {endpoint_id}")
        found = webhooks.list_deliveries(
            session=session, actor=actor, endpoint_id=endpoint_id, limit=limit
        )
        return [DeliveryOut.model_validate(d) for d in found]
