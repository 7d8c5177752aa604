"""Fixtures of the customer list tests: an organization on a real sales store and metadata
database (``tests/runs/support.py``) and no customer table cached from another test."""

from __future__ import annotations

from pathlib import Path

import pytest

from segmint.customers.table import clear_tables
from segmint.metadata.database import Database
from tests.runs.support import Org, make_org


@pytest.fixture(autouse=True)
def _fresh_tables():
    clear_tables()
    yield
    clear_tables()


@pytest.fixture
def org(metadata_db: Database, tmp_path: Path) -> Org:
    return make_org(metadata_db, tmp_path)
