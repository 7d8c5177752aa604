"""Run results as one compressed Arrow blob per run: ``run_results`` and ``run_changes``
replace ``assignments`` and the history rows that runs wrote.

A run wrote one ``assignments`` row per customer and, on a type's first run, one
``segment_history`` row per customer in a segment: up to 1.5 s and 2 s at a million customers,
more than the engine itself (docs/decisions/0002-run-results-storage.md). Now a run's result is
one zstd-compressed Arrow IPC stream in ``run_results`` and its changes one in ``run_changes``
(split into parts of at most 64 MB), written in the swap's transaction.

The data moves: every kept snapshot (the ``assignments`` rows of a run) becomes its run's result
blob, sorted by customer key; the history rows with ``source = 'run'`` become their run's
changes blob (names as they were written), placed after the highest other history row of the
type that precedes them (``after_history_id``), at the time they were written. Then those rows
and ``assignments`` go. The encoding is written out here rather than imported, so this migration
keeps producing what it produced when Segmint's code moves on.

Downgrading puts the results back as ``assignments`` rows and the changes back as history rows
(appended: their ids are new, after every existing row).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 08:00:00
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa
from alembic import op

import segmint.metadata.base

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

UtcDateTime = segmint.metadata.base.UtcDateTime

# What segmint.assignments.results reads (as of this revision).
RESULT_SCHEMA = pa.schema(
    [
        ("customer_key", pa.string()),
        ("segment_id", pa.int32()),
        ("eligible_sales", pa.int64()),
        ("rank", pa.int64()),
        ("share_before", pa.int64()),
        ("recency_days", pa.int32()),
        ("frequency", pa.int64()),
        ("r_score", pa.int16()),
        ("f_score", pa.int16()),
        ("m_score", pa.int16()),
    ]
)
_NAME = pa.dictionary(pa.int32(), pa.string())
CHANGES_SCHEMA = pa.schema(
    [
        ("customer_key", pa.string()),
        ("auto_from", _NAME),
        ("auto_to", _NAME),
        ("effective_from", _NAME),
        ("effective_to", _NAME),
    ]
)
PART_BYTES = 64 * 1024 * 1024
_HISTORY_NAMES = ("auto_from", "auto_to", "effective_from", "effective_to")


def _encode(table: pa.Table) -> list[bytes]:
    sink = pa.BufferOutputStream()
    options = pa.ipc.IpcWriteOptions(compression=pa.Codec("zstd", compression_level=1))
    with pa.ipc.new_stream(sink, table.schema, options=options) as writer:
        writer.write_table(table, max_chunksize=256 * 1024)
    data = sink.getvalue()
    return [data[i : i + PART_BYTES].to_pybytes() for i in range(0, max(data.size, 1), PART_BYTES)]


def _decode(parts: list[bytes]) -> pa.Table:
    return pa.ipc.open_stream(pa.py_buffer(b"".join(parts))).read_all()


def _sorted(table: pa.Table) -> pa.Table:
    """By customer key in byte order (what the readers' binary search expects)."""
    return table.take(pc.sort_indices(table.column("customer_key")))


def _utc(value: object) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _create_tables() -> None:
    op.create_table(
        "run_results",
        sa.Column("run_id", sa.BigInteger(), nullable=False),
        sa.Column("part", sa.Integer(), nullable=False),
        sa.Column("organization_id", sa.Integer(), nullable=False),
        sa.Column("type_id", sa.Integer(), nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("token", sa.String(length=32), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "part", name=op.f("pk_run_results")),
    )
    op.create_index(op.f("ix_run_results_type_id"), "run_results", ["type_id"], unique=False)
    op.create_table(
        "run_changes",
        sa.Column("run_id", sa.BigInteger(), nullable=False),
        sa.Column("part", sa.Integer(), nullable=False),
        sa.Column("organization_id", sa.Integer(), nullable=False),
        sa.Column("type_id", sa.Integer(), nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("after_history_id", sa.BigInteger(), nullable=False),
        sa.Column("at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("token", sa.String(length=32), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "part", name=op.f("pk_run_changes")),
    )
    op.create_index(op.f("ix_run_changes_type_id"), "run_changes", ["type_id"], unique=False)


def _tables() -> tuple[sa.Table, sa.Table]:
    results = sa.table(
        "run_results",
        sa.column("run_id"),
        sa.column("part"),
        sa.column("organization_id"),
        sa.column("type_id"),
        sa.column("rows"),
        sa.column("token"),
        sa.column("data", sa.LargeBinary()),
    )
    changes = sa.table(
        "run_changes",
        sa.column("run_id"),
        sa.column("part"),
        sa.column("organization_id"),
        sa.column("type_id"),
        sa.column("rows"),
        sa.column("after_history_id"),
        sa.column("at", UtcDateTime()),
        sa.column("token"),
        sa.column("data", sa.LargeBinary()),
    )
    return results, changes


def _move_results(bind: sa.Connection, results: sa.Table) -> None:
    """Every kept snapshot into its run's result blob (snapshots of runs that no longer exist
    are dropped with the table)."""
    runs = bind.execute(
        sa.text(
            "SELECT r.id, r.organization_id, r.type_id FROM runs AS r "
            "WHERE r.id IN (SELECT DISTINCT run_id FROM assignments) ORDER BY r.id"
        )
    ).all()
    columns = ", ".join(RESULT_SCHEMA.names)
    for run_id, organization_id, type_id in runs:
        rows = bind.execute(
            sa.text(f"SELECT {columns} FROM assignments WHERE run_id = :run_id"),
            {"run_id": run_id},
        ).all()
        table = _sorted(
            pa.Table.from_pylist(
                [dict(zip(RESULT_SCHEMA.names, row, strict=True)) for row in rows],
                schema=RESULT_SCHEMA,
            )
        )
        token = uuid.uuid4().hex
        bind.execute(
            results.insert(),
            [
                {
                    "run_id": run_id,
                    "part": i,
                    "organization_id": organization_id,
                    "type_id": type_id,
                    "rows": table.num_rows,
                    "token": token,
                    "data": part,
                }
                for i, part in enumerate(_encode(table))
            ],
        )


def _move_history(bind: sa.Connection, changes: sa.Table) -> None:
    """The history rows runs wrote into their run's changes blob; then those rows go."""
    marks: dict[int, list[int]] = defaultdict(list)  # type -> ids of the rows people wrote
    for type_id, history_id in bind.execute(
        sa.text(
            "SELECT type_id, id FROM segment_history WHERE source <> 'run' ORDER BY type_id, id"
        )
    ):
        marks[type_id].append(history_id)
    run_ids = [
        row[0]
        for row in bind.execute(
            sa.text(
                "SELECT run_id FROM segment_history WHERE source = 'run' AND run_id IS NOT NULL "
                "GROUP BY run_id ORDER BY min(id)"
            )
        )
    ]
    for run_id in run_ids:
        rows = bind.execute(
            sa.text(
                "SELECT id, organization_id, type_id, customer_key, at, auto_from, auto_to, "
                "effective_from, effective_to FROM segment_history "
                "WHERE source = 'run' AND run_id = :run_id ORDER BY id"
            ),
            {"run_id": run_id},
        ).all()
        first_id, organization_id, type_id = rows[0][0], rows[0][1], rows[0][2]
        before = [i for i in marks.get(type_id, ()) if i < first_id]
        latest: dict[str, tuple] = {}
        for row in rows:  # one row per customer and run; should there be more, the last
            latest[row[3]] = row
        keys = sorted(latest)
        columns = {"customer_key": pa.array(keys, pa.string())}
        for offset, name in enumerate(_HISTORY_NAMES):
            values = pa.array([latest[k][5 + offset] for k in keys], pa.string())
            columns[name] = values.dictionary_encode().cast(_NAME)
        table = _sorted(pa.table(columns, schema=CHANGES_SCHEMA))
        token = uuid.uuid4().hex
        bind.execute(
            changes.insert(),
            [
                {
                    "run_id": run_id,
                    "part": i,
                    "organization_id": organization_id,
                    "type_id": type_id,
                    "rows": table.num_rows,
                    "after_history_id": before[-1] if before else 0,
                    "at": _utc(rows[0][4]),
                    "token": token,
                    "data": part,
                }
                for i, part in enumerate(_encode(table))
            ],
        )
    bind.execute(sa.text("DELETE FROM segment_history WHERE source = 'run'"))


def upgrade() -> None:
    _create_tables()
    bind = op.get_bind()
    results, changes = _tables()
    _move_results(bind, results)
    _move_history(bind, changes)
    op.drop_table("assignments")


def downgrade() -> None:
    op.create_table(
        "assignments",
        sa.Column("run_id", sa.BigInteger(), nullable=False),
        sa.Column("customer_key", sa.String(length=200), nullable=False),
        sa.Column("segment_id", sa.Integer(), nullable=True),
        sa.Column("eligible_sales", segmint.metadata.base.Amount(), nullable=True),
        sa.Column("rank", sa.BigInteger(), nullable=True),
        sa.Column("share_before", segmint.metadata.base.Amount(), nullable=True),
        sa.Column("recency_days", sa.Integer(), nullable=True),
        sa.Column("frequency", sa.Integer(), nullable=True),
        sa.Column("r_score", sa.SmallInteger(), nullable=True),
        sa.Column("f_score", sa.SmallInteger(), nullable=True),
        sa.Column("m_score", sa.SmallInteger(), nullable=True),
        sa.PrimaryKeyConstraint("run_id", "customer_key", name=op.f("pk_assignments")),
        sqlite_with_rowid=False,
    )
    bind = op.get_bind()
    assignments = sa.table("assignments", *(sa.column(n) for n in ("run_id", *RESULT_SCHEMA.names)))
    history = sa.table(
        "segment_history",
        *(
            sa.column(n)
            for n in (
                "organization_id",
                "type_id",
                "customer_key",
                "source",
                "run_id",
                *_HISTORY_NAMES,
            )
        ),
        sa.column("at", UtcDateTime()),
    )
    for table_name, write in (("run_results", "results"), ("run_changes", "changes")):
        heads = bind.execute(
            sa.text(
                f"SELECT run_id, organization_id, type_id, "
                f"{'at' if write == 'changes' else 'NULL'} FROM {table_name} "
                "WHERE part = 0 ORDER BY run_id"
            )
        ).all()
        for run_id, organization_id, type_id, at in heads:
            parts = [
                row[0]
                for row in bind.execute(
                    sa.text(f"SELECT data FROM {table_name} WHERE run_id = :r ORDER BY part"),
                    {"r": run_id},
                )
            ]
            rows = _decode([bytes(p) for p in parts]).to_pylist()
            if not rows:
                continue
            if write == "results":
                bind.execute(assignments.insert(), [{"run_id": run_id, **row} for row in rows])
            else:
                bind.execute(
                    history.insert(),
                    [
                        {
                            **row,
                            "organization_id": organization_id,
                            "type_id": type_id,
                            "source": "run",
                            "run_id": run_id,
                            "at": _utc(at),
                        }
                        for row in rows
                    ],
                )
    op.drop_index(op.f("ix_run_changes_type_id"), table_name="run_changes")
    op.drop_table("run_changes")
    op.drop_index(op.f("ix_run_results_type_id"), table_name="run_results")
    op.drop_table("run_results")
