"""One error shape for every failure; hostile ids and strings get a 4xx, never a 500; bodies
over the limit are refused before they are read; a 500 carries a correlation id that is in the
server log and no stack trace."""

from __future__ import annotations

import logging
from urllib.parse import quote

import pytest
from starlette.testclient import TestClient

from segmint.web.app import SECURITY_HEADERS
from tests.api.conftest import World

SHAPE = {"status", "code", "message", "fields", "correlation_id"}


def assert_problem(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == SHAPE, body
    assert body["status"] == status
    assert response.headers["X-Correlation-ID"] == body["correlation_id"]
    if code:
        assert body["code"] == code
    assert "Traceback" not in response.text and "SELECT" not in response.text
    return body


def test_service_validation_names_the_field(sqlite_world: World) -> None:
    w = sqlite_world
    body = {
        "name": "Bad tiers",
        "method": "pareto",
        "segments": [{"name": "A", "threshold": "80"}, {"name": "B", "threshold": "15"}],
    }
    problem = assert_problem(w.post("acme_manager", "/api/v1/segment-types", json=body), 422)
    assert problem["code"] == "validation_error"
    assert problem["fields"][0]["field"].startswith("segments")
    assert "100" in problem["message"]


def test_request_validation_names_the_field(sqlite_world: World) -> None:
    w = sqlite_world
    body = {"name": "X", "method": "kmeans"}
    problem = assert_problem(w.post("acme_manager", "/api/v1/segment-types", json=body), 422)
    assert problem["code"] == "invalid_request"
    assert problem["fields"][0]["field"] == "method"


def test_a_name_in_use_is_a_conflict(sqlite_world: World) -> None:
    body = {"name": "ACME Sales", "method": "pareto"}
    problem = assert_problem(
        sqlite_world.post("acme_manager", "/api/v1/segment-types", json=body), 409, "conflict"
    )
    assert problem["fields"][0]["field"] == "name"


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/segment-types/9223372036854775808",
        "/api/v1/segment-types/-1",
        "/api/v1/segment-types/0",
        "/api/v1/segment-types/1e3",
        "/api/v1/runs/99999999999999999999999",
        "/api/v1/users/%00",
    ],
)
def test_ids_out_of_range_are_4xx(sqlite_world: World, path: str) -> None:
    response = sqlite_world.get("acme_manager", path)
    assert 400 <= response.status_code < 500
    assert set(response.json()) == SHAPE


@pytest.mark.parametrize(
    "value",
    ["C\x00", "%00", "😀" * 50, "ﷺ" * 199, "x" * 5000, "'; DROP TABLE customers; --", "\\"],
)
def test_strange_strings_are_4xx_or_answered(sqlite_world: World, value: str) -> None:
    w = sqlite_world
    for response in (
        w.get("acme_manager", "/api/v1/customers", params={"search": value}),
        w.get("acme_manager", f"/api/v1/customers/{quote(value, safe='')}"),
        w.get("acme_manager", "/api/v1/customers", params={"branch": value}),
        w.post(
            "acme_manager",
            f"/api/v1/segment-types/{w.ids['pareto']}/overrides",
            json={"customer_key": value, "segment": value, "reason": value},
        ),
        w.post("acme_manager", "/api/v1/segment-types", json={"name": value, "method": "rfm"}),
    ):
        assert response.status_code < 500, response.text
        if response.status_code >= 400:
            assert set(response.json()) == SHAPE


def test_nul_in_a_body_is_refused_with_the_field(sqlite_world: World) -> None:
    w = sqlite_world
    response = w.post("acme_manager", "/api/v1/tokens", json={"name": "a\x00b"})
    problem = assert_problem(response, 422, "invalid_request")
    assert problem["fields"][0]["field"] == "name"


def test_a_body_over_the_limit_is_refused_before_it_is_read(sqlite_world: World) -> None:
    w = sqlite_world
    big = b'{"name": "' + b"x" * (w.settings.max_body_bytes + 10) + b'"}'
    response = w.client.post(
        "/api/v1/tokens",
        content=big,
        headers={**w.headers("acme_manager"), "content-type": "application/json"},
    )
    assert_problem(response, 413, "payload_too_large")

    def chunks():
        for _ in range(w.settings.max_body_bytes // 65536 + 2):
            yield b"x" * 65536

    streamed = w.client.post(
        "/api/v1/tokens",
        content=chunks(),
        headers={**w.headers("acme_manager"), "content-type": "application/json"},
    )
    assert streamed.status_code == 413


def test_malformed_json_is_a_422(sqlite_world: World) -> None:
    w = sqlite_world
    response = w.client.post(
        "/api/v1/tokens",
        content=b"{not json",
        headers={**w.headers("acme_manager"), "content-type": "application/json"},
    )
    assert_problem(response, 422)


def test_unknown_routes_and_methods_have_the_shape(sqlite_world: World) -> None:
    w = sqlite_world
    assert_problem(w.get("acme_manager", "/api/v1/nothing-here"), 404, "not_found")
    assert_problem(w.request("acme_manager", "PUT", "/api/v1/me"), 405, "method_not_allowed")


def test_security_headers_on_answers_and_errors(sqlite_world: World) -> None:
    w = sqlite_world
    for response in (
        w.get("acme_manager", "/api/v1/me"),
        w.get("acme_manager", "/api/v1/segment-types/999999"),
        w.client.get("/api/v1/me"),
    ):
        for name, value in SECURITY_HEADERS.items():
            assert response.headers[name] == value


def test_an_unexpected_error_is_a_500_with_a_logged_correlation_id(
    sqlite_world: World, caplog: pytest.LogCaptureFixture
) -> None:
    w = sqlite_world

    def explode() -> None:
        raise RuntimeError("secret internals: SELECT * FROM users")

    w.app.add_api_route("/api/v1/explode", explode, include_in_schema=False)
    client = TestClient(w.app, raise_server_exceptions=False)
    with caplog.at_level(logging.ERROR, logger="segmint.api"):
        response = client.get("/api/v1/explode")
    problem = assert_problem(response, 500, "internal_error")
    assert "secret internals" not in response.text
    assert problem["correlation_id"] in problem["message"]
    logged = [r for r in caplog.records if problem["correlation_id"] in r.getMessage()]
    assert logged and logged[0].exc_info is not None
