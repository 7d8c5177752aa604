"""Keeping a run's result and swapping it in.

The engine's result leaves DuckDB once, as an Arrow table sorted by customer key
(:func:`result_table`). It is compared there with the type's current result (read from the
metadata database once per process, see :mod:`segmint.assignments.results`) to find the
customers whose automatic segment changed (:func:`changed_segments`), and encoded as one
compressed Arrow stream (:func:`segmint.assignments.results.encode`). Nothing is written to the
metadata database before the swap.

The swap is one transaction: store the result and the run's changes (each one blob, with the
segment names before and after and the effective segments as the overrides are at that moment),
point the type at the new run, mark the run succeeded, queue its notifications and webhook
events. A worker killed before or during the swap leaves the previous result exactly as it was,
and nothing of its own behind. Why blobs and not a row per customer:
docs/decisions/0002-run-results-storage.md.
"""

from __future__ import annotations

import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import func, select

from segmint.assignments.models import ManualOverride, SegmentHistory
from segmint.assignments.results import (
    CHANGES_SCHEMA,
    RESULT_SCHEMA,
    LoadedChanges,
    LoadedResult,
    SortedKeys,
    delete_results,
    empty_result,
    encode,
    load_result,
    new_token,
    remember_changes,
    remember_result,
    write_changes,
    write_result,
)
from segmint.errors import RunFailed
from segmint.metadata.base import utcnow
from segmint.metadata.database import Database
from segmint.runs.compute import Computed
from segmint.runs.models import Run
from segmint.segments.models import Segment, SegmentType

log = logging.getLogger(__name__)


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


# -- the result, out of DuckDB -------------------------------------------------------------------


def result_table(con: Any, computed: Computed) -> pa.Table:
    """The engine's result as Arrow, sorted by customer key, in :data:`RESULT_SCHEMA`."""
    table = con.sql(computed.sql).to_arrow_table()
    if table.schema != RESULT_SCHEMA:
        table = table.cast(RESULT_SCHEMA)
    return table


@dataclass
class Prepared:
    """A run's result ready to swap in: the table and its encoding; the customers whose
    automatic segment differs from run ``old_run`` (None: the type had no current result); and
    the run's changes as the history shows them, encoded, given the segment ``names`` and
    ``manual`` overrides read meanwhile. The swap uses the changes only when the type's current
    run, its names and its overrides are still those (it checks under the type's lock)."""

    table: pa.Table
    data: pa.Buffer
    old_run: int | None
    changed: pa.Table  # customer_key, old_id, new_id; sorted by customer key
    names: dict[int, str] = field(default_factory=dict)
    manual: dict[str, int] = field(default_factory=dict)
    history: pa.Table | None = None
    history_data: pa.Buffer | None = None


_COMPARE = """
SELECT coalesce(n.customer_key, o.customer_key) AS customer_key,
       o.segment_id AS old_id, n.segment_id AS new_id
FROM new_result AS n
FULL JOIN old_result AS o ON o.customer_key = n.customer_key
WHERE o.segment_id IS DISTINCT FROM n.segment_id
ORDER BY 1
"""

_CHANGED_SCHEMA = pa.schema(
    [("customer_key", pa.string()), ("old_id", pa.int32()), ("new_id", pa.int32())]
)


