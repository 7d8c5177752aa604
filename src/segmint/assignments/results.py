"""Run results and run changes: one compressed Arrow blob per run in the metadata database,
read back once per process.

A run's result (every customer's automatic segment and the figures behind it) is one Arrow IPC
stream compressed with zstd, sorted by customer key, stored in ``run_results`` in the swap's
transaction (so the swap stays atomic on both databases, and workers on several machines need
no shared filesystem). The changes a run made (customers whose automatic segment changed, with
names before and after) are stored the same way in ``run_changes``. Why one blob instead of a
row per customer: docs/decisions/0002-run-results-storage.md.

Both never change once written, so a process keeps the few it read last in memory
(:class:`_Lru`), keyed by the run id *and* a random token written with the blob: a run id alone
could name another database's run (tests create many; a database can be dropped and made
again), the token cannot. Readers ask the database for the token (one primary-key lookup), then
answer from memory: a customer's row by binary search over the sorted keys, many at once with
an Arrow ``is_in``.
"""

from __future__ import annotations

import functools
import threading
import uuid
from bisect import bisect_left
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import bindparam, delete, insert, select
from sqlalchemy.orm import Session

from segmint.assignments.models import RunChanges, RunResult
from segmint.metadata.database import core_rows

#: What a run result holds per customer, in this order; amounts (``eligible_sales``,
#: ``share_before``) as whole 1/10000 units, as :class:`~segmint.metadata.base.Amount` stores.
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
RESULT_COLUMNS = tuple(RESULT_SCHEMA.names)
_NAME = pa.dictionary(pa.int32(), pa.string())
#: What a run's changes hold per customer: the names as they were at the swap.
CHANGES_SCHEMA = pa.schema(
    [
        ("customer_key", pa.string()),
        ("auto_from", _NAME),
        ("auto_to", _NAME),
        ("effective_from", _NAME),
        ("effective_to", _NAME),
    ]
)
#: The largest part of a blob: far below the 1 GB that PostgreSQL's ``bytea`` and SQLite's
#: default ``SQLITE_MAX_LENGTH`` allow, and small enough for a driver to send at once.
PART_BYTES = 64 * 1024 * 1024
_BATCH_ROWS = 256 * 1024
_CODEC = pa.Codec("zstd", compression_level=1)  # level 1: 3x faster than 3, ~5 % larger


# -- encoding ----------------------------------------------------------------------------------


def encode(table: pa.Table) -> pa.Buffer:
    """``table`` as a zstd-compressed Arrow IPC stream."""
    sink = pa.BufferOutputStream()
    options = pa.ipc.IpcWriteOptions(compression=_CODEC)
    with pa.ipc.new_stream(sink, table.schema, options=options) as writer:
        writer.write_table(table, max_chunksize=_BATCH_ROWS)
    return sink.getvalue()


def decode(parts: Sequence[bytes]) -> pa.Table:
    data = parts[0] if len(parts) == 1 else b"".join(parts)
    return pa.ipc.open_stream(pa.py_buffer(data)).read_all()


def _parts(data: pa.Buffer) -> list[bytes]:
    size = data.size
    return [data[i : i + PART_BYTES].to_pybytes() for i in range(0, max(size, 1), PART_BYTES)]


def new_token() -> str:
    return uuid.uuid4().hex


# -- writing and deleting ----------------------------------------------------------------------


def write_result(
    session: Session,
    *,
    run_id: int,
    organization_id: int,
    type_id: int,
    rows: int,
    data: pa.Buffer,
    token: str,
) -> None:
    """Store a run's encoded result (in the caller's transaction)."""
    session.execute(
        insert(RunResult.__table__),
        [
            {
                "run_id": run_id,
                "part": i,
                "organization_id": organization_id,
                "type_id": type_id,
                "rows": rows,
                "token": token,
                "data": part,
            }
            for i, part in enumerate(_parts(data))
        ],
    )


def write_changes(
    session: Session,
    *,
    run_id: int,
    organization_id: int,
    type_id: int,
    rows: int,
    after_history_id: int,
    at: datetime,
    data: pa.Buffer,
    token: str,
) -> None:
    """Store a run's encoded changes (in the caller's transaction)."""
    session.execute(
        insert(RunChanges.__table__),
        [
            {
                "run_id": run_id,
                "part": i,
                "organization_id": organization_id,
                "type_id": type_id,
                "rows": rows,
                "after_history_id": after_history_id,
                "at": at,
                "token": token,
                "data": part,
            }
            for i, part in enumerate(_parts(data))
        ],
    )


