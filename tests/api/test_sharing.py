"""Connections and sharing through the REST API: every way a user can get it wrong answers with
the one error shape, naming the field where there is one. (What a connected organization sees,
and what an unconnected one does not, is in test_isolation.py.)"""

from __future__ import annotations

from tests.api.conftest import World


def _problem(response, status: int, code: str, field: str | None = None) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == code, body
    if field is not None:
        assert [f["field"] for f in body["fields"]] == [field], body
    return body


def test_invitations_that_are_refused(world: World) -> None:
    url = "/api/v1/connections"
    body = _problem(
        world.post("acme_admin", url, json={"slug": "acme"}), 422, "validation_error", "slug"
    )
    assert "your own organization" in body["message"]
    body = _problem(
        world.post("acme_admin", url, json={"slug": "nobody"}), 422, "validation_error", "slug"
    )
    assert "no organization 'nobody'" in body["message"]
    _problem(world.post("acme_admin", url, json={"slug": ""}), 422, "invalid_request", "slug")
    _problem(world.post("acme_admin", url, json={}), 422, "invalid_request", "slug")
    _problem(
        world.post("acme_admin", url, json={"slug": "beta", "shared": True}),
        422,
        "invalid_request",
        "shared",
    )
    for who in ("acme_manager", "acme_rep1"):
        body = _problem(world.post(who, url, json={"slug": "beta"}), 403, "forbidden")
        assert "admin role" in body["message"]
    # ACME and GAMMA are connected already (either side asking)
    body = _problem(world.post("acme_admin", url, json={"slug": "gamma"}), 409, "conflict", "slug")
    assert "already connected" in body["message"]
    _problem(world.post("gamma_admin", url, json={"slug": "acme"}), 409, "conflict", "slug")


def test_an_invitation_answered_and_ended_once(world: World) -> None:
    sent = world.post("beta_admin", "/api/v1/connections", json={"slug": "gamma"})
    assert sent.status_code == 201, sent.text
    invitation = sent.json()
    assert (invitation["status"], invitation["direction"], invitation["partner_slug"]) == (
        "pending",
        "outgoing",
        "gamma",
    )
    assert invitation["invited_by"] == world.users["beta_admin"]
    cid = invitation["id"]
    # sent twice, or sent back: refused, naming the field
    body = _problem(
        world.post("beta_admin", "/api/v1/connections", json={"slug": "gamma"}),
        409,
        "conflict",
        "slug",
    )
    assert "already invited" in body["message"]
    body = _problem(
        world.post("gamma_admin", "/api/v1/connections", json={"slug": "beta"}),
        409,
        "conflict",
        "slug",
    )
    assert f"accept their invitation (connection {cid})" in body["message"]
    # GAMMA's admin was told; everyone at GAMMA sees the invitation, only its admin answers
    notes = world.get("gamma_admin", "/api/v1/notifications").json()
    assert notes[0]["kind"] == "connection_invited" and "Beta" in notes[0]["message"]
    pending = world.get("gamma_rep", "/api/v1/connections", params={"status": "pending"}).json()
    assert [(c["id"], c["direction"], c["partner_slug"], c["invited_by"]) for c in pending] == [
        (cid, "incoming", "beta", None)
    ]
    for action in ("accept", "decline", "end"):
        _problem(world.post("gamma_rep", f"/api/v1/connections/{cid}/{action}"), 403, "forbidden")
    # the inviter cannot answer its own invitation
    body = _problem(world.post("beta_admin", f"/api/v1/connections/{cid}/accept"), 409, "conflict")
    assert "you sent this invitation" in body["message"]

    accepted = world.post("gamma_admin", f"/api/v1/connections/{cid}/accept")
    assert accepted.status_code == 200, accepted.text
    assert (accepted.json()["status"], accepted.json()["responded_by"]) == (
        "active",
        world.users["gamma_admin"],
    )
    assert world.get("beta_admin", "/api/v1/notifications").json()[0]["kind"] == (
        "connection_accepted"
    )
    # accepting twice, declining an accepted one
    body = _problem(world.post("gamma_admin", f"/api/v1/connections/{cid}/accept"), 409, "conflict")
    assert "is active, not a pending invitation" in body["message"]
    _problem(world.post("gamma_admin", f"/api/v1/connections/{cid}/decline"), 409, "conflict")

    ended = world.post("beta_admin", f"/api/v1/connections/{cid}/end")
    assert ended.status_code == 200 and ended.json()["ended_by_side"] == "us", ended.text
    body = _problem(world.post("gamma_admin", f"/api/v1/connections/{cid}/end"), 409, "conflict")
    assert "already ended" in body["message"]
    assert world.get("gamma_admin", "/api/v1/notifications").json()[0]["kind"] == (
        "connection_ended"
    )
    listed = world.get("beta_admin", "/api/v1/connections").json()
    assert [(c["id"], c["status"]) for c in listed] == [(cid, "ended")]


def test_a_declined_invitation(world: World) -> None:
    cid = world.post("beta_admin", "/api/v1/connections", json={"slug": "acme"}).json()["id"]
    declined = world.post("acme_admin", f"/api/v1/connections/{cid}/decline")
    assert declined.status_code == 200 and declined.json()["status"] == "declined", declined.text
    _problem(world.post("acme_admin", f"/api/v1/connections/{cid}/decline"), 409, "conflict")
    _problem(world.post("acme_admin", f"/api/v1/connections/{cid}/end"), 409, "conflict")
    assert world.get("beta_admin", "/api/v1/notifications").json()[0]["kind"] == (
        "connection_declined"
    )
    # a declined invitation may be sent again
    again = world.post("beta_admin", "/api/v1/connections", json={"slug": "acme"})
    assert again.status_code == 201, again.text


def test_connection_ids_that_do_not_exist(world: World) -> None:
    for url in (
        "/api/v1/connections/999999",
        "/api/v1/connections/999999/accept",
        "/api/v1/connections/999999/end",
    ):
        method = "GET" if url.endswith("999999") else "POST"
        _problem(world.request("acme_admin", method, url), 404, "not_found")
    for bad in ("0", "-1", "abc", str(2**31)):
        _problem(world.get("acme_admin", f"/api/v1/connections/{bad}"), 422, "invalid_request")
    _problem(
        world.get("acme_admin", "/api/v1/connections", params={"status": "lost"}),
        422,
        "invalid_request",
    )


def test_only_vat_based_types_can_be_shared(world: World) -> None:
    body = _problem(
        world.post(
            "acme_manager",
            "/api/v1/segment-types",
            json={"name": "X", "method": "pareto", "shared": True},
        ),
        422,
        "validation_error",
        "shared",
    )
    assert "only VAT-based types can be shared" in body["message"]
    pareto = world.ids["pareto"]
    _problem(
        world.request(
            "acme_manager", "PATCH", f"/api/v1/segment-types/{pareto}", json={"shared": True}
        ),
        422,
        "validation_error",
        "shared",
    )
    # a VAT-based type may be shared, and then not turned into an ID-based one
    created = world.post(
        "acme_manager",
        "/api/v1/segment-types",
        json={"name": "By VAT", "method": "pareto", "identity": "vat", "shared": True},
    )
    assert created.status_code == 201 and created.json()["shared"] is True, created.text
    _problem(
        world.request(
            "acme_manager",
            "PATCH",
            f"/api/v1/segment-types/{created.json()['id']}",
            json={"identity": "id"},
        ),
        422,
        "validation_error",
        "shared",
    )
