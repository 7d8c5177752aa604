"""What a server process does once it has started."""

from __future__ import annotations

import gc
from pathlib import Path

from fastapi.testclient import TestClient

from segmint.settings import Settings
from segmint.web.app import create_app


def test_a_started_process_freezes_what_it_has_made(tmp_path: Path) -> None:
    """Modules, classes and the app live as long as the process: after startup they are frozen
    out of the collector's full collections (which walked them in ~250 ms under load)."""
    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    settings = Settings(data_dir=tmp_path / "data", worker_in_process=False, _env_file=None)
    with TestClient(create_app(settings)) as client:
        assert client.get("/healthz").status_code == 200
        assert gc.get_freeze_count() > 10_000
