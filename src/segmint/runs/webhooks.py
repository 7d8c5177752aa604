"""Webhook endpoints, signatures, and delivering the outbox that :mod:`segmint.runs.events`
fills.

Delivery is at-least-once. Each pending row is claimed with a conditional UPDATE (only one
worker's UPDATE matches, so two workers never POST the same delivery at the same time), the POST
happens with no transaction open (a slow receiver must not hold the database's write lock), and
the result is written in a second short transaction. A worker that dies mid-POST leaves the claim
to expire, and the delivery is tried again: receivers de-duplicate by ``X-Segmint-Delivery``.

How a receiver checks a signature is in ``docs/webhooks.md``.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import secrets as _secrets
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from segmint.accounts.actor import Actor
from segmint.audit.service import record
from segmint.errors import NotFound, ValidationError
from segmint.metadata.base import utcnow
from segmint.metadata.database import Database
from segmint.runs.events import EVENTS
from segmint.runs.models import WebhookDelivery, WebhookEndpoint

SIGNATURE_HEADER = "X-Segmint-Signature"
EVENT_HEADER = "X-Segmint-Event"
DELIVERY_HEADER = "X-Segmint-Delivery"

MAX_ATTEMPTS = 8
FIRST_RETRY_SECONDS = 10.0  # then x3 per attempt: 10 s, 30 s, 90 s, 270 s, ... at most 1 h
MAX_RETRY_SECONDS = 3600.0
MAX_URL_LENGTH = 2000
_SECRET_LENGTHS = (16, 200)  # shorter is guessable; longer does not fit the column
_ERROR_BODY_CHARS = 300


# -- endpoints ------------------------------------------------------------------------------------


def add_endpoint(
    *,
    session: Session,
    actor: Actor,
    url: str,
    events: Iterable[str] | None = None,
    secret: str | None = None,
) -> tuple[WebhookEndpoint, str]:
    """Register a URL for the organization's events; ``events`` None or empty means all.

    Returns the endpoint and its signing secret (generated unless given), which the caller shows
    once to whoever configures the receiver.
    """
    actor.require_manager("adding a webhook endpoint")
    url = _check_url(url)
    chosen = _check_events(events)
    if secret is None:
        secret = _secrets.token_urlsafe(32)
    elif not isinstance(secret, str) or not (
        _SECRET_LENGTHS[0] <= len(secret) <= _SECRET_LENGTHS[1]
    ):
        raise ValidationError(
            f"secret must be text of {_SECRET_LENGTHS[0]} to {_SECRET_LENGTHS[1]} characters",
            field="secret",
        )
    endpoint = WebhookEndpoint(
        organization_id=actor.organization_id, url=url, secret=secret, events=chosen, active=True
    )
    session.add(endpoint)
    session.flush()
    # The secret stays out of the audit log: the log is readable by more people than the secret.
    record(
        session=session,
        actor=actor,
        action="webhook.create",
        entity="webhook_endpoint",
        entity_id=endpoint.id,
        url=url,
        events=chosen,
    )
    return endpoint, secret


def list_endpoints(*, session: Session, actor: Actor) -> list[WebhookEndpoint]:
    actor.require_manager("listing webhook endpoints")  # they carry their secrets
    return list(
        session.scalars(
            select(WebhookEndpoint)
            .where(WebhookEndpoint.organization_id == actor.organization_id)
            .order_by(WebhookEndpoint.id)
        )
    )


def delete_endpoint(*, session: Session, actor: Actor, endpoint_id: int) -> None:
    """Remove an endpoint; its deliveries, pending or done, go with it (ON DELETE CASCADE)."""
    actor.require_manager("deleting a webhook endpoint")
    endpoint = session.scalars(
        select(WebhookEndpoint).where(
            WebhookEndpoint.id == endpoint_id,
            WebhookEndpoint.organization_id == actor.organization_id,
        )
    ).first()
    if endpoint is None:
        raise NotFound(f"no webhook endpoint {endpoint_id}")
    record(
        session=session,
        actor=actor,
        action="webhook.delete",
        entity="webhook_endpoint",
        entity_id=endpoint.id,
        url=endpoint.url,
    )
    session.delete(endpoint)
    session.flush()


def list_deliveries(
    *, session: Session, actor: Actor, limit: int = 50, endpoint_id: int | None = None
) -> list[WebhookDelivery]:
    """The organization's most recent deliveries, newest first (what was sent, what failed)."""
    actor.require_manager("listing webhook deliveries")
    query = select(WebhookDelivery).where(WebhookDelivery.organization_id == actor.organization_id)
    if endpoint_id is not None:
        query = query.where(WebhookDelivery.endpoint_id == endpoint_id)
    limit = max(1, min(int(limit), 500))
    return list(session.scalars(query.order_by(WebhookDelivery.id.desc()).limit(limit)))


