"""The CLI as a process: what ``segmint --help`` loads, and ``segmint worker`` stopping on a
signal."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest


def test_help_does_not_load_the_metadata_database() -> None:
    """SQLAlchemy and Alembic add ~0.4 s; commands that do not need them must not pay that."""
    code = (
        "import sys, segmint.cli\n"
        "print(sorted(m for m in ('sqlalchemy', 'alembic') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_worker_stops_cleanly_on_a_signal(data_dir: Path, signum: int) -> None:
    worker = subprocess.Popen(
        [sys.executable, "-m", "segmint.cli", "worker"],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "SEGMINT_DATA_DIR": str(data_dir)},
    )
    try:
        assert worker.stderr is not None
        for line in worker.stderr:  # wait until it is up (and has migrated the database)
            if "started" in line:
                break
        worker.send_signal(signum)
        _, rest = worker.communicate(timeout=30)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    assert worker.returncode == 0, rest
    assert "stopped" in rest
    assert "Traceback" not in rest


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_with_two_workers_answers_from_two_processes(data_dir: Path) -> None:
    """``segmint serve --workers 2``: the database is migrated once before the processes start,
    both answer, and Ctrl-C stops them all."""
    import json
    import time
    import urllib.error
    import urllib.request

    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "segmint.cli", "serve", "--workers", "2", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "SEGMINT_DATA_DIR": str(data_dir)},
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as r:
                    assert json.load(r)["status"] == "ok"
                break
            except (urllib.error.URLError, ConnectionError):
                assert time.monotonic() < deadline, "the server did not start"
                assert server.poll() is None, server.stderr.read() if server.stderr else ""
                time.sleep(0.3)
        children = Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()
        # uvicorn's supervisor plus two serving processes (and nothing refused to start)
        assert len([c for c in children if Path(f"/proc/{c}/cmdline").exists()]) >= 2
        for _ in range(6):  # both processes answer an unauthenticated API call the same way
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/me", timeout=5)
            assert refused.value.code == 401
            refused.value.close()
        server.send_signal(signal.SIGINT)
        _, rest = server.communicate(timeout=30)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    assert "Traceback" not in rest
    assert (data_dir / "segmint.sqlite").exists()