def delete_results(session: Session, run_ids: Iterable[int]) -> None:
    ids = list(run_ids)
    if ids:
        session.execute(
            delete(RunResult)
            .where(RunResult.run_id.in_(ids))
            .execution_options(synchronize_session=False)
        )


def kept_results(session: Session, run_ids: Iterable[int]) -> set[int]:
    """Which of these runs still have their result."""
    ids = list(run_ids)
    if not ids:
        return set()
    return set(
        session.scalars(
            select(RunResult.run_id).where(RunResult.run_id.in_(ids), RunResult.part == 0)
        )
    )


# -- the cache ---------------------------------------------------------------------------------


class _Lru:
    """A small thread-safe least-recently-used map."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[Any, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Any) -> Any:
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: Any, value: Any) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


#: A 1M-customer result takes ~40 MB in memory; a reader mostly wants the current result of a
#: type or two, the migration matrix two runs.
_RESULTS = _Lru(4)
#: Changes are small but for a type's first run; a timeline reads every run's of the type.
_CHANGES = _Lru(64)


class SortedKeys:
    """Row lookups in an Arrow table sorted by ``customer_key`` (byte order, as DuckDB and
    Arrow sort, which is Python's string order)."""

    table: pa.Table
    keys: pa.Array

    def __init__(self, table: pa.Table) -> None:
        self.table = table
        column = table.column("customer_key")
        self.keys = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)

    @property
    def rows(self) -> int:
        return self.table.num_rows

    @functools.cached_property
    def _searchable(self) -> np.ndarray | None:
        """The keys as a numpy array of fixed-width UTF-8 bytes (same order: UTF-8 byte order
        is code point order), for binary search in C; None when some key is longer than 64
        bytes (the search then probes the Arrow array from Python). ~12 MB at 1M short keys."""
        if not len(self.keys):
            return None
        encoded = self.keys.cast(pa.binary())
        longest = pc.max(pc.binary_length(encoded)).as_py() or 1
        if longest > 64:
            return None
        return np.array(encoded.to_pylist(), dtype=f"S{longest}")

    def position(self, key: str) -> int:
        """Where ``key`` is or would be inserted (bisect_left)."""
        return self.positions([key])[0]

    def positions(self, keys: Sequence[str]) -> list[int]:
        """:meth:`position` of each of ``keys``."""
        searchable = self._searchable
        if searchable is None:
            column = self.keys
            return [
                bisect_left(range(len(column)), k, key=lambda i: column[i].as_py()) for k in keys
            ]
        encoded = [k.encode() for k in keys]
        width = searchable.dtype.itemsize
        found = np.searchsorted(searchable, np.array(encoded, dtype=searchable.dtype)).tolist()
        # A key longer than the array's width was cut to it for the search: it sorts after
        # every key equal to its cut (which is a prefix of it), so move past those.
        for i, key in enumerate(encoded):
            if len(key) > width:
                found[i] = int(np.searchsorted(searchable, key[:width], side="right"))
        return found

    def find(self, keys: Sequence[str]) -> dict[str, int]:
        """Row index of each of ``keys`` that is in the table."""
        if not keys or not self.rows:
            return {}
        if len(keys) <= 256:  # binary searches, then one comparison each
            found = {}
            for key, i in zip(keys, self.positions(keys), strict=True):
                if i < self.rows and self.keys[i].as_py() == key:
                    found[key] = i
            return found
        mask = pc.is_in(self.keys, value_set=pa.array(list(keys), pa.string()))
        rows = pc.indices_nonzero(mask)
        return dict(zip(self.keys.take(rows).to_pylist(), rows.to_pylist(), strict=True))

    def contains(self, keys: Sequence[str]) -> list[bool]:
        found = self.find(keys)
        return [k in found for k in keys]


class LoadedResult(SortedKeys):
    def __init__(self, run_id: int, table: pa.Table) -> None:
        super().__init__(table)
        self.run_id = run_id

    @functools.cached_property
    def columns(self) -> dict[str, np.ndarray]:
        """Every column but the key as numpy (nullable ones as object arrays of Python values),
        for taking a few rows at a time without Arrow's per-call costs."""
        found = {}
        for name in RESULT_COLUMNS[1:]:
            column = self.table.column(name)
            if column.null_count:
                found[name] = np.array(column.to_pylist(), dtype=object)
            else:
                found[name] = column.to_numpy()
        return found


_EMPTY = LoadedResult(-1, RESULT_SCHEMA.empty_table())


