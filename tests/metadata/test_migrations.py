"""The metadata schema: Alembic brings an empty database to head on SQLite and PostgreSQL, does
nothing to one that is there already (its data stays), describes exactly what the models declare,
and keeps the audit log append-only."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Column, Integer, MetaData, inspect, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from segmint.accounts.service import create_user, system_actor
from segmint.assignments.service import clear_override, set_override
from segmint.audit.models import AuditEntry
from segmint.audit.service import record
from segmint.metadata.database import Database
from segmint.metadata.migrate import alembic_config, current_revision, head_revision, upgrade
from segmint.metadata.models import Base
from segmint.runs.models import Run
from tests.runs.support import BASE_LINES, make_org

HEAD = "0003"


def table_names(db: Database) -> set[str]:
    return set(inspect(db.engine).get_table_names())


def contents(db: Database) -> dict[str, list[tuple]]:
    """Every row of every table, in primary-key order."""
    with db.engine.connect() as connection:
        return {
            table.name: [
                tuple(row)
                for row in connection.execute(
                    select(table).order_by(*table.primary_key.columns)
                ).all()
            ]
            for table in Base.metadata.sorted_tables
        }


def differences(db: Database, metadata: MetaData) -> list:
    with db.engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "compare_server_default": True}
        )
        return compare_metadata(context, metadata)


def test_an_empty_database_is_brought_to_head(metadata_url: str) -> None:
    db = Database(metadata_url)
    try:
        assert head_revision(db) == HEAD
        assert current_revision(db) is None
        assert upgrade(db) == (None, HEAD)
        assert table_names(db) == set(Base.metadata.tables) | {"alembic_version"}
    finally:
        db.dispose()


def test_upgrading_again_changes_nothing_and_keeps_the_data(
    metadata_db: Database, tmp_path: Path
) -> None:
    org = make_org(metadata_db, tmp_path)
    with metadata_db.session() as session:  # a manager, so runs leave notifications too
        create_user(
            session=session,
            actor=org.actor,
            email="ann@acme.example",
            role="manager",
            password=None,
        )
    org.import_sales(BASE_LINES)
    pareto = org.create_type("Sales Performance", "pareto")
    rfm = org.create_type("Recency", "rfm", schedule="0 6 * * 1")
    assert org.run(pareto).status == "succeeded"
    assert org.run(rfm).status == "succeeded"
    org.set_override(pareto, "C07", "A", reason="key account")
    org.set_override(rfm, "C01", "Lost", reason="closing down")
    with metadata_db.session() as session:
        clear_override(session=session, actor=org.actor, type_id=rfm, customer_key="C01")
        set_override(
            session=session, actor=org.actor, type_id=rfm, customer_key="C02", segment="At Risk"
        )
    before = contents(metadata_db)
    assert [
        name
        for name in (
            "organizations",
            "users",
            "segment_types",
            "segments",
            "runs",
            "assignments",
            "manual_overrides",
            "segment_history",
            "audit_log",
            "notifications",
        )
        if not before[name]
    ] == []

    assert upgrade(metadata_db) == (HEAD, HEAD)
    reopened = Database(metadata_db.url)
    try:
        assert upgrade(reopened) == (HEAD, HEAD)
        assert contents(reopened) == before
    finally:
        reopened.dispose()


def test_the_models_match_the_migrations(metadata_db: Database) -> None:
    assert differences(metadata_db, Base.metadata) == []


def test_a_model_the_migrations_lack_is_reported(metadata_db: Database) -> None:
    """The comparison above can fail: a column only the models have is a difference."""
    drifted = MetaData(naming_convention=Base.metadata.naming_convention)
    for table in Base.metadata.sorted_tables:
        table.to_metadata(drifted)
    drifted.tables["runs"].append_column(Column("retries", Integer, nullable=True))

    found = differences(metadata_db, drifted)
    assert [(d[0], d[2], d[3].name) for d in found] == [("add_column", "runs", "retries")]


def test_the_audit_log_refuses_update_and_delete(metadata_db: Database) -> None:
    with metadata_db.session() as session:
        actor = system_actor(session=session, org="acme")
        record(session=session, actor=actor, action="test.write", entity="test", entity_id=1)
    for statement in (
        "UPDATE audit_log SET action = 'test.forged'",
        "DELETE FROM audit_log",
    ):
        with pytest.raises(DBAPIError, match="append-only"), metadata_db.session() as session:
            session.execute(text(statement))
    with metadata_db.read_session() as session:
        assert [e.action for e in session.scalars(select(AuditEntry))] == ["test.write"]


def test_one_active_run_per_type_is_held_by_the_database(
    metadata_db: Database, tmp_path: Path
) -> None:
    org = make_org(metadata_db, tmp_path)
    type_id = org.create_type("Sales Performance", "pareto")
    org.start(type_id)
    with pytest.raises(IntegrityError), metadata_db.session() as session:
        session.add(Run(organization_id=org.actor.organization_id, type_id=type_id))
    with metadata_db.session() as session:  # finished runs do not count
        for status in ("succeeded", "failed", "failed"):
            session.add(
                Run(organization_id=org.actor.organization_id, type_id=type_id, status=status)
            )


def test_downgrade_to_base_and_upgrade_again(metadata_db: Database) -> None:
    config = alembic_config(metadata_db)
    with metadata_db.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "base")
    assert table_names(metadata_db) == {"alembic_version"}
    assert current_revision(metadata_db) is None

    assert upgrade(metadata_db) == (None, HEAD)
    assert differences(metadata_db, Base.metadata) == []
    with metadata_db.session() as session:
        actor = system_actor(session=session, org="acme")
        record(session=session, actor=actor, action="test.write", entity="test")
    with pytest.raises(DBAPIError, match="append-only"), metadata_db.session() as session:
        session.execute(text("DELETE FROM audit_log"))
