"""The organization's customer records, read once per version of the sales store and kept in
memory, so a page of the customer list is a slice of a sorted index instead of two DuckDB
queries (and an ATTACH) per request.

A :class:`CustomerTable` is an Arrow table of one organization's customers plus, computed on
first use, the row order of every sort the list offers. It is cached under the store's file,
the organization and :meth:`~segmint.store.SalesStore.version`, a token read without opening
the store; a table is labelled with the version read while the store was open (nothing can
write meanwhile), so an import, or any other write, makes the next request read afresh. No
DuckDB connection outlives a request: an import never waits for the web server.

Ordering matches the SQL it replaces (``ORDER BY <sort> <dir> NULLS LAST, customer_id <dir>``):
Arrow, like DuckDB without a collation, compares text by its UTF-8 bytes. Filters that are plain
comparisons (dimensions, the rep rule, segment keys) are Arrow masks; search runs DuckDB's own
``ILIKE`` over the in-memory table, so its matching is DuckDB's.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from segmint.store import SalesStore

#: The columns of a customer record, in the order of :class:`~segmint.customers.service.Customer`.
COLUMNS = (
    "customer_id",
    "name",
    "vat_number",
    "vat_key",
    "branch",
    "territory",
    "sales_rep",
    "first_seen",
)


class CustomerTable:
    """One organization's customers at one version of the store (immutable once built)."""

    def __init__(self, table: pa.Table) -> None:
        self.table = table.combine_chunks()
        self._orders: dict[tuple[str, str], np.ndarray] = {}
        self._matches: weakref.WeakKeyDictionary[Any, dict[str, np.ndarray]] = (
            weakref.WeakKeyDictionary()
        )
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return self.table.num_rows

    def order(self, sort: str, direction: str) -> np.ndarray:
        """Row positions in list order: ``sort`` then ``customer_id``, both ``direction``
        (``ascending``/``descending``), empty values of ``sort`` last."""
        key = (sort, direction)
        found = self._orders.get(key)
        if found is None:
            keys = [(sort, direction)]  # nulls last: Arrow's default in both directions
            if sort != "customer_id":
                keys.append(("customer_id", direction))
            found = pc.sort_indices(self.table, sort_keys=keys).to_numpy()
            found.setflags(write=False)
            with self._lock:
                found = self._orders.setdefault(key, found)
        return found

    def matches(self, result: Any, column: str) -> np.ndarray:
        """For every record, the row of ``result`` (a run result,
        :class:`~segmint.assignments.results.SortedKeys`) whose key is the record's ``column``
        (``customer_id``, or ``vat_key`` for a VAT-based type), -1 where there is none.

        Computed once per result (a hash join in Arrow, ~10 ms at 100k customers) and kept
        while the result is: a page of the list then finds its rows by indexing (what
        probing 50 keys per type on every request cost was a tenth of the request)."""
        with self._lock:
            found = self._matches.get(result, {}).get(column)
        if found is None:
            rows = pc.index_in(self.table[column], value_set=result.keys)
            found = pc.fill_null(rows, -1).to_numpy(zero_copy_only=False).astype(np.int64)
            found.setflags(write=False)
            with self._lock:
                found = self._matches.setdefault(result, {}).setdefault(column, found)
        return found

    def equal_mask(self, column: str, value: str) -> np.ndarray:
        return _mask(pc.equal(self.table[column], pa.scalar(value, pa.string())))

    def in_mask(self, column: str, values: Iterable[str]) -> np.ndarray:
        wanted = pa.array(sorted(set(values)), pa.string())
        return _mask(pc.is_in(self.table[column], value_set=wanted))

    def null_mask(self, column: str) -> np.ndarray:
        return _mask(pc.is_null(self.table[column]))

    def search_mask(self, condition: str, params: Sequence[Any]) -> np.ndarray:
        """Rows for which the SQL ``condition`` (over ``c``, with ``?`` parameters) holds, as
        DuckDB evaluates it; DuckDB keeps the rows' order in a plain projection."""
        con = duckdb.connect(":memory:")
        try:
            con.register("c", self.table)
            found = con.sql(f"SELECT COALESCE({condition}, FALSE) FROM c", params=list(params))
            column = found.to_arrow_table().column(0)
        finally:
            con.close()
        return _mask(column)

    def distinct(self, column: str, mask: np.ndarray | None = None) -> list[str]:
        """The distinct non-empty values of ``column`` (of the rows in ``mask``), sorted."""
        values = self.table[column] if mask is None else self.table[column].filter(mask)
        return sorted(v for v in pc.unique(values).to_pylist() if v is not None)

    def rows(self, positions: np.ndarray) -> list[tuple]:
        """The records at ``positions`` as tuples in :data:`COLUMNS` order."""
        if not len(positions):
            return []
        page = self.table.take(pa.array(positions, pa.int64()))
        columns = [page.column(name).to_pylist() for name in COLUMNS]
        return list(zip(*columns, strict=True))


def _mask(values: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """A boolean array (NULL counts as False, as in a SQL WHERE) as numpy."""
    filled = pc.fill_null(values, False)
    if isinstance(filled, pa.ChunkedArray):
        filled = filled.combine_chunks()
    return filled.to_numpy(zero_copy_only=False)


class CustomerTables:
    """A thread-safe LRU of :class:`CustomerTable` s; concurrent requests for a missing table
    read the store once."""

    def __init__(self, maxsize: int = 8) -> None:
        self.maxsize = maxsize
        self._entries: OrderedDict[tuple, CustomerTable] = OrderedDict()
        self._lock = threading.Lock()
        self._loading = threading.Lock()
        self.loads = 0

    def get(self, store: SalesStore, org: str) -> CustomerTable:
        """The organization's customers as the store holds them now."""
        place = str(store.path.resolve())
        key = (place, org, store.version())
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
                return found
        with self._loading:  # one read at a time: the others find its table when it is theirs
            with self._lock:
                found = self._entries.get(key)
            if found is not None:
                return found
            with store.attached() as con:
                # read while the store is held open: no write can slip between label and data
                version = store.version()
                arrow = con.sql(
                    f"SELECT {', '.join(COLUMNS)} FROM store.customers WHERE org = ?", params=[org]
                ).to_arrow_table()
            table = CustomerTable(arrow)
            self.loads += 1
            with self._lock:
                self._entries[(place, org, version)] = table
                self._entries.move_to_end((place, org, version))
                while len(self._entries) > self.maxsize:
                    self._entries.popitem(last=False)
        return table

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self.loads = 0


#: The process's customer tables (about 100 bytes a customer, plus 8 a customer per sort used).
TABLES = CustomerTables()


def clear_tables() -> None:
    """Forget every cached customer table (tests; never needed for correctness)."""
    TABLES.clear()
