"""Shared fixtures, and the guard that makes required parts of the suite really run.

``SEGMINT_REQUIRE=browser,spark,postgres`` (set by ``.ci/run``) turns the session red when a test
with one of those markers was skipped, or when none with that marker ran at all.
"""

from __future__ import annotations

import copy
import os
import shutil
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from segmint.insights.lines import LINE_INDEXES
from segmint.metadata.database import Database
from segmint.metadata.migrate import head_revision, upgrade
from segmint.settings import Settings

# The insights' in-memory line index is built in a background thread that reads the sales store;
# tests that import into a store right after filtered insights would race it (one process may
# not open a DuckDB file read-write while it has it open read-only). Off for the suite (every
# Settings() and server started by a test reads this), on in tests/insights/test_lines.py.
os.environ.setdefault("SEGMINT_INSIGHTS_INDEX_MAX_LINES", "0")

LINE_INDEXES.max_lines = 0

_outcomes: dict[str, Counter] = {}
REQUIRABLE = ("browser", "spark", "postgres")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    # Which required parts this test belongs to, carried on its report: under pytest-xdist the
    # reports reach the controlling process (which judges SEGMINT_REQUIRE) without the items.
    for marker in REQUIRABLE:
        if item.get_closest_marker(marker):
            report.user_properties.append(("segmint_part", marker))
    return report


def pytest_runtest_logreport(report):
    if report.when == "call" or report.skipped:
        for name, marker in report.user_properties:
            if name == "segmint_part":
                _outcomes.setdefault(marker, Counter())[report.outcome] += 1


def _required() -> list[str]:
    raw = os.environ.get("SEGMINT_REQUIRE", "")
    return [m.strip() for m in raw.split(",") if m.strip()]


def pytest_sessionfinish(session, exitstatus):
    if hasattr(session.config, "workerinput"):
        return  # a pytest-xdist worker: the controlling process sees every report and judges
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


def create_postgres_database(template: str | None = None) -> str:
    """A new database ``segmint_t_<uuid>`` on the server (a copy of ``template`` when given: a
    file-level copy, schema, data and triggers alike); its name."""
    name = f"segmint_t_{uuid.uuid4().hex[:16]}"
    with _postgres_admin() as admin:
        if template is None:
            admin.execute(f'CREATE DATABASE "{name}"')
        else:
            admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    return name


def drop_postgres_database(name: str) -> None:
    """Drop a database made by :func:`create_postgres_database`, even with connections open."""
    with _postgres_admin() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def postgres_url(name: str) -> str:
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"


def freeze_postgres_template(name: str) -> None:
    """Make sure nothing is connected to ``name`` any more, so that it can be copied."""
    with _postgres_admin() as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        )


def copy_sqlite(source: Path, target: Path) -> None:
    """Copy a closed SQLite database file (its WAL was checkpointed and removed on close)."""
    assert not Path(f"{source}-wal").exists(), f"{source} was not closed cleanly"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)


# Migrating an empty database to head takes ~0.2 s on SQLite and ~0.5 s on PostgreSQL, and about
# 300 tests want a migrated one (``metadata_db``). It is migrated once per session, by the same
# ``upgrade`` and on the same server, and each test gets its own copy of it (a file copy on
# SQLite, ``CREATE DATABASE … TEMPLATE`` on PostgreSQL). ``metadata_db`` still runs ``upgrade``
# on its copy (a no-op at head that fails if the copy is not at head), and the tests of the
# migrations themselves (tests/metadata) start from the empty database of ``metadata_url``.


@pytest.fixture(scope="session")
def _migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("migrated-sqlite") / "metadata.sqlite3"
    db = Database(f"sqlite:///{path}")
    try:
        upgrade(db)
    finally:
        db.dispose()
    return path


@pytest.fixture(scope="session")
def _migrated_postgres() -> Iterator[str]:
    name = create_postgres_database()
    try:
        db = Database(postgres_url(name))
        try:
            upgrade(db)
        finally:
            db.dispose()
        freeze_postgres_template(name)
        yield name
    finally:
        drop_postgres_database(name)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def metadata_url(request, tmp_path: Path):
    """A metadata database: a SQLite file in ``tmp_path``, or a fresh PostgreSQL database
    ``segmint_t_<uuid>`` (dropped afterwards, even with connections still open). Empty, unless
    the test uses ``metadata_db``: then a copy of one migrated to head once per session."""
    migrated = "metadata_db" in request.fixturenames
    if request.param == "sqlite":
        path = tmp_path / "metadata.sqlite3"
        if migrated:
            copy_sqlite(request.getfixturevalue("_migrated_sqlite"), path)
        yield f"sqlite:///{path}"
        return
    template = request.getfixturevalue("_migrated_postgres") if migrated else None
    name = create_postgres_database(template)
    try:
        yield postgres_url(name)
    finally:
        drop_postgres_database(name)


@pytest.fixture
def metadata_db(metadata_url: str):
    """The metadata database at ``metadata_url``, migrated to the newest schema."""
    db = Database(metadata_url)
    assert upgrade(db)[1] == head_revision(db)
    yield db
    db.dispose()


# -- the API tests' world (tests/api/conftest.py), built once per session ---------------------

# Building the world (accounts with argon2 passwords, tokens, three runs, sharing) takes 3-5 s,
# and some 60 tests use it. It is built once per session for each database, by the same
# ``build_world``, and every test gets its own copy of the result: the data directory copied,
# and the metadata database copied too (a file on SQLite, ``CREATE DATABASE … TEMPLATE`` on
# PostgreSQL), with a new app started on the copy (``world_from`` in tests/api/conftest.py).
# Tests may change their world freely. Here, so that tests/web uses the same SQLite one.


@dataclass(frozen=True)
class WorldTemplate:
    data_dir: Path  # closed: the sales store, and (SQLite) the metadata database
    postgres: str | None  # the template database on PostgreSQL
    known: dict  # tokens, users, actors, ids


def _build_template(settings: Settings, postgres: str | None = None) -> WorldTemplate:
    from tests.api.conftest import build_world  # (that module imports this one)

    builder = build_world(settings)
    world = next(builder)
    known = {"tokens": world.tokens, "users": world.users, "actors": world.actors, "ids": world.ids}
    builder.close()  # leaves the TestClient: the app shuts down and closes both databases
    return WorldTemplate(settings.data_dir, postgres, copy.deepcopy(known))


@pytest.fixture(scope="session")
def sqlite_world_template(tmp_path_factory: pytest.TempPathFactory) -> WorldTemplate:
    """The world on SQLite, built once per session (its metadata in the data directory)."""
    data_dir = tmp_path_factory.mktemp("world-sqlite") / "data"
    return _build_template(Settings(data_dir=data_dir, worker_in_process=False, _env_file=None))


@pytest.fixture(scope="session")
def postgres_world_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorldTemplate]:
    """The world on PostgreSQL, built once per session into a template database."""
    name = create_postgres_database()
    try:
        data_dir = tmp_path_factory.mktemp("world-postgres") / "data"
        settings = Settings(
            data_dir=data_dir,
            metadata_url=postgres_url(name),
            worker_in_process=False,
            _env_file=None,
        )
        template = _build_template(settings, postgres=name)
        freeze_postgres_template(name)
        yield template
    finally:
        drop_postgres_database(name)
