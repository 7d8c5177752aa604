"""What happens when a run ends or segments change: in-app notifications and webhook events.

Both are written in the caller's transaction, so they exist exactly when the change they announce
was committed: a run that rolls back notifies nobody, and a committed one cannot lose its event.
Webhook events go to an outbox (``webhook_deliveries``, one row per endpoint) that
:func:`segmint.runs.webhooks.deliver_due` POSTs later, outside any transaction.

Notifications follow the type's ``notify`` flag; webhooks do not, because an organization opts
into them by configuring an endpoint.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from segmint.accounts.models import Organization, User
from segmint.metadata.base import utcnow
from segmint.runs.models import Notification, Run, WebhookDelivery, WebhookEndpoint
from segmint.segments.models import SegmentType

RUN_SUCCEEDED = "run.succeeded"
RUN_FAILED = "run.failed"
SEGMENT_CHANGED = "segment.changed"
EVENTS = (RUN_SUCCEEDED, RUN_FAILED, SEGMENT_CHANGED)

MAX_CHANGES = 1000  # per segment.changed event; a receiver needing all of them reads the API
_NOTIFIED_ROLES = ("admin", "manager")
_MAX_ERROR_IN_MESSAGE = 500


def run_finished(*, session: Session, run: Run, segment_type: SegmentType) -> None:
    """Announce a run that just succeeded or failed (also one whose worker died).

    Call it in the transaction that sets the run's final status, after setting it.
    """
    if run.status not in ("succeeded", "failed"):
        # Announcing a run that is still going would tell people the wrong thing.
        raise ValueError(f"run {run.id} is {run.status!r}; only a finished run is announced")
    succeeded = run.status == "succeeded"
    if segment_type.notify:
        message = _run_message(run, segment_type)
        kind = "run_succeeded" if succeeded else "run_failed"
        session.add_all(
            Notification(
                organization_id=run.organization_id,
                user_id=user_id,
                kind=kind,
                run_id=run.id,
                message=message,
            )
            for user_id in _recipients(session, run)
        )
    data = {
        "run_id": run.id,
        "type_id": segment_type.id,
        "type_name": segment_type.name,
        "status": run.status,
        "summary": run.summary,
        "error": run.error,
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
    }
    _enqueue(session, run.organization_id, RUN_SUCCEEDED if succeeded else RUN_FAILED, data)


def segments_changed(
    *,
    session: Session,
    organization_id: int,
    type_id: int,
    changes: list[dict[str, Any]] | Callable[[], list[dict[str, Any]]],
    total: int | None = None,
    run_id: int | None = None,
) -> None:
    """Announce customers whose effective segment changed, as one ``segment.changed`` event.

    Each change is ``{"customer_key", "from", "to", "source"}`` (segment names; ``from`` is None
    for a customer new to the type, ``source`` "automatic" or "manual"). The caller batches: a run
    passes at most the first :data:`MAX_CHANGES` and the full count as ``total``; longer lists are
    cut here too, so no event grows without bound. Nothing is sent when nothing changed.

    ``changes`` may be a function returning the list (a run passes one, with ``total``): it is
    called only when an endpoint takes the event, so nobody pays for listing changes that no one
    receives.
    """
    if callable(changes):
        if total is None:
            raise ValueError("a function for the changes needs the total")
        if total == 0:
            return
    else:
        total = len(changes) if total is None else max(total, len(changes))
        if total == 0:
            return
    endpoints = _subscribed(session, organization_id, SEGMENT_CHANGED)
    if not endpoints:
        return  # skip building a payload nobody receives
    if callable(changes):
        changes = changes()
        total = max(total, len(changes))
    segment_type = session.get(SegmentType, type_id)
    kept = list(changes[:MAX_CHANGES])
    data = {
        "type_id": type_id,
        "type_name": segment_type.name if segment_type is not None else None,
        "run_id": run_id,
        "changes": kept,
        "total": total,
        "truncated": total > len(kept),
    }
    _write_outbox(session, organization_id, SEGMENT_CHANGED, data, endpoints)


def _run_message(run: Run, segment_type: SegmentType) -> str:
    """The line a person reads, e.g. "Sales Performance: automatic assignment finished —
    3,412 customers, 57 changed segment"."""
    if run.status == "failed":
        error = (run.error or "unknown error").strip()
        if len(error) > _MAX_ERROR_IN_MESSAGE:
            error = error[: _MAX_ERROR_IN_MESSAGE - 1] + "…"
        return f"{segment_type.name}: automatic assignment failed — {error}"
    summary = run.summary or {}
    parts = []
    customers = summary.get("customers")
    if isinstance(customers, int):
        parts.append(f"{customers:,} customer{'' if customers == 1 else 's'}")
    changed = summary.get("changed")
    if isinstance(changed, int):
        parts.append(f"{changed:,} changed segment")
    text = f"{segment_type.name}: automatic assignment finished"
    return f"{text} — {', '.join(parts)}" if parts else text


def _recipients(session: Session, run: Run) -> list[int]:
    """Active admins and managers of the organization, and whoever asked for the run (a rep who
    pressed "Auto Assign" wants to know too), each once."""
    managers = session.scalars(
        select(User.id)
        .where(
            User.organization_id == run.organization_id,
            User.active.is_(True),
            User.role.in_(_NOTIFIED_ROLES),
        )
        .order_by(User.id)
    )
    recipients = list(managers)
    if run.requested_by is not None and run.requested_by not in recipients:
        requester = session.get(User, run.requested_by)
        # Same organization checked too: a run never notifies outside its organization.
        if requester and requester.active and requester.organization_id == run.organization_id:
            recipients.append(requester.id)
    return recipients


def _subscribed(session: Session, organization_id: int, event: str) -> list[WebhookEndpoint]:
    """Active endpoints of the organization that take this event (an empty list takes all).
    Filtered in Python: the list is a JSON column, and JSON containment differs per database."""
    endpoints = session.scalars(
        select(WebhookEndpoint)
        .where(
            WebhookEndpoint.organization_id == organization_id,
            WebhookEndpoint.active.is_(True),
        )
        .order_by(WebhookEndpoint.id)
    )
    return [e for e in endpoints if not e.events or event in e.events]


def _enqueue(session: Session, organization_id: int, event: str, data: dict[str, Any]) -> None:
    endpoints = _subscribed(session, organization_id, event)
    if endpoints:
        _write_outbox(session, organization_id, event, data, endpoints)


def _write_outbox(
    session: Session,
    organization_id: int,
    event: str,
    data: dict[str, Any],
    endpoints: list[WebhookEndpoint],
) -> None:
    """One delivery row per endpoint, all with the same event id and the same body bytes, so a
    receiver can de-duplicate retries by ``X-Segmint-Delivery``."""
    organization = session.get(Organization, organization_id)
    event_id = uuid.uuid4().hex
    now = utcnow()
    payload = {
        "id": event_id,
        "event": event,
        "created_at": now.isoformat(),
        "organization": organization.slug if organization is not None else None,
        "data": data,
    }
    # default=str: a summary may carry decimals or dates; the receiver gets their text.
    body = json.dumps(payload, default=str, ensure_ascii=False, separators=(",", ":"))
    session.add_all(
        WebhookDelivery(
            organization_id=organization_id,
            endpoint_id=endpoint.id,
            event_id=event_id,
            event=event,
            payload=body,
            status="pending",
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
        for endpoint in endpoints
    )
