"""Fixtures of the insights tests: an organization on a real sales store and metadata database
(``tests/runs/support.py``) and a fresh insights cache for every test. Helpers are in
``support.py``."""

from __future__ import annotations

from pathlib import Path

import pytest

from segmint.insights import clear_cache
from segmint.metadata.database import Database
from tests.runs.support import Org, make_org


@pytest.fixture(autouse=True)
def _fresh_cache():
    clear_cache()
    yield
    clear_cache()


@pytest.fixture
def org(metadata_db: Database, tmp_path: Path) -> Org:
    return make_org(metadata_db, tmp_path)
