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
