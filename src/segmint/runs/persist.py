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

import csv
import io
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import bindparam, delete, select, text

from segmint.assignments.models import Assignment
from segmint.errors import RunFailed
from segmint.metadata.base import UtcDateTime, utcnow
from segmint.metadata.database import Database
from segmint.runs.compute import SNAPSHOT_COLUMNS, Computed
from segmint.runs.models import Run
from segmint.segments.models import SegmentType

CHUNK_ROWS = 50_000
_INSERT = (
    f"INSERT INTO assignments ({', '.join(SNAPSHOT_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in SNAPSHOT_COLUMNS)})"
)


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
        columns = [column.to_pylist() for column in batch.columns]
        rows = list(zip(*columns, strict=True))
        with db.session() as session:
            _still_mine(session, run_id, worker_id)
            session.connection().exec_driver_sql(_INSERT, rows)
        written += len(rows)
        if on_rows:
            on_rows(written)
        if written == len(rows):
            pause_point("writing")
    return written


def _copy_postgres(
    db: Database,
    con: Any,
    computed: Computed,
    run_id: int,
    worker_id: str,
    on_rows: Callable[[int], None] | None,
) -> int:
    """PostgreSQL: stream DuckDB's CSV rendering of the rows into one COPY."""
    reader = con.sql(computed.sql).to_arrow_reader(CHUNK_ROWS)
    written = 0
    with db.session() as session:
        _still_mine(session, run_id, worker_id)
        cursor = session.connection().connection.driver_connection.cursor()
        statement = f"COPY assignments ({', '.join(SNAPSHOT_COLUMNS)}) FROM STDIN (FORMAT csv)"
        with cursor.copy(statement) as copy:
            for batch in reader:
                buffer = io.StringIO()
                writer = csv.writer(buffer, lineterminator="\n")
                columns = [column.to_pylist() for column in batch.columns]
                writer.writerows(
                    ["" if v is None else v for v in row] for row in zip(*columns, strict=True)
                )
                copy.write(buffer.getvalue())
                written += batch.num_rows
                if on_rows:
                    on_rows(written)
                if written == batch.num_rows:
                    pause_point("writing")
    return written


# Customers whose automatic segment differs between the previous current run and the new one,
# with the effective segment before and after (an override, if any, wins on both sides).
_HISTORY = """
INSERT INTO segment_history (organization_id, type_id, customer_key, at, source, run_id,
                             auto_from, auto_to, effective_from, effective_to)
SELECT :org, :type_id, p.customer_key, :at, 'run', :run_id,
       so.name, sn.name, COALESCE(sm.name, so.name), COALESCE(sm.name, sn.name)
FROM (
  SELECT n.customer_key, o.segment_id AS old_id, n.segment_id AS new_id
  FROM assignments AS n
  LEFT JOIN assignments AS o ON o.run_id = :old_run AND o.customer_key = n.customer_key
  WHERE n.run_id = :run_id
  UNION ALL
  SELECT o.customer_key, o.segment_id, NULL
  FROM assignments AS o
  WHERE o.run_id = :old_run AND NOT EXISTS (
    SELECT 1 FROM assignments AS n WHERE n.run_id = :run_id AND n.customer_key = o.customer_key)
) AS p
LEFT JOIN manual_overrides AS m ON m.type_id = :type_id AND m.customer_key = p.customer_key
LEFT JOIN segments AS so ON so.id = p.old_id
LEFT JOIN segments AS sn ON sn.id = p.new_id
LEFT JOIN segments AS sm ON sm.id = m.segment_id
WHERE p.old_id <> p.new_id OR (p.old_id IS NULL) <> (p.new_id IS NULL)
"""

_CHANGES = """
SELECT customer_key, effective_from, effective_to FROM segment_history
WHERE run_id = :run_id AND type_id = :type_id ORDER BY customer_key LIMIT 1000
"""


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
            text(_HISTORY).bindparams(bindparam("at", type_=UtcDateTime())),
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
