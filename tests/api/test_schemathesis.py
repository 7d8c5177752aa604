"""schemathesis against the live app on loopback, on SQLite and on PostgreSQL.

The app is served by uvicorn on 127.0.0.1 and the ``schemathesis run`` command drives it over
HTTP: examples, coverage and fuzzing phases with a bounded number of examples per operation,
then the stateful phase, which follows the schema's links (create a type -> run it -> read the
run …). The checks: no 5xx, and every status code, content type, header and body as documented.

Requests act as an admin of ACME through an API token created for the run (so every write is
allowed and reaches the services). Its token id is made larger than any a generated request is
likely to revoke by creating other tokens first.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import uvicorn

from segmint.accounts import access
from tests.api.conftest import World

CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
    ]
)


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """The world's app served by uvicorn in a thread (its lifespan already ran in the world)."""

    def __init__(self, app: object) -> None:
        self.port = _port()
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


def _token(world: World) -> str:
    with world.db.session() as session:
        actor = world.actors["acme_admin"]
        for i in range(200):
            access.create_token(session=session, actor=world.actors["acme_rep1"], name=f"pad {i}")
        _, secret = access.create_token(session=session, actor=actor, name="schemathesis")
    return secret


@pytest.mark.slow
def test_schemathesis_finds_no_server_error_and_no_schema_violation(
    world: World, tmp_path: Path
) -> None:
    token = _token(world)
    schemathesis = Path(sys.executable).with_name("schemathesis")
    with LiveServer(world.app) as url:
        done = subprocess.run(
            [
                str(schemathesis),
                "run",
                f"{url}/api/v1/openapi.json",
                "--header",
                f"Authorization: Bearer {token}",
                "--checks",
                CHECKS,
                "--max-examples",
                "15",
                "--phases",
                "examples,coverage,fuzzing,stateful",
                "--seed",
                "20261123",
                "--workers",
                "1",
                "--request-timeout",
                "30",
                "--max-failures",
                "20",
                "--report",
                "junit",
                "--report-dir",
                str(tmp_path),
            ],
            capture_output=True,
            text=True,
            timeout=1200,
            check=False,
            cwd=tmp_path,  # schemathesis keeps a .schemathesis folder in its working directory
        )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-15000:]
    # It really ran: every phase, and (stateful) sequences of linked operations.
    assert "Stateful" in output or "stateful" in output, output[-3000:]
    assert "No issues found" in output or "passed" in output.lower(), output[-3000:]
