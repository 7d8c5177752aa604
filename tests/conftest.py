"""Shared fixtures, and the guard that makes required parts of the suite really run.

``SEGMINT_REQUIRE=browser,spark,postgres`` (set by ``.ci/run``) turns the session red when a test
with one of those markers was skipped, or when none with that marker ran at all.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections import Counter
from pathlib import Path

import psycopg
import pytest

from segmint.insights.lines import LINE_INDEXES
from segmint.metadata.database import Database
from segmint.metadata.migrate import upgrade
from segmint.settings import Settings

# The insights' in-memory line index is built in a background thread that reads the sales store;
# tests that import into a store right after filtered insights would race it (one process may
# not open a DuckDB file read-write while it has it open read-only). Off for the suite (every
# Settings() and server started by a test reads this), on in tests/insights/test_lines.py.
os.environ.setdefault("SEGMINT_INSIGHTS_INDEX_MAX_LINES", "0")

LINE_INDEXES.max_lines = 0

_outcomes: dict[str, Counter] = {}


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call" or report.skipped:
        for marker in ("browser", "spark", "postgres"):
            if item.get_closest_marker(marker):
                _outcomes.setdefault(marker, Counter())[report.outcome] += 1
    return report


def _required() -> list[str]:
    raw = os.environ.get("SEGMINT_REQUIRE", "")
    return [m.strip() for m in raw.split(",") if m.strip()]


def pytest_sessionfinish(session, exitstatus):
    problems = []
    for marker in _required():
        seen = _outcomes.get(marker, Counter())
        if seen["skipped"]:
            problems.append(f"{seen['skipped']} required '{marker}' test(s) were skipped")
        if not seen["passed"] and not seen["failed"]:
            problems.append(f"no required '{marker}' test ran")
    if problems:
        session.config._segmint_required_problems = problems  # read by the summary below
        if session.exitstatus == 0:
            session.exitstatus = 1


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    for problem in getattr(config, "_segmint_required_problems", []):
        terminalreporter.write_line(f"SEGMINT_REQUIRE: {problem}", red=True, bold=True)
    for marker, seen in sorted(_outcomes.items()):
        terminalreporter.write_line(f"segmint: {marker} tests {dict(seen)}")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings pointing at a fresh data directory."""
    return Settings(data_dir=tmp_path / "data", _env_file=None)


def chromium_path() -> str | None:
    return os.environ.get("SEGMINT_CHROMIUM") or shutil.which("chromium")


# -- the metadata database, on SQLite and on PostgreSQL ------------------------------------------

POSTGRES_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


def _postgres_admin():
    """An autocommit connection to the server's ``postgres`` database, or a skip."""
    try:
        return psycopg.connect(POSTGRES_ADMIN, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as error:
        pytest.skip(f"PostgreSQL at 127.0.0.1:5432 is not reachable: {error}")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def metadata_url(request, tmp_path: Path):
    """An empty metadata database: a SQLite file in ``tmp_path``, or a fresh PostgreSQL database
    ``segmint_t_<uuid>`` (dropped afterwards, even with connections still open)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'metadata.sqlite3'}"
        return
    name = f"segmint_t_{uuid.uuid4().hex[:16]}"
    with _postgres_admin() as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with _postgres_admin() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def metadata_db(metadata_url: str):
    """The metadata database at ``metadata_url``, migrated to the newest schema."""
    db = Database(metadata_url)
    upgrade(db)
    yield db
    db.dispose()