@dataclass(frozen=True)
class LoadedChanges:
    run_id: int
    after_history_id: int
    at: datetime
    organization_id: int
    type_id: int
    changes: SortedKeys


def remember_result(run_id: int, token: str, table: pa.Table) -> LoadedResult:
    """Put a result just written into the cache (the worker's process reads it next)."""
    loaded = LoadedResult(run_id, table)
    _RESULTS.put((run_id, token), loaded)
    return loaded


def remember_changes(token: str, changes: LoadedChanges) -> None:
    _CHANGES.put((changes.run_id, token), changes)


def clear_cache() -> None:
    _RESULTS.clear()
    _CHANGES.clear()


# Built once: every customer-list request asks for the current results' tokens.
_RESULT_TOKEN = select(RunResult.token).where(
    RunResult.run_id == bindparam("run_id"), RunResult.part == 0
)


_RESULT_TOKENS = select(RunResult.run_id, RunResult.token).where(
    RunResult.run_id.in_(bindparam("run_ids", expanding=True)), RunResult.part == 0
)


def load_result(session: Session, run_id: int | None) -> LoadedResult | None:
    """A run's result, from memory when this process read it before; None when the run has
    none (not succeeded, or pruned)."""
    if run_id is None:
        return None
    token = session.scalar(_RESULT_TOKEN, {"run_id": run_id})
    if token is None:
        return None
    return _cached_or_read(session, run_id, token)


def load_results(session: Session, run_ids: Iterable[int | None]) -> dict[int, LoadedResult]:
    """:func:`load_result` of several runs with one query for their tokens: ``run id ->
    result`` for the runs that have one."""
    wanted = sorted({r for r in run_ids if r is not None})
    if not wanted:
        return {}
    tokens = core_rows(session, _RESULT_TOKENS, {"run_ids": wanted})
    return {run_id: _cached_or_read(session, run_id, token) for run_id, token in tokens}


def _cached_or_read(session: Session, run_id: int, token: str) -> LoadedResult:
    cached = _RESULTS.get((run_id, token))
    if cached is not None:
        return cached
    parts = list(
        session.scalars(
            select(RunResult.data).where(RunResult.run_id == run_id).order_by(RunResult.part)
        )
    )
    return remember_result(run_id, token, decode(parts))


def empty_result() -> LoadedResult:
    """The result of a type that has none (one object: it is never changed)."""
    return _EMPTY


def load_type_changes(session: Session, type_id: int) -> list[LoadedChanges]:
    """The changes of every run of a type that still exists, in the order they swapped in."""
    heads = session.execute(
        select(
            RunChanges.run_id,
            RunChanges.token,
            RunChanges.after_history_id,
            RunChanges.at,
            RunChanges.organization_id,
        )
        .where(RunChanges.type_id == type_id, RunChanges.part == 0)
        .order_by(RunChanges.after_history_id, RunChanges.run_id)
    ).all()
    found = []
    for run_id, token, after, at, organization_id in heads:
        cached = _CHANGES.get((run_id, token))
        if cached is None:
            parts = list(
                session.scalars(
                    select(RunChanges.data)
                    .where(RunChanges.run_id == run_id)
                    .order_by(RunChanges.part)
                )
            )
            cached = LoadedChanges(
                run_id=run_id,
                after_history_id=after,
                at=at,
                organization_id=organization_id,
                type_id=type_id,
                changes=SortedKeys(decode(parts)),
            )
            _CHANGES.put((run_id, token), cached)
        found.append(cached)
    return found


# -- values as the rest of Segmint knows them --------------------------------------------------

_FOUR_PLACES = Decimal("0.0001")


def amount(units: int | None) -> Decimal | None:
    """Whole 1/10000 units as the exact decimal :class:`~segmint.metadata.base.Amount` reads."""
    if units is None:
        return None
    return Decimal(int(units)).scaleb(-4).quantize(_FOUR_PLACES)


def rows_at(result: LoadedResult, rows: Sequence[int]) -> list[dict[str, Any]]:
    """The result's rows at these indices as dicts, amounts as decimals."""
    if not len(rows):
        return []
    at = np.asarray(rows, dtype=np.int64)
    columns = {"customer_key": result.keys.take(pa.array(at)).to_pylist()}
    for name, values in result.columns.items():
        columns[name] = values[at].tolist()
    for name in ("eligible_sales", "share_before"):
        columns[name] = [amount(v) for v in columns[name]]
    return [
        dict(zip(RESULT_COLUMNS, values, strict=True))
        for values in zip(*columns.values(), strict=True)
    ]