def _check_url(url: object) -> str:
    if not isinstance(url, str):
        raise ValidationError(f"url must be text, got {url!r}", field="url")
    url = url.strip()
    if len(url) > MAX_URL_LENGTH:
        raise ValidationError(f"url is longer than {MAX_URL_LENGTH} characters", field="url")
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        raise ValidationError("url must not contain spaces or control characters", field="url")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number
    except ValueError as exc:
        raise ValidationError(f"url {url!r} is not a URL: {exc}", field="url") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError(
            f"url must be an http:// or https:// address, got {url!r}", field="url"
        )
    return url


def _check_events(events: Iterable[str] | None) -> list[str]:
    if events is None:
        return []
    if isinstance(events, str):  # "run.failed" would otherwise iterate as characters
        events = [events]
    chosen: list[str] = []
    for event in events:
        if event not in EVENTS:
            raise ValidationError(
                f"unknown event {event!r}; known events are {', '.join(EVENTS)}", field="events"
            )
        if event not in chosen:
            chosen.append(event)
    return chosen


# -- signing --------------------------------------------------------------------------------------


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """HMAC-SHA256 of ``"<timestamp>." + body`` with the endpoint's secret, as hex.

    The timestamp is signed with the body, so a captured request cannot be replayed later
    with a fresh timestamp.

    >>> sign("s3cret", b'{"event":"run.succeeded"}', 1700000000)[:16]
    '645930912ec11073'
    >>> expected = hmac.new(b"s3cret", b"1700000000.{}", hashlib.sha256).hexdigest()
    >>> sign("s3cret", b"{}", 1700000000) == expected
    True
    """
    message = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_header(secret: str, body: bytes, timestamp: int) -> str:
    """The value of ``X-Segmint-Signature``: ``t=<timestamp>,v1=<hex>``."""
    return f"t={timestamp},v1={sign(secret, body, timestamp)}"


# -- delivery -------------------------------------------------------------------------------------


def retry_delay(attempts: int) -> timedelta:
    """How long to wait after the ``attempts``-th failed attempt: 10 s, 30 s, 90 s, ... 1 h."""
    seconds = FIRST_RETRY_SECONDS * 3 ** max(attempts - 1, 0)
    return timedelta(seconds=min(seconds, MAX_RETRY_SECONDS))


def deliver_due(
    db: Database, *, now: datetime | None = None, limit: int = 50, timeout: float = 5.0
) -> int:
    """POST up to ``limit`` deliveries that are due, and return how many were attempted (a
    caller loops without sleeping while that equals ``limit``).

    ``now`` fixes the clock (tests step time with it); by default each step reads the real one.
    """
    clock: Callable[[], datetime] = (lambda: now) if now is not None else utcnow
    with db.read_session() as session:
        due = list(
            session.scalars(
                select(WebhookDelivery.id)
                .where(
                    WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= clock()
                )
                .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
                .limit(limit)
            )
        )
    attempted = 0
    for delivery_id in due:
        claimed = _claim(db, delivery_id, clock(), timeout)
        if claimed is None:
            continue  # another worker has it, or it is no longer due
        attempted += 1
        status_code, error = _post(claimed, clock(), timeout)
        _finish(db, claimed, status_code, error, clock())
    return attempted


