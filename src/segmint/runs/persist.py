"""Writing a run's snapshot and swapping it in.

The snapshot rows go into ``assignments`` under the run's id, in chunks of short transactions
(PostgreSQL: one COPY), while the previous result stays current: nobody reads rows of a run
that is not current. The swap is one transaction: write the history of every customer whose
automatic segment changed (with the effective segment, manual overrides as they are at that
moment), point the type at the new run, mark the run succeeded, queue its notifications and
webhook events. A worker killed before or during the swap leaves the previous result exactly
as it was.
"""

from __future__ import annotations

import io
import os
import time
from collections.abc import Callable
from itertools import chain, islice
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pa_csv
from sqlalchemy import bindparam, delete, select, text

from segmint.assignments.models import Assignment
from segmint.errors import RunFailed
from segmint.metadata.base import UtcDateTime, utcnow
from segmint.metadata.database import Database
from segmint.runs.compute import SNAPSHOT_COLUMNS, Computed
from segmint.runs.models import Run
from segmint.segments.models import SegmentType

CHUNK_ROWS = 50_000
_ROWS_PER_INSERT = 100
_SQLITE_MAX_VALUES = 999  # SQLITE_MAX_VARIABLE_NUMBER before SQLite 3.32


def pause_point(stage: str) -> None:
    """Fault injection for the crash tests: with ``SEGMINT_FAULT_PAUSE=<stage>`` the worker
    writes ``SEGMINT_FAULT_PAUSE_FILE`` and stops here until it is killed."""
    if os.environ.get("SEGMINT_FAULT_PAUSE") != stage:
        return
    Path(os.environ.get("SEGMINT_FAULT_PAUSE_FILE", "segmint-paused")).write_text(stage)
    while True:  # pragma: no cover - ends with SIGKILL
        time.sleep(1)


def _still_mine(session: Any, run_id: int, worker_id: str) -> Run:
    run = session.scalars(select(Run).where(Run.id == run_id).with_for_update()).first()
    if run is None or run.status != "running" or run.worker_id != worker_id:
        raise RunFailed(
            f"run {run_id} was taken away from this worker (its lease expired); nothing was "
            "swapped in"
        )
    return run


def write_snapshot(
    db: Database,
    con: Any,
    computed: Computed,
    *,
    run_id: int,
    worker_id: str,
    on_rows: Callable[[int], None] | None = None,
) -> int:
    """Copy the snapshot rows from DuckDB into ``assignments``; returns the row count."""
    if db.dialect == "postgresql":
        return _copy_postgres(db, con, computed, run_id, worker_id, on_rows)
    reader = con.sql(computed.sql).to_arrow_reader(CHUNK_ROWS)
    written = 0
    for batch in reader:
        if not batch.num_rows:
            continue
        with db.session() as session:
            _still_mine(session, run_id, worker_id)
            _insert_sqlite(session.connection(), batch, run_id)
        written += batch.num_rows
        if on_rows:
            on_rows(written)
        if written == batch.num_rows:
            pause_point("writing")
    return written