def changed_segments(new: pa.Table, old: LoadedResult | None) -> pa.Table:
    """Customers whose automatic segment differs between ``old`` and ``new``: ``customer_key,
    old_id, new_id`` (None where a run has no segment, or no row, for the customer), by key.
    With no ``old`` (a type's first run) every customer in a segment."""
    if old is None:
        keep = pc.is_valid(new.column("segment_id"))
        chosen = new.filter(keep)
        return pa.table(
            [
                chosen.column("customer_key"),
                pa.nulls(chosen.num_rows, pa.int32()),
                chosen.column("segment_id"),
            ],
            schema=_CHANGED_SCHEMA,
        )
    new_keys = new.column("customer_key")
    new_keys = new_keys.combine_chunks() if new_keys.num_chunks != 1 else new_keys.chunk(0)
    if new_keys.equals(old.keys):
        # The same customers as before (a re-run, most of the time): compare row by row, no
        # join. Segment ids are positive, so -1 stands for "none" on both sides.
        old_ids, new_ids = old.table.column("segment_id"), new.column("segment_id")
        differ = pc.not_equal(pc.fill_null(old_ids, -1), pc.fill_null(new_ids, -1))
        return pa.table(
            [new_keys.filter(differ), old_ids.filter(differ), new_ids.filter(differ)],
            schema=_CHANGED_SCHEMA,
        )
    con = duckdb.connect()
    try:
        con.register("new_result", new.select(["customer_key", "segment_id"]))
        con.register("old_result", old.table.select(["customer_key", "segment_id"]))
        changed = con.sql(_COMPARE).to_arrow_table()
    finally:
        con.close()
    return changed.cast(_CHANGED_SCHEMA)


def _names_and_overrides(session: Any, type_id: int) -> tuple[dict[int, str], dict[str, int]]:
    segments = select(Segment.id, Segment.name).where(Segment.type_id == type_id)
    names = dict(session.execute(segments).all())
    manual = dict(
        session.execute(
            select(ManualOverride.customer_key, ManualOverride.segment_id).where(
                ManualOverride.type_id == type_id
            )
        ).all()
    )
    return names, manual


def prepare(db: Database, table: pa.Table, *, type_id: int, current_run: int | None) -> Prepared:
    """Everything the swap stores, made outside any transaction: the result encoded (in a
    thread: Arrow compresses without the GIL), compared with the type's current result (read
    once per process), and the changes with their names, encoded."""
    with ThreadPoolExecutor(1, thread_name_prefix="encode") as pool:
        data = pool.submit(encode, table)
        with db.read_session() as session:
            old = None
            if current_run is not None:
                old = load_result(session, current_run) or empty_result()
            names, manual = _names_and_overrides(session, type_id)
        changed = changed_segments(table, old)
        history = history_of(changed, names=names, manual=manual)
        history_data = encode(history)
        return Prepared(
            table=table,
            data=data.result(),
            old_run=current_run,
            changed=changed,
            names=names,
            manual=manual,
            history=history,
            history_data=history_data,
        )


# -- the swap ------------------------------------------------------------------------------------


def _named(ids: pa.Array, segment_ids: pa.Array) -> pa.Array:
    """Indices into the type's segment names of each id (null: no segment, or one removed)."""
    return pc.index_in(ids, value_set=segment_ids)


def history_of(changed: pa.Table, *, names: dict[int, str], manual: dict[str, int]) -> pa.Table:
    """The run's changes as the timeline shows them: automatic segment names before and after,
    and the effective ones (the manual segment, where a customer has one, on both sides).

    The names are dictionary-encoded over the type's segments: no string per customer is made."""
    segment_ids = pa.array(list(names), pa.int32())
    dictionary = pa.array(list(names.values()), pa.string())
    auto_from = _named(changed.column("old_id"), segment_ids)
    auto_to = _named(changed.column("new_id"), segment_ids)
    if manual:
        override_keys = pa.array(list(manual), pa.string())
        override_names = _named(pa.array(list(manual.values()), pa.int32()), segment_ids)
        at = pc.index_in(changed.column("customer_key"), value_set=override_keys)
        manual_name = pc.take(override_names, at)
        effective_from = pc.coalesce(manual_name, auto_from)
        effective_to = pc.coalesce(manual_name, auto_to)
    else:
        effective_from, effective_to = auto_from, auto_to

    def column(indices: Any) -> pa.DictionaryArray:
        if isinstance(indices, pa.ChunkedArray):
            indices = indices.combine_chunks()
        return pa.DictionaryArray.from_arrays(indices.cast(pa.int32()), dictionary)

    return pa.table(
        [
            changed.column("customer_key"),
            column(auto_from),
            column(auto_to),
            column(effective_from),
            column(effective_to),
        ],
        schema=CHANGES_SCHEMA,
    )


