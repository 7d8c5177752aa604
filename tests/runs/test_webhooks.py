"""Webhook endpoints and delivery, against a real HTTP server on 127.0.0.1: signatures verify
with the snippet in docs/webhooks.md, failures are retried with backoff (time is stepped with
``now``, never slept), the last attempt gives up, and two deliverers never send one delivery
twice at once."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from segmint.audit.models import AuditEntry
from segmint.errors import NotFound, PermissionDenied, ValidationError
from segmint.metadata.base import utcnow
from segmint.runs.events import segments_changed
from segmint.runs.models import WebhookDelivery, WebhookEndpoint
from segmint.runs.webhooks import (
    MAX_ATTEMPTS,
    add_endpoint,
    delete_endpoint,
    deliver_due,
    list_deliveries,
    list_endpoints,
    retry_delay,
    sign,
    signature_header,
)

DOCS = Path(__file__).parents[2] / "docs" / "webhooks.md"


@dataclass
class Received:
    path: str
    headers: Message
    body: bytes


@dataclass
class Receiver:
    """A webhook receiver that records every POST and answers ``fail_status`` to the next
    ``failures`` of them (200 afterwards), after ``delay`` seconds."""

    failures: int = 0
    fail_status: int = 500
    delay: float = 0.0
    on_request: Callable[[], Any] | None = None
    requests: list[Received] = field(default_factory=list)
    callback_results: list[Any] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.lock:
                    receiver.requests.append(Received(self.path, self.headers, body))
                    fail = receiver.failures > 0
                    receiver.failures -= 1 if fail else 0
                if receiver.on_request is not None:
                    try:
                        receiver.callback_results.append(receiver.on_request())
                    except BaseException as exc:  # reported by the test, not lost in a thread
                        receiver.errors.append(exc)
                time.sleep(receiver.delay)
                status = receiver.fail_status if fail else 200
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", "http://127.0.0.1:9/elsewhere")
                self.send_header("Content-Length", "4")
                self.end_headers()
                self.wfile.write(b"nope" if fail else b"done")

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep the test output clean

        return Handler


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    receiver.server = ThreadingHTTPServer(("127.0.0.1", 0), receiver.handler())
    thread = threading.Thread(target=receiver.server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()
    thread.join()
    assert receiver.errors == []


def docs_verify() -> Callable[..., bool]:
    """The ``verify`` function of docs/webhooks.md, run as written."""
    (snippet,) = re.findall(r"```python\n(.*?)```", DOCS.read_text(), flags=re.S)
    namespace: dict[str, Any] = {}
    exec(compile(snippet, str(DOCS), "exec"), namespace)
    return namespace["verify"]


def add(db, actor, url, events=None, secret=None) -> tuple[int, str]:
    with db.session() as session:
        created, secret = add_endpoint(
            session=session, actor=actor, url=url, events=events, secret=secret
        )
        return created.id, secret


def emit(db, org, customer="C1") -> None:
    """One segment.changed event of the organization, to each subscribed endpoint."""
    change = {"customer_key": customer, "from": "B", "to": "A", "source": "automatic"}
    with db.session() as session:
        segments_changed(
            session=session, organization_id=org.id, type_id=org.type_id, changes=[change]
        )


def stored(db) -> list[WebhookDelivery]:
    with db.read_session() as session:
        return list(session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))


# -- endpoints -------------------------------------------------------------------------------------


REFUSED = [
    ({"url": "ftp://hooks.example/x"}, "url"),
    ({"url": "javascript:alert(1)"}, "url"),
    ({"url": "https://"}, "url"),
    ({"url": "hooks.example/x"}, "url"),
    ({"url": "https://hooks.example/a b"}, "url"),
    ({"url": "https://hooks.example:port/x"}, "url"),
    ({"url": "https://hooks.example/" + "x" * 2000}, "url"),
    ({"url": 42}, "url"),
    ({"events": ["run.finished"]}, "events"),
    ({"events": "run.finished"}, "events"),
    ({"secret": "short"}, "secret"),
    ({"secret": "x" * 201}, "secret"),
]


def test_add_endpoint_names_the_field_it_refuses(db, orgs):
    a, _ = orgs
    for kwargs, field_name in REFUSED:  # one loop, not one database per case
        arguments = {"url": "https://hooks.example/segmint", **kwargs}
        with db.session() as session, pytest.raises(ValidationError) as caught:
            add_endpoint(session=session, actor=a.admin, **arguments)
        assert caught.value.field == field_name, kwargs
    with db.read_session() as session:
        assert list_endpoints(session=session, actor=a.admin) == []


def test_add_endpoint(db, orgs):
    a, _ = orgs
    with db.session() as session:
        created, secret = add_endpoint(
            session=session,
            actor=a.manager,
            url="  https://hooks.example/segmint?x=1  ",
            events=["run.failed", "segment.changed", "run.failed"],
        )
        assert created.url == "https://hooks.example/segmint?x=1"
        assert created.events == ["run.failed", "segment.changed"]
        assert created.secret == secret and len(secret) >= 40
        _, other = add_endpoint(session=session, actor=a.admin, url="http://10.0.0.5:8080/h")
        assert other != secret
        _, given = add_endpoint(
            session=session, actor=a.admin, url="https://h.example", secret="s" * 32
        )
        assert given == "s" * 32
        audit = session.scalars(select(AuditEntry).where(AuditEntry.action == "webhook.create"))
        assert all("secret" not in (entry.detail or {}) for entry in audit)


def test_a_rep_cannot_manage_endpoints(db, orgs):
    a, _ = orgs
    endpoint_id, _ = add(db, a.admin, "https://hooks.example/segmint")
    with db.session() as session:
        with pytest.raises(PermissionDenied):
            add_endpoint(session=session, actor=a.rep, url="https://hooks.example/x")
        with pytest.raises(PermissionDenied):
            list_endpoints(session=session, actor=a.rep)
        with pytest.raises(PermissionDenied):
            delete_endpoint(session=session, actor=a.rep, endpoint_id=endpoint_id)
        with pytest.raises(PermissionDenied):
            list_deliveries(session=session, actor=a.rep)


def test_endpoints_and_deliveries_stay_in_their_organization(db, orgs):
    a, b = orgs
    mine, _ = add(db, a.admin, "https://a.example/hook")
    theirs, _ = add(db, b.admin, "https://b.example/hook")
    emit(db, a)
    emit(db, b)

    with db.session() as session:
        assert [e.id for e in list_endpoints(session=session, actor=a.manager)] == [mine]
        assert [d.endpoint_id for d in list_deliveries(session=session, actor=a.manager)] == [mine]
        with pytest.raises(NotFound):
            delete_endpoint(session=session, actor=a.admin, endpoint_id=theirs)
        delete_endpoint(session=session, actor=a.admin, endpoint_id=mine)
        assert list_endpoints(session=session, actor=a.admin) == []
    # The deleted endpoint's deliveries went with it; b's are untouched.
    assert [d.endpoint_id for d in stored(db)] == [theirs]


def test_list_deliveries_newest_first_and_limited(db, orgs):
    a, _ = orgs
    add(db, a.admin, "https://a.example/hook")
    for customer in ("C1", "C2", "C3"):
        emit(db, a, customer)
    with db.read_session() as session:
        recent = list_deliveries(session=session, actor=a.admin, limit=2)
    keys = [json.loads(d.payload)["data"]["changes"][0]["customer_key"] for d in recent]
    assert keys == ["C3", "C2"]


# -- signing ---------------------------------------------------------------------------------------


def test_sign_matches_the_documented_recipe():
    import hashlib
    import hmac

    body = b'{"id":"x"}'
    expected = hmac.new(b"topsecret", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert sign("topsecret", body, 1700000000) == expected
    assert signature_header("topsecret", body, 1700000000) == f"t=1700000000,v1={expected}"


def test_the_documented_verify_snippet():
    verify = docs_verify()
    body = b'{"event":"run.succeeded"}'
    now = int(time.time())
    good = signature_header("topsecret", body, now)
    assert verify("topsecret", body, good)
    assert not verify("topsecret", body + b" ", good)
    assert not verify("othersecret", body, good)
    assert not verify("topsecret", body, signature_header("topsecret", body, now - 3600))
    assert not verify("topsecret", body, "v1=abc")
    assert not verify("topsecret", body, "garbage")


# -- delivery --------------------------------------------------------------------------------------


def test_a_2xx_delivers_a_signed_event(db, orgs, receiver):
    a, _ = orgs
    _, secret = add(db, a.admin, receiver.url)
    emit(db, a)

    assert deliver_due(db) == 1

    (request,) = receiver.requests
    (delivery,) = stored(db)
    assert request.path == "/hook"
    assert request.body == delivery.payload.encode()
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["X-Segmint-Event"] == "segment.changed"
    assert request.headers["X-Segmint-Delivery"] == delivery.event_id
    assert json.loads(request.body)["id"] == delivery.event_id
    assert docs_verify()(secret, request.body, request.headers["X-Segmint-Signature"])
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("delivered", 1, 200)
    assert delivery.delivered_at is not None and delivery.last_error is None
    assert deliver_due(db, now=utcnow() + timedelta(days=1)) == 0  # never sent again


def test_failures_are_retried_with_backoff(db, orgs, receiver):
    a, _ = orgs
    add(db, a.admin, receiver.url)
    emit(db, a)
    receiver.failures = 2
    start = utcnow() + timedelta(seconds=1)

    assert deliver_due(db, now=start) == 1
    (delivery,) = stored(db)
    assert (delivery.status, delivery.attempts) == ("pending", 1)
    assert (delivery.last_status_code, delivery.last_error) == (500, "HTTP 500: nope")
    assert delivery.next_attempt_at == start + timedelta(seconds=10)

    assert deliver_due(db, now=start + timedelta(seconds=9)) == 0
    assert deliver_due(db, now=start + timedelta(seconds=10)) == 1
    assert stored(db)[0].next_attempt_at == start + timedelta(seconds=10 + 30)
    assert deliver_due(db, now=start + timedelta(seconds=39)) == 0
    assert deliver_due(db, now=start + timedelta(seconds=40)) == 1

    (delivery,) = stored(db)
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("delivered", 3, 200)
    assert delivery.last_error is None
    assert delivery.delivered_at == start + timedelta(seconds=40)
    # Every retry is the same event with the same bytes, so receivers can de-duplicate.
    assert len({r.body for r in receiver.requests}) == 1
    assert len({r.headers["X-Segmint-Delivery"] for r in receiver.requests}) == 1
    assert len(receiver.requests) == 3


def test_backoff_schedule():
    delays = [retry_delay(n).total_seconds() for n in range(1, 10)]
    assert delays == [10, 30, 90, 270, 810, 2430, 3600, 3600, 3600]


def test_gives_up_after_the_last_attempt(db, orgs, receiver):
    a, _ = orgs
    add(db, a.admin, receiver.url)
    emit(db, a)
    receiver.failures = 1000
    receiver.fail_status = 503
    now = utcnow() + timedelta(seconds=1)

    for attempt in range(1, MAX_ATTEMPTS + 1):
        assert deliver_due(db, now=now) == 1
        now += retry_delay(attempt)

    (delivery,) = stored(db)
    assert (delivery.status, delivery.attempts) == ("failed", MAX_ATTEMPTS)
    assert delivery.last_status_code == 503
    assert deliver_due(db, now=now + timedelta(days=30)) == 0
    assert len(receiver.requests) == MAX_ATTEMPTS


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_network_errors_are_recorded_and_retried(db, orgs):
    a, _ = orgs
    add(db, a.admin, f"http://127.0.0.1:{free_port()}/nobody-listens")
    emit(db, a)
    now = utcnow() + timedelta(seconds=1)

    assert deliver_due(db, now=now) == 1

    (delivery,) = stored(db)
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("pending", 1, None)
    assert "refused" in delivery.last_error.lower()
    assert delivery.next_attempt_at == now + timedelta(seconds=10)


def test_a_slow_receiver_times_out(db, orgs, receiver):
    a, _ = orgs
    add(db, a.admin, receiver.url)
    emit(db, a)
    receiver.delay = 0.5

    assert deliver_due(db, timeout=0.1) == 1

    (delivery,) = stored(db)
    assert (delivery.status, delivery.last_status_code) == ("pending", None)
    assert "timed out" in delivery.last_error


def test_a_redirect_is_not_followed(db, orgs, receiver):
    a, _ = orgs
    add(db, a.admin, receiver.url)
    emit(db, a)
    receiver.failures, receiver.fail_status = 1, 302

    assert deliver_due(db) == 1

    (delivery,) = stored(db)
    assert (delivery.status, delivery.last_status_code) == ("pending", 302)
    assert len(receiver.requests) == 1


def test_a_disabled_endpoint_fails_its_pending_deliveries(db, orgs, receiver):
    a, _ = orgs
    endpoint_id, _ = add(db, a.admin, receiver.url)
    emit(db, a)
    with db.session() as session:
        session.get(WebhookEndpoint, endpoint_id).active = False

    assert deliver_due(db) == 1

    (delivery,) = stored(db)
    assert (delivery.status, delivery.last_error) == ("failed", "the endpoint is disabled")
    assert receiver.requests == []


def test_no_transaction_is_open_during_the_post(db, orgs, receiver):
    """While the POST is in flight, the claim is committed (another connection sees it) and
    another deliverer neither waits for a lock nor sends the same delivery."""
    a, _ = orgs
    add(db, a.admin, receiver.url)
    emit(db, a)
    now = utcnow() + timedelta(seconds=1)

    def during_post() -> tuple[int, int]:
        with db.session() as session:  # a writing transaction: would wait on a held lock
            (delivery,) = session.scalars(select(WebhookDelivery))
            attempts = delivery.attempts
        return attempts, deliver_due(db, now=now)

    receiver.on_request = during_post
    started = time.monotonic()
    assert deliver_due(db, now=now) == 1
    assert time.monotonic() - started < 10  # a held SQLite lock would stall ~30 s

    assert receiver.callback_results == [(1, 0)]
    assert len(receiver.requests) == 1
    assert stored(db)[0].status == "delivered"


def test_concurrent_deliverers_never_double_send(db, orgs, receiver):
    a, _ = orgs
    for n in range(3):
        add(db, a.admin, f"{receiver.url}/{n}")
    for customer in ("C1", "C2"):
        emit(db, a, customer)  # 2 events x 3 endpoints = 6 deliveries
    receiver.delay = 0.1
    now = utcnow() + timedelta(seconds=1)
    barrier = threading.Barrier(2)
    counts: list[int] = []
    errors: list[BaseException] = []

    def deliverer() -> None:
        try:
            barrier.wait(timeout=10)
            counts.append(deliver_due(db, now=now))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=deliverer) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert sum(counts) == 6
    sent = [(r.path, r.headers["X-Segmint-Delivery"]) for r in receiver.requests]
    assert len(sent) == len(set(sent)) == 6
    assert {d.status for d in stored(db)} == {"delivered"}
    assert {d.attempts for d in stored(db)} == {1}