def _insert_sqlite(connection: Any, batch: pa.RecordBatch, run_id: int) -> None:
    """Insert one batch of snapshot rows (in customer key order, as the primary key wants them).

    Python's sqlite3 spends more time per row and per bound value than SQLite spends storing
    the row, so: the run id is a literal; a column that is NULL in every row of the batch
    (Pareto has no R/F/M figures, RFM no rank) is left out, its default being NULL (turning an
    all-NULL Arrow column into Python values is slow too); and each statement inserts up to
    :data:`_ROWS_PER_INSERT` rows (``VALUES (...), (...), ...``), within SQLite's limit of 999
    bound values, so executemany steps once per ~100 rows instead of once per row."""
    names, columns = [], []
    for name, column in zip(SNAPSHOT_COLUMNS[1:], batch.columns[1:], strict=True):
        if column.null_count < len(column):
            names.append(name)
            columns.append(column.to_pylist())
    width = len(names)  # at least customer_key, which is never NULL
    per = max(1, min(_ROWS_PER_INSERT, _SQLITE_MAX_VALUES // width))
    values = chain.from_iterable(zip(*columns, strict=True))
    full, rest = divmod(batch.num_rows, per)
    if full:
        statement = _sqlite_insert(run_id, names, per)
        connection.exec_driver_sql(
            statement, [tuple(islice(values, per * width)) for _ in range(full)]
        )
    if rest:
        connection.exec_driver_sql(_sqlite_insert(run_id, names, rest), [tuple(values)])


def _sqlite_insert(run_id: int, names: list[str], rows: int) -> str:
    row = f"({int(run_id)}, {', '.join('?' for _ in names)})"
    return f"INSERT INTO assignments (run_id, {', '.join(names)}) VALUES {', '.join([row] * rows)}"


def _copy_postgres(
    db: Database,
    con: Any,
    computed: Computed,
    run_id: int,
    worker_id: str,
    on_rows: Callable[[int], None] | None,
) -> int:
    """PostgreSQL: one COPY of the rows as CSV, rendered by Arrow's CSV writer (strings quoted,
    NULL as an empty unquoted field, which is what COPY's CSV format reads as NULL)."""
    reader = con.sql(computed.sql).to_arrow_reader(CHUNK_ROWS)
    options = pa_csv.WriteOptions(include_header=False)
    written = 0
    with db.session() as session:
        _still_mine(session, run_id, worker_id)
        cursor = session.connection().connection.driver_connection.cursor()
        statement = f"COPY assignments ({', '.join(SNAPSHOT_COLUMNS)}) FROM STDIN (FORMAT csv)"
        with cursor.copy(statement) as copy:
            for batch in reader:
                buffer = io.BytesIO()
                pa_csv.write_csv(batch, buffer, options)
                copy.write(buffer.getbuffer())
                written += batch.num_rows
                if on_rows:
                    on_rows(written)
                if written == batch.num_rows:
                    pause_point("writing")
    return written


# Customers whose automatic segment differs between the previous current run and the new one,
# with the effective segment before and after (an override, if any, wins on both sides). Both
# snapshots are read through the primary key (run_id, customer_key); ``{pairs}`` yields every
# customer of either run with its old and new segment id.
_HISTORY = """
INSERT INTO segment_history (organization_id, type_id, customer_key, at, source, run_id,
                             auto_from, auto_to, effective_from, effective_to)
SELECT :org, :type_id, p.customer_key, :at, 'run', :run_id,
       so.name, sn.name, COALESCE(sm.name, so.name), COALESCE(sm.name, sn.name)
FROM ({pairs}) AS p
LEFT JOIN manual_overrides AS m ON m.type_id = :type_id AND m.customer_key = p.customer_key
LEFT JOIN segments AS so ON so.id = p.old_id
LEFT JOIN segments AS sn ON sn.id = p.new_id
LEFT JOIN segments AS sm ON sm.id = m.segment_id
WHERE p.old_id <> p.new_id OR (p.old_id IS NULL) <> (p.new_id IS NULL)
"""

# SQLite: the new run's rows, each looking up the old one, plus the old rows the new run lacks.
# (SQLite's FULL JOIN, 3.39+, scans the whole other side for every row here.)
_PAIRS_SQLITE = """
  SELECT n.customer_key, o.segment_id AS old_id, n.segment_id AS new_id
  FROM assignments AS n
  LEFT JOIN assignments AS o ON o.run_id = :old_run AND o.customer_key = n.customer_key
  WHERE n.run_id = :run_id
  UNION ALL
  SELECT o.customer_key, o.segment_id, NULL
  FROM assignments AS o
  WHERE o.run_id = :old_run AND NOT EXISTS (
    SELECT 1 FROM assignments AS n WHERE n.run_id = :run_id AND n.customer_key = o.customer_key)
"""

# PostgreSQL: one FULL JOIN reads each snapshot once (a hash full join) instead of twice, which
# halves the time of a re-run's comparison at 1M customers.
_PAIRS_POSTGRES = """
  SELECT COALESCE(n.customer_key, o.customer_key) AS customer_key, o.segment_id AS old_id,
         n.segment_id AS new_id
  FROM (SELECT customer_key, segment_id FROM assignments WHERE run_id = :run_id) AS n
  FULL JOIN (SELECT customer_key, segment_id FROM assignments WHERE run_id = :old_run) AS o
    ON o.customer_key = n.customer_key
"""

_CHANGES = """
SELECT customer_key, effective_from, effective_to FROM segment_history
WHERE run_id = :run_id AND type_id = :type_id ORDER BY customer_key LIMIT 1000
"""


def _history_sql(dialect: str) -> str:
    return _HISTORY.format(pairs=_PAIRS_POSTGRES if dialect == "postgresql" else _PAIRS_SQLITE)


def swap(db: Database, computed: Computed, *, run_id: int, worker_id: str) -> Run:
    """Make the run's snapshot the type's current result, in one transaction."""
    from segmint.runs.events import run_finished, segments_changed

    with db.session() as session:
        run = _still_mine(session, run_id, worker_id)
        segment_type = session.scalars(
            select(SegmentType).where(SegmentType.id == run.type_id).with_for_update()
        ).one()
        old_run = segment_type.current_run_id if segment_type.current_run_id is not None else -1
        now = utcnow()
        changed = session.execute(
            text(_history_sql(db.dialect)).bindparams(bindparam("at", type_=UtcDateTime())),
            {
                "org": run.organization_id,
                "type_id": segment_type.id,
                "at": now,
                "run_id": run_id,
                "old_run": old_run,
            },
        ).rowcount
        pause_point("during_swap")
        if changed:
            changes = session.execute(
                text(_CHANGES), {"run_id": run_id, "type_id": segment_type.id}
            ).all()
            segments_changed(
                session=session,
                organization_id=run.organization_id,
                type_id=segment_type.id,
                changes=[
                    {"customer_key": k, "from": f, "to": t, "source": "run"} for k, f, t in changes
                ],
                total=changed,
            )
        segment_type.current_run_id = run_id
        if computed.suggested_cuts:
            for metric, cuts in computed.suggested_cuts.items():
                if getattr(segment_type, f"{metric}_cuts") is None:
                    setattr(segment_type, f"{metric}_cuts", cuts)
        run.status = "succeeded"
        run.stage = "done"
        run.progress = 1.0
        run.finished_at = now
        run.lease_expires_at = None
        run.params = computed.params
        run.summary = {**computed.summary, "changed": changed}
        run_finished(session=session, run=run, segment_type=segment_type)
    return run


def prune_snapshots(db: Database, *, type_id: int, keep: int) -> int:
    """Drop assignments of all but the newest ``keep`` succeeded runs of a type (the current
    one is always kept); history and the runs themselves stay."""
    with db.session() as session:
        current = session.scalar(
            select(SegmentType.current_run_id).where(SegmentType.id == type_id)
        )
        old = list(
            session.scalars(
                select(Run.id)
                .where(Run.type_id == type_id, Run.status == "succeeded")
                .order_by(Run.id.desc())
                .offset(max(keep, 1))
            )
        )
        old = [r for r in old if r != current]
        if not old:
            return 0
        session.execute(
            delete(Assignment)
            .where(Assignment.run_id.in_(old))
            .execution_options(synchronize_session=False)
        )
        return len(old)
