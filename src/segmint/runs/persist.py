"""Writing a run's snapshot and swapping it in.

The snapshot rows go into ``assignments`` under the run's id, in chunks of short transactions
(PostgreSQL: one COPY), while the previous result stays current: nobody reads rows of a run
that is not current. The swap is one transaction: write the history of every customer whose
automatic segment changed (with the effective segment, manual overrides as they are at that
moment), point the type at the new run, mark the run succeeded, queue its notifications and
webhook events. A worker killed before or during the swap leaves the previous result exactly
as it was.

Which customers changed is found in DuckDB when it can be: :class:`PreviousSegments` reads the
current run's (customer, segment) pairs in a thread of its own while the new snapshot is being
written, and :func:`changed_segments` compares them with the new result. The swap then only
looks up the changed customers, instead of comparing two snapshots of every customer in the
metadata database. A type's first run has nothing to compare with (its history is read straight
off the new snapshot); when the pairs could not be read (or another run became current
meanwhile) the swap compares in SQL as before.
"""

from __future__ import annotations

import io
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from itertools import chain, islice
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
from sqlalchemy import bindparam, delete, select, text

from segmint.assignments.models import Assignment
from segmint.errors import RunFailed
from segmint.metadata.base import UtcDateTime, utcnow
from segmint.metadata.database import Database
from segmint.runs.compute import SNAPSHOT_COLUMNS, Computed
from segmint.runs.models import Run
from segmint.segments.models import SegmentType

log = logging.getLogger(__name__)

CHUNK_ROWS = 50_000
_ROWS_PER_INSERT = 500
# SQLITE_MAX_VARIABLE_NUMBER: 999 before SQLite 3.32, 32766 since.
_SQLITE_MAX_VALUES = 32_766 if sqlite3.sqlite_version_info >= (3, 32) else 999


