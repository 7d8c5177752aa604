"""An organization's sales lines held in memory as integer codes, to pick the lines that pass
the insights' dimension filters without reading the store's text columns again.

Why: the RFM insights with two dimension filters (say a territory and a brand) keep about one
line in a hundred, but DuckDB still reads the ``customer_id`` and ``document_id`` text of almost
every block of the table to group the few lines it keeps (dictionary and FSST decoding), which
made an uncached answer cost 0.3-0.7 s at 10M lines. Here every text column is a dense integer
code (``int16`` or ``int32`` per line, the distinct values kept once), the invoice date a day
number, and a filter is a comparison of small integers (one pass over all lines for the first
filter, the rest only over what it kept): the lines of a period that pass two filters are found
in milliseconds. Those
lines, with their values as stored, go to the same engine as every other computation, so
the answer is the engine's by construction; ``tests/insights/test_lines.py`` compares both ways
on every filter.

The index belongs to one version of the store (:meth:`SalesStore.version`): it is built in a
background thread the first time filtered insights of an organization are asked for a version,
and used only for that version; until it is ready, and for an organization with more lines
than ``insights_index_max_lines``, the insights read the store as before. It costs about 34
bytes per line (335 MB at 10M lines) and ~7 s to build at 10M lines on an idle 2-core machine.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from segmint.engine._backend import lit

log = logging.getLogger(__name__)

#: The text columns coded (the engine's report filter columns, and the customer).
CODED = ("customer_id", "document_id", "territory", "sales_rep", "product_id", "brand", "branch")
_EPOCH = date(1970, 1, 1)
#: The in-memory DuckDB database the insights compute in when they read from an index; each
#: computation has a cursor of its own (its temporary tables and views are its own).
_DATABASE = duckdb.connect(":memory:")


@dataclass(frozen=True)
class LineIndex:
    """The lines of one organization in one version of the store."""

    org: str
    version: str
    #: Days since 1970-01-01.
    day: np.ndarray
    #: Net amount in units of 0.0001 (the store's DECIMAL(18, 4), exactly).
    units: np.ndarray
    #: Per coded column: the code of every line (-1: NULL) and the distinct values (code i is
    #: ``values[i]``).
    codes: dict[str, np.ndarray]
    values: dict[str, pa.Array]
    #: The organization's customers (``customer_id``, ``vat_key``) of the same version: what
    #: the engine needs of them (the VAT key of a VAT-based type).
    customers: pa.Table

    @property
    def lines(self) -> int:
        return len(self.day)

    @property
    def nbytes(self) -> int:
        arrays = [self.day, self.units, *self.codes.values()]
        return sum(a.nbytes for a in arrays) + sum(v.nbytes for v in self.values.values())

    def select(
        self, start: date, end: date, filters: tuple[tuple[str, tuple[str, ...]], ...]
    ) -> pa.Table:
        """The lines dated ``start`` .. ``end`` (inclusive) whose every filter column holds one
        of the filter's values, as a table the engine reads like the store's sales lines:
        ``document_id`` (a code, NULL where the line has none), ``invoice_date``,
        ``customer_id``, ``net_amount`` and the filter columns (their text)."""
        first, last = np.int32((start - _EPOCH).days), np.int32((end - _EPOCH).days)
        # One pass over every line for the first filter, then the other filters and the period
        # only on the lines it kept (a filter keeps a few percent of the lines).
        rows: np.ndarray | None = None
        for column, wanted in filters:
            found = _codes_of(self.values[column], wanted)
            codes = self.codes[column] if rows is None else self.codes[column][rows]
            if len(found) == 0:
                keep = np.zeros(len(codes), dtype=bool)
            elif len(found) == 1:
                keep = codes == codes.dtype.type(found[0])
            else:
                keep = np.isin(codes, found)
            rows = np.flatnonzero(keep) if rows is None else rows[keep]
        day = self.day if rows is None else self.day[rows]
        in_period = (day >= first) & (day <= last)  # int32 bounds: no copy to int64
        rows = np.flatnonzero(in_period) if rows is None else rows[in_period]
        columns: dict[str, pa.Array] = {
            "document_id": self._text("document_id", rows),
            "invoice_date": pa.array(self.day[rows], pa.int32()).cast(pa.date32()),
            "customer_id": self._text("customer_id", rows),
            "net_amount": _decimal(self.units[rows]),
        }
        for column, _ in filters:
            if column not in columns:
                columns[column] = self._text(column, rows)
        return pa.table(columns)

    @contextmanager
    def connection(self) -> Iterator[Any]:
        """A DuckDB connection to compute on the selected lines (the store is not attached:
        everything the engine reads comes from the index)."""
        con = _DATABASE.cursor()
        try:
            yield con
        finally:
            con.close()

    def _text(self, column: str, rows: np.ndarray) -> pa.Array:
        codes = self.codes[column][rows]
        return self.values[column].take(pa.array(codes, mask=codes < 0))


def _codes_of(values: pa.Array, wanted: tuple[str, ...]) -> np.ndarray:
    """The codes of the ``wanted`` values that occur (values are compared as text, as the
    engine's filters compare ``CAST(column AS VARCHAR)``)."""
    found = pc.index_in(pa.array(list(wanted), pa.string()), value_set=values)
    return np.array(sorted({c for c in found.to_pylist() if c is not None}), dtype=np.int64)


def _decimal(units: np.ndarray) -> pa.Array:
    """DECIMAL(18, 4) values from their integer units, exactly (two 64-bit words each)."""
    words = np.empty((len(units), 2), dtype=np.int64)
    words[:, 0] = units
    words[:, 1] = units >> 63  # the sign, extended into the high word
    return pa.Array.from_buffers(
        pa.decimal128(18, 4), len(units), [None, pa.py_buffer(words.tobytes())]
    )


#: Lines read per connection while building: each read holds the store for well under a
#: second, so an import that wants the store in the meantime waits that long, not for the
#: whole build.
CHUNK = 1_000_000


class Changed(Exception):
    """The store changed while its lines were being read."""


def build(store: Any, org: str, version: str, *, chunk: int = CHUNK) -> LineIndex:
    """Read the organization's lines from ``store``, ``chunk`` lines per connection; raises
    :class:`Changed` when the store's version is no longer ``version``. Each chunk's text
    columns are dictionary-encoded as they arrive; pyarrow then gives all chunks of a column one
    dictionary (:meth:`pyarrow.ChunkedArray.unify_dictionaries`), so a value has the same code
    in every chunk."""
    days, units = [], []
    encoded: dict[str, list[pa.Array]] = {c: [] for c in CODED}
    text = ", ".join(f"CAST({c} AS VARCHAR) AS {c}" for c in CODED)
    with store.connect(read_only=True) as con:
        last = con.execute("SELECT MAX(rowid) FROM sales_lines").fetchone()[0]
    for first in range(0, (last if last is not None else -1) + 1, chunk):
        if store.version() != version:
            raise Changed(org)
        with store.connect(read_only=True) as con:
            table = con.sql(
                "SELECT CAST(date_diff('day', DATE '1970-01-01', invoice_date) AS INTEGER) "
                f"AS day, CAST(net_amount * 10000 AS BIGINT) AS units, {text} "
                f"FROM sales_lines WHERE org = {lit(org)} "
                f"AND rowid BETWEEN {first} AND {first + chunk - 1}"
            ).to_arrow_table()
        if table.num_rows == 0:
            continue
        days.append(table["day"].to_numpy())
        units.append(table["units"].to_numpy())
        for column in CODED:
            encoded[column].append(pc.dictionary_encode(table[column]).combine_chunks())
    with store.connect(read_only=True) as con:
        customers = con.sql(
            "SELECT CAST(customer_id AS VARCHAR) AS customer_id, "
            f"CAST(vat_key AS VARCHAR) AS vat_key FROM customers WHERE org = {lit(org)}"
        ).to_arrow_table()
    if store.version() != version:
        raise Changed(org)
    if not days:
        empty = np.empty(0, np.int32)
        return LineIndex(
            org=org,
            version=version,
            day=empty,
            units=np.empty(0, np.int64),
            codes={c: empty for c in CODED},
            values={c: pa.array([], pa.string()) for c in CODED},
            customers=customers,
        )
    codes, values = {}, {}
    for column in CODED:
        unified = pa.chunked_array(encoded.pop(column)).unify_dictionaries()
        values[column] = unified.chunks[0].dictionary.cast(pa.string())
        # int16 where the values allow (territories, brands, reps...): half the memory, and a
        # filter reads half as many bytes
        dtype = np.int16 if len(values[column]) < np.iinfo(np.int16).max else np.int32
        codes[column] = np.concatenate(
            [c.indices.fill_null(-1).to_numpy().astype(dtype) for c in unified.chunks]
        )
    return LineIndex(
        org=org,
        version=version,
        day=np.concatenate(days).astype(np.int32, copy=False),
        units=np.concatenate(units).astype(np.int64, copy=False),
        codes=codes,
        values=values,
        customers=customers,
    )


class LineIndexes:
    """The process's line indexes: one per organization, for the newest store version asked
    for; built one at a time in a background thread."""

    def __init__(self, max_lines: int = 20_000_000) -> None:
        #: Organizations with more lines get no index (``insights_index_max_lines``).
        self.max_lines = max_lines
        self._ready: dict[str, LineIndex] = {}
        self._building: set[tuple[str, str]] = set()
        self._failed: set[tuple[str, str]] = set()
        self._lock = threading.Lock()
        self._one_at_a_time = threading.Lock()  # builds read the store one after the other

    def get(self, store: Any, org: str, version: str | None) -> LineIndex | None:
        """The index of ``org`` for ``version`` when it is ready; else None, and its building
        starts (unless it is running, failed for this version, or the organization has more
        than :attr:`max_lines` lines, which the build finds out first)."""
        if version is None or self.max_lines <= 0:
            return None
        key = (org, version)
        with self._lock:
            ready = self._ready.get(org)
            if ready is not None and ready.version == version:
                return ready
            if key in self._building or key in self._failed:
                return None
            self._building.add(key)
            if ready is not None:
                del self._ready[org]  # an older version's: of no more use, and large
        thread = threading.Thread(
            target=self._build, args=(store, org, version, self.max_lines), daemon=True
        )
        thread.start()
        return None

    def _build(self, store: Any, org: str, version: str, max_lines: int) -> None:
        key = (org, version)
        index = None
        try:
            with self._one_at_a_time:
                with store.connect(read_only=True) as con:
                    count = con.execute(
                        f"SELECT COUNT(*) FROM sales_lines WHERE org = {lit(org)}"
                    ).fetchone()[0]
                if count <= max_lines:
                    index = build(store, org, version)
        except Changed:
            pass  # an import came in: the next request asks for the new version
        except Exception:  # the insights keep reading the store; say why in the log
            log.exception("building the insights line index of %s failed", org)
        with self._lock:
            self._building.discard(key)
            if index is None:
                self._failed.add(key)
            else:
                self._ready[org] = index
                log.info(
                    "insights line index of %s ready: %d lines, %.0f MB",
                    org,
                    index.lines,
                    index.nbytes / 1e6,
                )

    def warm(self, store: Any, orgs: list[str]) -> None:
        """Start building the indexes of ``orgs`` for the store's current version (at server
        start, for the organizations with an RFM type: the first filtered insights of the day
        then find their index ready)."""
        version = store.version()
        for org in orgs:
            self.get(store, org, version)

    def put(self, index: LineIndex) -> None:
        """Use ``index`` for its organization and version (a benchmark's or a test's own)."""
        with self._lock:
            self._ready[index.org] = index

    def wait(self, timeout: float = 60.0) -> None:
        """Until no index is being built (tests and benchmarks), at most ``timeout`` seconds."""
        for _ in range(int(timeout * 20)):
            with self._lock:
                if not self._building:
                    return
            time.sleep(0.05)

    def clear(self) -> None:
        with self._lock:
            self._ready.clear()
            self._failed.clear()


#: The process's line indexes.
LINE_INDEXES = LineIndexes()
