"""Bringing the metadata database to the newest schema with Alembic (``segmint db upgrade``;
the server and the worker do it at start too, so a fresh install needs no extra step)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from segmint.metadata.database import Database

_SCRIPTS = Path(__file__).parent / "migrations"


def alembic_config(db: Database) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_SCRIPTS))
    config.set_main_option("sqlalchemy.url", db.url.replace("%", "%%"))
    return config


def head_revision(db: Database) -> str | None:
    return ScriptDirectory.from_config(alembic_config(db)).get_current_head()


def current_revision(db: Database) -> str | None:
    with db.engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(db: Database, revision: str = "head") -> tuple[str | None, str | None]:
    """Apply every missing migration; returns (revision before, revision after)."""
    before = current_revision(db)
    config = alembic_config(db)
    with db.engine.begin() as connection:
        if db.dialect == "postgresql":
            # Two processes starting at once (server and worker) must not both migrate.
            connection.exec_driver_sql("SELECT pg_advisory_xact_lock(727274)")
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
    return before, current_revision(db)