def _listing(history: pa.Table) -> list[dict[str, Any]]:
    """The first changes by customer key, for the ``segment.changed`` event."""
    from segmint.runs.events import MAX_CHANGES

    head = history.slice(0, MAX_CHANGES)
    keys = head.column("customer_key").to_pylist()
    before = head.column("effective_from").to_pylist()
    after = head.column("effective_to").to_pylist()
    return [
        {"customer_key": k, "from": f, "to": t, "source": "run"}
        for k, f, t in zip(keys, before, after, strict=True)
    ]


def swap(
    db: Database,
    computed: Computed,
    *,
    run_id: int,
    worker_id: str,
    prepared: Prepared,
) -> Run:
    """Store the run's result and changes and make it the type's current result, in one
    transaction.

    The changes prepared with :func:`prepare` are used when the type's current run, segment
    names and overrides are still those they were made with; otherwise (another run swapped
    in, a rename, an override set meanwhile) they are made again here, under the type's lock,
    so the history is exactly what it would have been had the run been computed just now."""
    from segmint.runs.events import run_finished, segments_changed

    with db.session() as session:
        run = _still_mine(session, run_id, worker_id)
        segment_type = session.scalars(
            select(SegmentType).where(SegmentType.id == run.type_id).with_for_update()
        ).one()
        current = segment_type.current_run_id
        names, manual = _names_and_overrides(session, segment_type.id)
        history, history_data = prepared.history, prepared.history_data
        stale = (current, names, manual) != (prepared.old_run, prepared.names, prepared.manual)
        if stale or history is None or history_data is None:
            # Another run became current, a segment was renamed or an override changed while
            # the result was prepared: the changes are made again, under the type's lock.
            changed = prepared.changed
            if current != prepared.old_run:
                old = load_result(session, current) if current is not None else None
                if current is not None and old is None:
                    old = empty_result()
                changed = changed_segments(prepared.table, old)
            history = history_of(changed, names=names, manual=manual)
            history_data = encode(history)
        # Every history row written so far comes before this run's changes in a timeline; a
        # person's next change (which waits for the type's lock) comes after.
        after_history_id = session.scalar(
            select(func.coalesce(func.max(SegmentHistory.id), 0)).where(
                SegmentHistory.type_id == segment_type.id
            )
        )
        now = utcnow()
        result_token, changes_token = new_token(), new_token()
        common = {"run_id": run_id, "organization_id": run.organization_id}
        write_result(
            session,
            **common,
            type_id=segment_type.id,
            rows=prepared.table.num_rows,
            data=prepared.data,
            token=result_token,
        )
        write_changes(
            session,
            **common,
            type_id=segment_type.id,
            rows=history.num_rows,
            after_history_id=int(after_history_id),
            at=now,
            data=history_data,
            token=changes_token,
        )
        pause_point("during_swap")
        if history.num_rows:
            segments_changed(
                session=session,
                organization_id=run.organization_id,
                type_id=segment_type.id,
                changes=lambda: _listing(history),  # only when an endpoint takes the event
                total=history.num_rows,
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
        run.summary = {**computed.summary, "changed": history.num_rows}
        run_finished(session=session, run=run, segment_type=segment_type)
        type_id, organization_id = segment_type.id, run.organization_id
    # Committed: this process (the web app's, with the worker thread) has both at hand.
    remember_result(run_id, result_token, prepared.table)
    remember_changes(
        changes_token,
        LoadedChanges(
            run_id=run_id,
            after_history_id=int(after_history_id),
            at=now,
            organization_id=organization_id,
            type_id=type_id,
            changes=SortedKeys(history),
        ),
    )
    return run


def prune_snapshots(db: Database, *, type_id: int, keep: int) -> int:
    """Drop the results of all but the newest ``keep`` succeeded runs of a type (the current
    one is always kept); the runs' changes (the automatic part of the history) and the runs
    themselves stay."""
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
        delete_results(session, old)
        return len(old)
