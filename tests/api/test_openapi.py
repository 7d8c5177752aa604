"""The OpenAPI schema: every response an operation can give is documented with the error shape,
and the schema is pinned in ``docs/openapi.json`` (refresh it with ``make openapi``, which runs
this module: ``python -m tests.api.test_openapi``), so a change to the API is a visible diff."""

from __future__ import annotations

import json
from pathlib import Path

from segmint.settings import Settings
from segmint.web.app import create_app

SNAPSHOT = Path(__file__).parents[2] / "docs" / "openapi.json"
PROBLEM = "#/components/schemas/Problem"


def current_schema() -> dict:
    app = create_app(Settings(data_dir=Path("/nonexistent/segmint"), _env_file=None))
    return app.openapi()


def render(schema: dict) -> str:
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def api_operations(schema: dict):
    for path, item in schema["paths"].items():
        if path.startswith("/api/"):
            for method, operation in item.items():
                yield method, path, operation


def test_every_operation_documents_its_errors_with_the_problem_shape() -> None:
    schema = current_schema()
    for method, path, operation in api_operations(schema):
        responses = operation["responses"]
        where = f"{method.upper()} {path}"
        for status in ("401", "403", "422", "500"):
            assert status in responses, f"{where}: {status} not documented"
        if "{" in path:
            assert "404" in responses, f"{where}: 404 not documented"
        for status, response in responses.items():
            if int(status) >= 400:
                ref = response["content"]["application/json"]["schema"]["$ref"]
                assert ref == PROBLEM, f"{where} {status}: not the Problem shape"
        assert any(200 <= int(s) < 300 for s in responses), f"{where}: no success response"


def test_the_schema_matches_the_pinned_copy() -> None:
    assert SNAPSHOT.exists(), "docs/openapi.json is missing; run make openapi"
    assert SNAPSHOT.read_text() == render(current_schema()), (
        "the API changed; review the diff and run make openapi"
    )


if __name__ == "__main__":
    SNAPSHOT.write_text(render(current_schema()))
    print(f"wrote {SNAPSHOT}")