class _Claimed:
    """What one claimed delivery needs for its POST, read while claiming it."""

    def __init__(self, row: Any) -> None:
        self.id: int = row.id
        self.attempts: int = row.attempts
        self.event_id: str = row.event_id
        self.event: str = row.event
        self.body: bytes = row.payload.encode()
        self.url: str = row.url
        self.secret: str = row.secret
        self.active: bool = row.active


def _claim_seconds(timeout: float) -> float:
    """How long a claim keeps other workers away: longer than a POST can take (the socket
    timeout applies to connect and to each read, so allow several), yet short enough that a
    delivery whose worker died is retried soon."""
    return max(60.0, 4 * timeout)


def _claim(db: Database, delivery_id: int, now: datetime, timeout: float) -> _Claimed | None:
    with db.session() as session:
        result = session.execute(
            update(WebhookDelivery)
            .where(
                WebhookDelivery.id == delivery_id,
                WebhookDelivery.status == "pending",
                WebhookDelivery.next_attempt_at <= now,
            )
            .values(
                next_attempt_at=now + timedelta(seconds=_claim_seconds(timeout)),
                attempts=WebhookDelivery.attempts + 1,
            )
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:
            return None
        row = session.execute(
            select(
                WebhookDelivery.id,
                WebhookDelivery.attempts,
                WebhookDelivery.event_id,
                WebhookDelivery.event,
                WebhookDelivery.payload,
                WebhookEndpoint.url,
                WebhookEndpoint.secret,
                WebhookEndpoint.active,
            )
            .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
            .where(WebhookDelivery.id == delivery_id)
        ).one()
        return _Claimed(row)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect counts as a failure: following it would POST the event (or, for 301-303, a
    bodiless GET) to an address nobody configured."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirect)


def _post(claimed: _Claimed, now: datetime, timeout: float) -> tuple[int | None, str | None]:
    """Send one delivery; returns (HTTP status or None, error or None). Never raises for what
    the network or the receiver does: one bad endpoint must not stop the others."""
    if not claimed.active:
        return None, "the endpoint is disabled"
    timestamp = int(now.timestamp())
    request = urllib.request.Request(
        claimed.url,
        data=claimed.body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "Segmint-Webhooks/1",
            SIGNATURE_HEADER: signature_header(claimed.secret, claimed.body, timestamp),
            EVENT_HEADER: claimed.event,
            DELIVERY_HEADER: claimed.event_id,
        },
    )
    try:
        with _opener.open(request, timeout=timeout) as response:
            response.read(_ERROR_BODY_CHARS)  # drain a little; the body is not used
            status = response.status
    except urllib.error.HTTPError as exc:
        with exc:
            detail = exc.read(_ERROR_BODY_CHARS).decode("utf-8", "replace").strip()
        return exc.code, f"HTTP {exc.code}" + (f": {detail}" if detail else "")
    except (OSError, http.client.HTTPException, ValueError) as exc:
        # URLError, refused connections, timeouts (OSError); broken responses (HTTPException).
        reason = getattr(exc, "reason", None) or exc
        return None, f"{type(exc).__name__}: {reason}"
    if 200 <= status < 300:
        return status, None
    return status, f"HTTP {status}"  # 1xx and the like: not an acknowledgement


def _finish(
    db: Database, claimed: _Claimed, status_code: int | None, error: str | None, now: datetime
) -> None:
    if error is None:
        values: dict[str, Any] = {
            "status": "delivered",
            "delivered_at": now,
            "last_status_code": status_code,
            "last_error": None,
        }
    elif claimed.attempts >= MAX_ATTEMPTS or not claimed.active:
        values = {"status": "failed", "last_status_code": status_code, "last_error": error}
    else:
        values = {
            "next_attempt_at": now + retry_delay(claimed.attempts),
            "last_status_code": status_code,
            "last_error": error,
        }
    with db.session() as session:
        # Only while our claim stands: if it expired and another worker re-claimed the row
        # (attempts moved on), that worker's result is the one to keep.
        session.execute(
            update(WebhookDelivery)
            .where(
                WebhookDelivery.id == claimed.id,
                WebhookDelivery.attempts == claimed.attempts,
                WebhookDelivery.status == "pending",
            )
            .values(**values)
            .execution_options(synchronize_session=False)
        )
