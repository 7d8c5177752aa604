"""Login, the session cookie, CSRF, logout, session expiry, login throttling and API tokens."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from segmint.accounts.models import LoginFailure, WebSession
from segmint.api.security import COOKIE
from segmint.metadata.base import utcnow
from tests.api.conftest import PASSWORD, World

LOGIN = "/api/v1/auth/login"


def login(world: World, who: str, password: str = PASSWORD, **kwargs):
    email = f"{who}@{who.split('_')[0]}.test"
    return world.client.post(LOGIN, json={"email": email, "password": password}, **kwargs)


def test_login_sets_a_protected_cookie_and_me_answers(sqlite_world: World) -> None:
    w = sqlite_world
    r = login(w, "acme_manager")
    assert r.status_code == 200, r.text
    assert r.json()["user"]["role"] == "manager"
    assert r.json()["organization"]["slug"] == "acme"
    cookie = r.headers["set-cookie"]
    assert f"{COOKIE}=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert "Secure" not in cookie  # plain http here; https requests get Secure
    me = w.client.get("/api/v1/me")
    assert me.status_code == 200 and me.json()["user"]["email"] == "acme_manager@acme.test"
    assert me.json()["csrf_token"] == r.json()["csrf_token"]


def test_the_cookie_is_secure_over_https(sqlite_world: World) -> None:
    w = sqlite_world
    r = w.client.post(
        "https://testserver" + LOGIN,
        json={"email": "acme_manager@acme.test", "password": PASSWORD},
    )
    assert r.status_code == 200
    assert "Secure" in r.headers["set-cookie"]


def test_a_wrong_password_and_an_unknown_user_get_the_same_answer(sqlite_world: World) -> None:
    w = sqlite_world
    wrong = login(w, "acme_manager", "not the password")
    unknown = w.client.post(LOGIN, json={"email": "nobody@acme.test", "password": "whatever1"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["code"] == unknown.json()["code"] == "login_failed"
    assert wrong.json()["message"] == unknown.json()["message"]
    assert COOKIE not in w.client.cookies


def test_cookie_writes_need_the_csrf_token(sqlite_world: World) -> None:
    w = sqlite_world
    csrf = login(w, "acme_manager").json()["csrf_token"]
    body = {"name": "Via cookie", "method": "pareto"}
    refused = w.client.post("/api/v1/segment-types", json=body)
    assert refused.status_code == 403 and "CSRF" in refused.json()["message"]
    wrong = w.client.post("/api/v1/segment-types", json=body, headers={"X-CSRF-Token": "x" * 43})
    assert wrong.status_code == 403
    names = [t["name"] for t in w.client.get("/api/v1/segment-types").json()]
    assert "Via cookie" not in names  # nothing was written by the refused requests
    ok = w.client.post("/api/v1/segment-types", json=body, headers={"X-CSRF-Token": csrf})
    assert ok.status_code == 201, ok.text


def test_a_tampered_cookie_is_not_a_session(sqlite_world: World) -> None:
    w = sqlite_world
    login(w, "acme_manager")
    value = w.client.cookies[COOKIE]
    secret, mac = value.rsplit(".", 1)
    w.client.cookies.clear()
    w.client.cookies.set(COOKIE, secret[:-1] + ("A" if secret[-1] != "A" else "B") + "." + mac)
    assert w.client.get("/api/v1/me").status_code == 401


def test_logout_ends_the_session_even_for_a_copied_cookie(sqlite_world: World) -> None:
    w = sqlite_world
    csrf = login(w, "acme_manager").json()["csrf_token"]
    copied = w.client.cookies[COOKIE]
    r = w.client.post("/api/v1/auth/logout", headers={"X-CSRF-Token": csrf})
    assert r.status_code == 204
    assert w.client.get("/api/v1/me").status_code == 401
    w.client.cookies.clear()
    w.client.cookies.set(COOKIE, copied)
    assert w.client.get("/api/v1/me").status_code == 401


def test_sessions_expire_after_their_lifetime_and_when_idle(sqlite_world: World) -> None:
    w = sqlite_world
    login(w, "acme_manager")
    assert w.client.get("/api/v1/me").status_code == 200
    with w.db.session() as session:
        session.execute(update(WebSession).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert w.client.get("/api/v1/me").status_code == 401

    login(w, "acme_manager")
    idle = w.settings.session_idle_minutes + 1
    with w.db.session() as session:
        session.execute(update(WebSession).values(last_seen_at=utcnow() - timedelta(minutes=idle)))
    assert w.client.get("/api/v1/me").status_code == 401


def test_an_active_session_is_kept_alive(sqlite_world: World) -> None:
    w = sqlite_world
    login(w, "acme_manager")
    almost = w.settings.session_idle_minutes - 1
    with w.db.session() as session:
        session.execute(
            update(WebSession).values(last_seen_at=utcnow() - timedelta(minutes=almost))
        )
    assert w.client.get("/api/v1/me").status_code == 200  # and it moves last_seen_at on
    with w.db.read_session() as session:
        (seen,) = session.scalars(select(WebSession.last_seen_at)).all()
    assert utcnow() - seen < timedelta(minutes=1)


def test_logins_are_throttled_per_account_then_released(sqlite_world: World) -> None:
    w = sqlite_world
    limit = w.settings.login_max_failures
    for _ in range(limit):
        assert login(w, "acme_manager", "wrong password").status_code == 401
    throttled = login(w, "acme_manager")  # even the right password, within the window
    assert throttled.status_code == 429
    assert throttled.json()["code"] == "too_many_requests"
    assert 1 <= int(throttled.headers["Retry-After"]) <= w.settings.login_window_minutes * 60 + 1
    assert login(w, "acme_admin").status_code == 200  # another account is not locked out
    window = w.settings.login_window_minutes + 1
    with w.db.session() as session:
        session.execute(update(LoginFailure).values(at=utcnow() - timedelta(minutes=window)))
    assert login(w, "acme_manager").status_code == 200


def test_logins_are_throttled_per_address_across_accounts(sqlite_world: World) -> None:
    w = sqlite_world
    limit = w.settings.login_max_failures * 4
    for i in range(limit):
        email = f"guess{i}@acme.test"  # a new account each time: no account limit is reached
        r = w.client.post(LOGIN, json={"email": email, "password": "wrong password"})
        assert r.status_code == 401
    assert login(w, "acme_manager").status_code == 429


def test_tokens_are_shown_once_stored_hashed_and_revocable(sqlite_world: World) -> None:
    w = sqlite_world
    created = w.post("acme_manager", "/api/v1/tokens", json={"name": "CRM sync"})
    assert created.status_code == 201
    token = created.json()["token"]
    assert token.startswith("sgm_")
    listed = w.get("acme_manager", "/api/v1/tokens").json()
    assert all("token" not in t for t in listed)
    assert token not in w.get("acme_manager", "/api/v1/tokens").text
    headers = {"Authorization": f"Bearer {token}"}
    assert w.client.get("/api/v1/me", headers=headers).status_code == 200
    revoke = w.request("acme_manager", "DELETE", f"/api/v1/tokens/{created.json()['id']}")
    assert revoke.status_code == 204
    assert w.client.get("/api/v1/me", headers=headers).status_code == 401
    (row,) = [t for t in w.get("acme_manager", "/api/v1/tokens").json() if t["name"] == "CRM sync"]
    assert row["revoked_at"] is not None


def test_a_deactivated_user_loses_sessions_and_tokens(sqlite_world: World) -> None:
    w = sqlite_world
    login(w, "acme_rep2")
    assert w.client.get("/api/v1/me").status_code == 200
    r = w.request(
        "acme_admin", "PATCH", f"/api/v1/users/{w.users['acme_rep2']}", json={"active": False}
    )
    assert r.status_code == 200 and r.json()["active"] is False
    assert w.client.get("/api/v1/me").status_code == 401
    assert w.get("acme_rep2", "/api/v1/me").status_code == 401
    assert login(w, "acme_rep2").status_code == 401


def test_requests_without_credentials_are_refused(sqlite_world: World) -> None:
    r = sqlite_world.client.get("/api/v1/customers")
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"] == "Bearer"
    assert r.json()["code"] == "unauthorized"
    bad = sqlite_world.client.get("/api/v1/me", headers={"Authorization": "Bearer sgm_nope"})
    assert bad.status_code == 401


def test_roles_limit_what_a_user_may_do(sqlite_world: World) -> None:
    w = sqlite_world
    body = {"name": "Rep type", "method": "pareto"}
    assert w.post("acme_rep1", "/api/v1/segment-types", json=body).status_code == 403
    assert (
        w.post(
            "acme_manager", "/api/v1/users", json={"email": "x@acme.test", "role": "rep"}
        ).status_code
        == 403
    )
    r = w.post("acme_admin", "/api/v1/users", json={"email": "x@acme.test", "role": "rep"})
    assert r.status_code == 201
    me = w.users["acme_admin"]
    r = w.request("acme_admin", "PATCH", f"/api/v1/users/{me}", json={"role": "rep"})
    assert r.status_code == 409 and r.json()["fields"][0]["field"] == "role"
