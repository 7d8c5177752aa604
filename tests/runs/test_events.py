"""Notifications and webhook events when a run ends or segments change: who is told, what they
read, which endpoints get which event, and that another organization never notices."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from segmint.errors import NotFound
from segmint.metadata.base import utcnow
from segmint.runs.events import MAX_CHANGES, run_finished, segments_changed
from segmint.runs.models import Notification, Run, WebhookDelivery, WebhookEndpoint
from segmint.runs.notifications import (
    list_notifications,
    mark_all_read,
    mark_read,
    unread_count,
)
from segmint.runs.service import reap_expired
from segmint.runs.webhooks import add_endpoint
from segmint.segments.models import SegmentType


def notifications(db, run_id=None):
    with db.read_session() as session:
        query = select(Notification).order_by(Notification.user_id)
        if run_id is not None:
            query = query.where(Notification.run_id == run_id)
        return list(session.scalars(query))


def deliveries(db):
    with db.read_session() as session:
        return list(session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))


def endpoint(db, actor, events=None, url="https://hooks.example/segmint"):
    with db.session() as session:
        created, _secret = add_endpoint(session=session, actor=actor, url=url, events=events)
        return created.id


# -- notifications ---------------------------------------------------------------------------------


def test_success_notifies_admins_managers_and_the_requesting_rep(db, orgs, finish_run):
    a, _ = orgs
    summary = {"customers": 3412, "changed": 57}
    run_id = finish_run(a, summary=summary, requested_by=a.rep.user_id)

    found = notifications(db, run_id)
    assert {n.user_id for n in found} == {a.admin.user_id, a.manager.user_id, a.rep.user_id}
    assert a.inactive_manager_id not in {n.user_id for n in found}
    assert {n.kind for n in found} == {"run_succeeded"}
    assert {n.organization_id for n in found} == {a.id}
    assert {n.message for n in found} == {
        "Sales Performance: automatic assignment finished — 3,412 customers, 57 changed segment"
    }
    assert all(n.read_at is None for n in found)


def test_a_requesting_manager_is_notified_once(db, orgs, finish_run):
    a, _ = orgs
    run_id = finish_run(a, summary={"customers": 1, "changed": 0}, requested_by=a.manager.user_id)

    found = notifications(db, run_id)
    assert sorted(n.user_id for n in found) == sorted([a.admin.user_id, a.manager.user_id])
    assert found[0].message.endswith("— 1 customer, 0 changed segment")


def test_a_scheduled_run_without_summary_gets_a_plain_message(db, orgs, finish_run):
    a, _ = orgs
    run_id = finish_run(a, summary=None, requested_by=None)

    found = notifications(db, run_id)
    assert len(found) == 2  # admin and manager; the rep asked for nothing
    assert found[0].message == "Sales Performance: automatic assignment finished"


def test_failure_says_why(db, orgs, finish_run):
    a, _ = orgs
    run_id = finish_run(a, status="failed", error="no sales in the period")

    found = notifications(db, run_id)
    assert {n.kind for n in found} == {"run_failed"}
    assert found[0].message == (
        "Sales Performance: automatic assignment failed — no sales in the period"
    )


def test_notify_off_sends_no_notification_but_webhooks_still_go(db, orgs, finish_run):
    a, _ = orgs
    endpoint(db, a.admin)
    run_id = finish_run(a, requested_by=a.rep.user_id, notify=False)

    assert notifications(db, run_id) == []
    assert [d.event for d in deliveries(db)] == ["run.succeeded"]


def test_another_organization_never_sees_the_run(db, orgs, finish_run):
    a, b = orgs
    endpoint(db, b.admin)  # b listens to everything, of its own
    finish_run(a, summary={"customers": 5, "changed": 2}, requested_by=a.rep.user_id)

    with db.read_session() as session:
        for actor in (b.admin, b.manager, b.rep):
            assert list_notifications(session=session, actor=actor) == []
            assert unread_count(session=session, actor=actor) == 0
    assert deliveries(db) == []


def test_a_requester_from_another_organization_is_not_notified(db, orgs, finish_run):
    a, b = orgs
    run_id = finish_run(a, requested_by=b.admin.user_id)  # corrupt data must not leak

    assert b.admin.user_id not in {n.user_id for n in notifications(db, run_id)}


def test_an_unfinished_run_is_not_announced(db, orgs):
    a, _ = orgs
    with db.session() as session:
        run = Run(organization_id=a.id, type_id=a.type_id, status="running")
        session.add(run)
        session.flush()
        with pytest.raises(ValueError, match="running"):
            run_finished(session=session, run=run, segment_type=session.get(SegmentType, a.type_id))


def test_a_run_whose_worker_died_is_announced_as_failed(db, orgs):
    a, _ = orgs
    endpoint(db, a.manager, events=["run.failed"])
    with db.session() as session:
        run = Run(
            organization_id=a.id,
            type_id=a.type_id,
            status="running",
            requested_by=a.rep.user_id,
            lease_expires_at=utcnow() - timedelta(minutes=1),
        )
        session.add(run)
        session.flush()
        run_id = run.id
    with db.session() as session:
        assert reap_expired(session=session) == [run_id]

    found = notifications(db, run_id)
    assert {n.user_id for n in found} == {a.admin.user_id, a.manager.user_id, a.rep.user_id}
    assert {n.kind for n in found} == {"run_failed"}
    assert "lease expired" in found[0].message
    (delivery,) = deliveries(db)
    payload = json.loads(delivery.payload)
    assert (delivery.event, payload["data"]["run_id"]) == ("run.failed", run_id)
    assert payload["data"]["status"] == "failed"


# -- webhook events --------------------------------------------------------------------------------


def test_run_event_payload(db, orgs, finish_run):
    a, _ = orgs
    endpoint_id = endpoint(db, a.admin)
    summary = {"customers": 10, "changed": 3}
    run_id = finish_run(a, summary=summary)

    (delivery,) = deliveries(db)
    assert (delivery.endpoint_id, delivery.organization_id) == (endpoint_id, a.id)
    assert (delivery.status, delivery.attempts) == ("pending", 0)
    assert len(delivery.event_id) == 32
    payload = json.loads(delivery.payload)
    with db.read_session() as session:
        run = session.get(Run, run_id)
        assert run is not None
        assert payload == {
            "id": delivery.event_id,
            "event": "run.succeeded",
            "created_at": payload["created_at"],
            "organization": "acme",
            "data": {
                "run_id": run_id,
                "type_id": a.type_id,
                "type_name": "Sales Performance",
                "status": "succeeded",
                "summary": summary,
                "error": None,
                "finished_at": run.finished_at.isoformat(),
            },
        }
    assert payload["created_at"].endswith("+00:00")


def test_endpoints_get_only_the_events_they_subscribe_to(db, orgs, finish_run):
    a, _ = orgs
    failures = endpoint(db, a.admin, events=["run.failed"])
    changes = endpoint(db, a.admin, events=["segment.changed"])
    everything = endpoint(db, a.admin, events=[])
    disabled = endpoint(db, a.admin)
    with db.session() as session:
        session.get(WebhookEndpoint, disabled).active = False

    finish_run(a)
    finish_run(a, status="failed", error="x")
    with db.session() as session:
        change = {"customer_key": "C1", "from": "B", "to": "A", "source": "automatic"}
        segments_changed(session=session, organization_id=a.id, type_id=a.type_id, changes=[change])

    got = {(d.endpoint_id, d.event) for d in deliveries(db)}
    assert got == {
        (everything, "run.succeeded"),
        (failures, "run.failed"),
        (everything, "run.failed"),
        (changes, "segment.changed"),
        (everything, "segment.changed"),
    }
    # One event, one id: both endpoints that took run.failed got the same event and body.
    failed = [d for d in deliveries(db) if d.event == "run.failed"]
    assert len({d.event_id for d in failed}) == 1
    assert len({d.payload for d in failed}) == 1


def test_segment_changed_payload(db, orgs):
    a, _ = orgs
    endpoint(db, a.admin, events=["segment.changed"])
    changes = [
        {"customer_key": "C1", "from": "B", "to": "A", "source": "automatic"},
        {"customer_key": "C2", "from": None, "to": "C", "source": "manual"},
    ]
    with db.session() as session:
        segments_changed(
            session=session, organization_id=a.id, type_id=a.type_id, changes=changes, run_id=7
        )

    (delivery,) = deliveries(db)
    payload = json.loads(delivery.payload)
    assert payload["event"] == "segment.changed"
    assert payload["data"] == {
        "type_id": a.type_id,
        "type_name": "Sales Performance",
        "run_id": 7,
        "changes": changes,
        "total": 2,
        "truncated": False,
    }


def test_segment_changed_is_capped_and_says_so(db, orgs):
    a, _ = orgs
    endpoint(db, a.admin)
    many = [
        {"customer_key": f"C{i}", "from": "A", "to": "B", "source": "automatic"}
        for i in range(MAX_CHANGES + 500)
    ]
    with db.session() as session:
        # The worker's call: the first 1000 and the count.
        segments_changed(
            session=session,
            organization_id=a.id,
            type_id=a.type_id,
            changes=many[:MAX_CHANGES],
            total=len(many),
        )
        # A caller that forgot to batch is cut here too.
        segments_changed(session=session, organization_id=a.id, type_id=a.type_id, changes=many)
        # Nothing changed: nothing to say.
        segments_changed(session=session, organization_id=a.id, type_id=a.type_id, changes=[])

    datas = [json.loads(d.payload)["data"] for d in deliveries(db)]
    assert len(datas) == 2
    for data in datas:
        assert len(data["changes"]) == MAX_CHANGES
        assert data["changes"][0]["customer_key"] == "C0"
        assert (data["total"], data["truncated"]) == (MAX_CHANGES + 500, True)


def test_events_roll_back_with_their_transaction(db, orgs, finish_run):
    a, _ = orgs
    endpoint(db, a.admin)
    with pytest.raises(RuntimeError), db.session() as session:
        change = {"customer_key": "C1", "from": "B", "to": "A", "source": "automatic"}
        segments_changed(session=session, organization_id=a.id, type_id=a.type_id, changes=[change])
        raise RuntimeError("the run's swap failed")

    assert deliveries(db) == []


# -- reading notifications -------------------------------------------------------------------------


def test_reading_and_dismissing_own_notifications(db, orgs, finish_run):
    a, _ = orgs
    first = finish_run(a, summary={"customers": 1, "changed": 1})
    second = finish_run(a, status="failed", error="boom")

    with db.session() as session:
        mine = list_notifications(session=session, actor=a.manager)
        assert [n.run_id for n in mine] == [second, first]  # newest first
        assert {n.user_id for n in mine} == {a.manager.user_id}
        assert unread_count(session=session, actor=a.manager) == 2
        assert len(list_notifications(session=session, actor=a.manager, limit=1)) == 1

        read = mark_read(session=session, actor=a.manager, notification_id=mine[1].id)
        assert read.read_at is not None
        again = mark_read(session=session, actor=a.manager, notification_id=mine[1].id)
        assert again.read_at == read.read_at
        unread = list_notifications(session=session, actor=a.manager, unread_only=True)
        assert [n.id for n in unread] == [mine[0].id]
        assert unread_count(session=session, actor=a.manager) == 1

        # The admin's copies are untouched by the manager's reading.
        assert unread_count(session=session, actor=a.admin) == 2
        assert mark_all_read(session=session, actor=a.manager) == 1
        assert unread_count(session=session, actor=a.manager) == 0
        assert mark_all_read(session=session, actor=a.manager) == 0
        assert unread_count(session=session, actor=a.admin) == 2


def test_someone_elses_notification_is_not_found(db, orgs, finish_run):
    a, b = orgs
    finish_run(a)
    with db.session() as session:
        (admins,) = list_notifications(session=session, actor=a.admin)
        for stranger in (a.manager, a.rep, b.admin):
            with pytest.raises(NotFound):
                mark_read(session=session, actor=stranger, notification_id=admins.id)
        with pytest.raises(NotFound):
            mark_read(session=session, actor=a.admin, notification_id=admins.id + 1000)
        assert list_notifications(session=session, actor=a.admin)[0].read_at is None


def test_the_system_actor_has_no_notifications(db, orgs, finish_run):
    a, _ = orgs
    finish_run(a)
    with db.session() as session:
        assert list_notifications(session=session, actor=a.system) == []
        assert unread_count(session=session, actor=a.system) == 0
        assert mark_all_read(session=session, actor=a.system) == 0
        with pytest.raises(NotFound):
            mark_read(session=session, actor=a.system, notification_id=1)
