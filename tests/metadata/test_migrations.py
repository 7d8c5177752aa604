"""The metadata schema: Alembic brings an empty database to head on SQLite and PostgreSQL, does
nothing to one that is there already (its data stays), describes exactly what the models declare,
and keeps the audit log append-only."""

from __future__ import annotations

from decimal import Decimal
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

HEAD = "0005"


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
            "run_results",
            "run_changes",
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


def test_upgrading_from_0003_moves_snapshots_and_run_history_into_blobs(
    metadata_url: str, tmp_path: Path
) -> None:
    """Migration 0004: each kept snapshot (``assignments`` rows) becomes its run's result, the
    history rows runs wrote become their run's changes, in the same place of the timeline; the
    rows people wrote stay."""
    from datetime import UTC, datetime

    from segmint.assignments import service as assignments
    from segmint.assignments.models import ManualOverride, SegmentHistory
    from segmint.assignments.results import clear_cache
    from segmint.insights.migration import migration_matrix
    from segmint.segments.models import SegmentType

    db = Database(metadata_url)
    try:
        assert upgrade(db, "0003") == (None, "0003")
        org = make_org(db, tmp_path)
        type_id = org.create_type("Sales Performance", "pareto")
        ids = org.segment_ids(type_id)
        a, b, c = ids["A"], ids["B"], ids["C"]
        organization_id = org.actor.organization_id
        at = [datetime(2026, 1, day, 6, 0, tzinfo=UTC) for day in (1, 2, 3)]
        with db.session() as session:
            runs = [
                Run(
                    organization_id=organization_id,
                    type_id=type_id,
                    status="succeeded",
                    finished_at=when,
                    summary={"customers": 3},
                )
                for when in (at[0], at[2])
            ]
            session.add_all(runs)
            session.flush()
            first, second = (r.id for r in runs)
            session.get(SegmentType, type_id).current_run_id = second
        # The old schema's rows, as the old code wrote them (amounts in 1/10000 units).
        snapshot = [
            (first, "C00", a, 80_000_000, 1, 0),
            (first, "C01", b, 15_000_000, 2, 8_000),
            (first, "ünï", None, None, None, None),
            (second, "C00", a, 80_000_000, 1, 0),
            (second, "C01", c, 5_000_000, 3, 9_500),
            (second, "C02", b, 15_000_000, 2, 8_000),
        ]
        history = [  # (source, run, key, at, auto_from, auto_to, effective_from, effective_to)
            ("run", first, "C00", at[0], None, "A", None, "A"),
            ("run", first, "C01", at[0], None, "B", None, "B"),
            ("manual", None, "C01", at[1], "B", "B", "B", "A"),
            ("run", second, "C01", at[2], "B", "C", "A", "A"),
            ("run", second, "C02", at[2], None, "B", None, "B"),
        ]
        with db.engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO assignments (run_id, customer_key, segment_id, eligible_sales, "
                    "rank, share_before) VALUES (:r, :k, :s, :e, :n, :b)"
                ),
                [dict(zip("rksenb", row, strict=True)) for row in snapshot],
            )
        with db.session() as session:
            session.add_all(
                SegmentHistory(
                    organization_id=organization_id,
                    type_id=type_id,
                    customer_key=key,
                    at=when,
                    source=source,
                    run_id=run_id,
                    user_id=None,
                    auto_from=auto_from,
                    auto_to=auto_to,
                    effective_from=effective_from,
                    effective_to=effective_to,
                    reason="key account" if source == "manual" else None,
                )
                for source, run_id, key, when, auto_from, auto_to, effective_from, effective_to in (
                    history
                )
            )
            session.add(
                ManualOverride(
                    organization_id=organization_id,
                    type_id=type_id,
                    customer_key="C01",
                    segment_id=a,
                    reason="key account",
                    set_at=at[1],
                )
            )

        clear_cache()
        assert upgrade(db) == ("0003", HEAD)
        assert "assignments" not in table_names(db)
        assert org.assignments(first) == {"C00": a, "C01": b, "ünï": None}
        assert org.assignments(second) == {"C00": a, "C01": c, "C02": b}
        with db.read_session() as session:
            assert list(session.scalars(select(SegmentHistory.source))) == ["manual"]
            rows = assignments.effective_segments(session=session, actor=org.actor, type_id=type_id)
            assert [
                (r.customer_key, r.automatic, r.manual, r.effective, r.eligible_sales, r.rank)
                for r in rows
            ] == [
                ("C00", "A", None, "A", Decimal("8000.0000"), 1),
                ("C01", "C", "A", "A", Decimal("500.0000"), 3),
                ("C02", "B", None, "B", Decimal("1500.0000"), 2),
            ]
            assert rows[1].share_before == Decimal("0.9500")
            timeline = assignments.timeline(
                session=session, actor=org.actor, type_id=type_id, customer_key="C01"
            )
            assert [
                (
                    h.source,
                    h.run_id,
                    h.at,
                    h.auto_from,
                    h.auto_to,
                    h.effective_from,
                    h.effective_to,
                    h.reason,
                )
                for h in timeline
            ] == [
                (source, run_id, when, *names, "key account" if source == "manual" else None)
                for source, run_id, key, when, *names in history
                if key == "C01"
            ]
            assert [h.id < 0 for h in timeline] == [True, False, True]
            matrix = migration_matrix(
                session=session, actor=org.actor, type_id=type_id, from_run=first, to_run=second
            )
            assert (matrix.total, matrix.moved) == (4, 2)  # C01 B -> C, C02 (none) -> B
    finally:
        db.dispose()