def pause_point(stage: str) -> None:
    """Fault injection for the crash tests: with ``SEGMINT_FAULT_PAUSE=<stage>`` the worker
    writes ``SEGMINT_FAULT_PAUSE_FILE`` and stops here until it is killed."""
    if os.environ.get("SEGMINT_FAULT_PAUSE") != stage:
        return
    target = Path(os.environ.get("SEGMINT_FAULT_PAUSE_FILE", "segmint-paused"))
    # Written aside and renamed: the test polls for the file and must never see it empty.
    aside = target.with_name(target.name + ".tmp")
    aside.write_text(stage)
    os.replace(aside, target)
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
    :data:`_ROWS_PER_INSERT` rows (``VALUES (...), (...), ...``), within SQLite's limit of bound
    values, so executemany steps once per few hundred rows instead of once per row."""
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


# -- comparing with the current result in DuckDB ------------------------------------------------


def read_segments(db: Database, run_id: int) -> pa.Table | None:
    """``customer_key`` and ``segment_id`` of every snapshot row of a run, as an Arrow table;
    None when they cannot be read that way.

    Each database hands the rows over in one piece that Python does not take apart row by row:
    SQLite as two JSON arrays (``json_group_array``), PostgreSQL as two strings, the keys
    joined by U+0001 (``string_agg``; half the time of a COPY). A key containing U+0001 makes
    one key too many: then None, and the swap compares in SQL."""
    schema = pa.schema([("customer_key", pa.string()), ("segment_id", pa.int64())])
    with db.read_session() as session:
        if db.dialect == "postgresql":
            keys, segments, count = session.execute(
                text(
                    "SELECT string_agg(customer_key, chr(1)), "
                    "string_agg(coalesce(CAST(segment_id AS text), ''), ','), count(*) "
                    "FROM assignments WHERE run_id = :run_id"
                ),
                {"run_id": run_id},
            ).one()
        else:
            keys, segments = session.execute(
                text(
                    "SELECT json_group_array(customer_key), json_group_array(segment_id) "
                    "FROM assignments WHERE run_id = :run_id"
                ),
                {"run_id": run_id},
            ).one()
    if db.dialect != "postgresql":
        return pa.table(
            [pa.array(json.loads(keys), pa.string()), pa.array(json.loads(segments), pa.int64())],
            schema=schema,
        )
    if not count:
        return schema.empty_table()
    key_list = keys.split("\x01")
    if len(key_list) != count:
        return None
    ids = pa.array(segments.split(","))
    ids = pc.if_else(pc.equal(ids, ""), pa.scalar(None, pa.string()), ids)
    return pa.table([pa.array(key_list, pa.string()), ids.cast(pa.int64())], schema=schema)


class PreviousSegments:
    """The current result of a type (its run's customers and segments), read by a thread of its
    own while the new result is written. :meth:`table` waits for it; None when it could not be
    read (the swap then compares in SQL)."""

    def __init__(self, db: Database, run_id: int) -> None:
        self.run_id = run_id
        self._db = db
        self._table: pa.Table | None = None
        self._thread = threading.Thread(
            target=self._read, name=f"previous-run-{run_id}", daemon=True
        )
        self._thread.start()

    def _read(self) -> None:
        try:
            self._table = read_segments(self._db, self.run_id)
        except Exception:  # an optimisation only: the swap compares in SQL instead
            log.warning(
                "run %s: reading its result for the comparison failed", self.run_id, exc_info=True
            )

    def table(self) -> pa.Table | None:
        self._thread.join()
        return self._table


@dataclass
class Changes:
    """Customers whose automatic segment differs between run ``old_run`` and the new one:
    ``(customer_key, old segment id, new segment id)``, either id None when the customer has no
    segment (or no row) in that run."""

    old_run: int
    rows: list[tuple[str, int | None, int | None]]


def changed_segments(con: Any, computed: Computed, previous: PreviousSegments) -> Changes | None:
    """Compare the new result (still in DuckDB) with the previous one, in DuckDB."""
    old = previous.table()
    if old is None:
        return None
    name = f"{computed.table}_previous"
    con.register(name, old)
    try:
        rows = con.execute(f"""
            SELECT coalesce(n.customer_key, o.customer_key), o.segment_id, n.segment_id
            FROM (SELECT customer_key, segment_id FROM {computed.table}) AS n
            FULL JOIN {name} AS o ON o.customer_key = n.customer_key
            WHERE o.segment_id IS DISTINCT FROM n.segment_id
        """).fetchall()
    finally:
        con.unregister(name)
    return Changes(old_run=previous.run_id, rows=rows)


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

# A type's first result (no current run before): every customer in a segment is new to the type,
# so its history row is read straight off the new snapshot, with no previous one to compare.
# The same rows as _HISTORY with an empty previous run: auto_from NULL, effective_from the manual
# segment if any.
_FIRST_HISTORY = """
INSERT INTO segment_history (organization_id, type_id, customer_key, at, source, run_id,
                             auto_from, auto_to, effective_from, effective_to)
SELECT :org, :type_id, n.customer_key, :at, 'run', :run_id,
       NULL, sn.name, sm.name, COALESCE(sm.name, sn.name)
FROM assignments AS n
LEFT JOIN manual_overrides AS m ON m.type_id = :type_id AND m.customer_key = n.customer_key
LEFT JOIN segments AS sn ON sn.id = n.segment_id
LEFT JOIN segments AS sm ON sm.id = m.segment_id
WHERE n.run_id = :run_id AND n.segment_id IS NOT NULL
"""

_CHANGES = """
SELECT customer_key, effective_from, effective_to FROM segment_history
WHERE run_id = :run_id AND type_id = :type_id ORDER BY customer_key LIMIT 1000
"""


# The changed customers as found by changed_segments(), handed to the history INSERT: on
# PostgreSQL as three arrays, on SQLite through a temporary table of the connection.
_PAIRS_LISTED_POSTGRES = """
  SELECT * FROM unnest(CAST(:keys AS text[]), CAST(:old_ids AS integer[]),
                       CAST(:new_ids AS integer[])) AS u(customer_key, old_id, new_id)
"""
_PAIRS_LISTED_SQLITE = "SELECT customer_key, old_id, new_id FROM temp.run_changes"


def _history_sql(dialect: str, *, first: bool = False, listed: bool = False) -> str:
    if first:
        return _FIRST_HISTORY
    if listed:
        pairs = _PAIRS_LISTED_POSTGRES if dialect == "postgresql" else _PAIRS_LISTED_SQLITE
    else:
        pairs = _PAIRS_POSTGRES if dialect == "postgresql" else _PAIRS_SQLITE
    return _HISTORY.format(pairs=pairs)


def _write_history(
    session: Any, dialect: str, params: dict[str, Any], *, first: bool, listed: Changes | None
) -> int:
    """Insert the history rows of the swap; returns how many customers changed segment."""
    statement = text(_history_sql(dialect, first=first, listed=listed is not None))
    statement = statement.bindparams(bindparam("at", type_=UtcDateTime()))
    if first or listed is None:
        return session.execute(statement, params).rowcount
    if not listed.rows:
        return 0
    if dialect == "postgresql":
        keys, old_ids, new_ids = (list(column) for column in zip(*listed.rows, strict=True))
        return session.execute(
            statement, {**params, "keys": keys, "old_ids": old_ids, "new_ids": new_ids}
        ).rowcount
    connection = session.connection()
    connection.exec_driver_sql(
        "CREATE TEMP TABLE IF NOT EXISTS run_changes "
        "(customer_key TEXT NOT NULL, old_id INTEGER, new_id INTEGER)"
    )
    connection.exec_driver_sql("DELETE FROM temp.run_changes")
    connection.exec_driver_sql("INSERT INTO temp.run_changes VALUES (?, ?, ?)", listed.rows)
    changed = session.execute(statement, params).rowcount
    connection.exec_driver_sql("DELETE FROM temp.run_changes")
    return changed


def swap(
    db: Database,
    computed: Computed,
    *,
    run_id: int,
    worker_id: str,
    changes: Changes | None = None,
) -> Run:
    """Make the run's snapshot the type's current result, in one transaction.

    ``changes`` are the customers whose segment differs from the type's current run, found by
    :func:`changed_segments`; without them (or when they were compared with a run that is no
    longer current) the two snapshots are compared here, in SQL."""
    from segmint.runs.events import run_finished, segments_changed

    with db.session() as session:
        run = _still_mine(session, run_id, worker_id)
        segment_type = session.scalars(
            select(SegmentType).where(SegmentType.id == run.type_id).with_for_update()
        ).one()
        current = segment_type.current_run_id
        first = current is None
        listed = changes if changes is not None and changes.old_run == current else None
        now = utcnow()
        changed = _write_history(
            session,
            db.dialect,
            {
                "org": run.organization_id,
                "type_id": segment_type.id,
                "at": now,
                "run_id": run_id,
                "old_run": -1 if first else current,
            },
            first=first,
            listed=listed,
        )
        pause_point("during_swap")
        if changed:

            def listing() -> list[dict[str, Any]]:  # only when an endpoint takes the event
                rows = session.execute(
                    text(_CHANGES), {"run_id": run_id, "type_id": segment_type.id}
                ).all()
                return [
                    {"customer_key": k, "from": f, "to": t, "source": "run"} for k, f, t in rows
                ]

            segments_changed(
                session=session,
                organization_id=run.organization_id,
                type_id=segment_type.id,
                changes=listing,
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
