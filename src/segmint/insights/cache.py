"""The in-process cache of computed insights, and the versions that keep it fresh.

A cached answer is only ever found under the exact key it was computed for, and the key holds
everything the answer depends on. RFM insights: the organization, the type's stored definition
(a digest of its segments, map, cut points and period), the manual overrides of the type (a
digest), the request (as-of date, months, filters, proposed cut points, rep restriction) and the
version of the sales store. Snapshot answers (Pareto overview, migration matrix): the type's
definition and the runs, whose snapshots never change once finished. So nothing is ever
invalidated by hand: after an import or an edit the key is different, the old entry is simply
never asked for again and ages out of the LRU.

Concurrent requests for the same key compute it once: the first computes, the others wait for
its answer (at 10 requests/s on a page that takes a few hundred milliseconds to compute, several
identical requests arrive while the first is still running). At most ``computing`` answers are
computed at a time (default 2, one per core of a small server): each reads the sales store with
all of DuckDB's threads and up to ~150 MB of buffers at 10M lines, so twenty at once would only
share the cores twenty ways, finish all together late, and hold twenty times the memory.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from typing import Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from segmint.assignments.models import ManualOverride
from segmint.segments.models import SegmentType
from segmint.store import SalesStore

T = TypeVar("T")


class InsightsCache:
    """A thread-safe LRU of ``maxsize`` answers with single-flight computation, at most
    ``computing`` computations at a time."""

    def __init__(self, maxsize: int = 128, computing: int = 2) -> None:
        self.maxsize = maxsize
        self._entries: OrderedDict[Hashable, Any] = OrderedDict()
        self._pending: dict[Hashable, Future] = {}
        self._lock = threading.Lock()
        self._computing = threading.BoundedSemaphore(computing)
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable) -> Any | None:
        """The cached answer for ``key``, or None (nothing is computed)."""
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                self.hits += 1
                return self._entries[key]
        return None

    def get_or_compute(self, key: Hashable, compute: Callable[[], T]) -> T:
        """The cached answer for ``key``, else ``compute()``'s (stored unless it raises)."""
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                self.hits += 1
                return self._entries[key]
            pending = self._pending.get(key)
            if pending is None:
                self.misses += 1
                mine: Future = Future()
                self._pending[key] = mine
        if pending is not None:
            return pending.result()  # someone else is computing it; an error reaches us too
        try:
            with self._computing:
                value = compute()
        except BaseException as error:
            with self._lock:
                del self._pending[key]
            mine.set_exception(error)
            raise
        with self._lock:
            del self._pending[key]
            self._entries[key] = value
            self._entries.move_to_end(key)
            while len(self._entries) > self.maxsize:
                self._entries.popitem(last=False)
        mine.set_result(value)
        return value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self.hits = self.misses = 0

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)


#: The process's cache of insights (small: a few hundred KB at most).
CACHE = InsightsCache(128)


def clear_cache() -> None:
    """Forget every cached insight (tests; never needed for correctness)."""
    CACHE.clear()


def _digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def type_digest(segment_type: SegmentType) -> str:
    """A digest of everything of a stored type that an insight depends on."""
    return _digest(
        {
            "id": segment_type.id,
            "name": segment_type.name,
            "method": segment_type.method,
            "identity": segment_type.identity,
            "timespan_months": segment_type.timespan_months,
            "interval": segment_type.interval,
            "min_sales": str(segment_type.min_sales),
            "branches": list(segment_type.branches or ()),
            "brands": list(segment_type.brands or ()),
            "cuts": [segment_type.r_cuts, segment_type.f_cuts, segment_type.m_cuts],
            "segments": [
                [
                    s.id,
                    s.name,
                    s.position,
                    str(s.threshold),
                    s.is_default,
                    s.excluded,
                    list(s.cells or ()),
                    s.description,
                    s.recommended_action,
                ]
                for s in segment_type.segments
            ],
        }
    )


def overrides_digest(session: Session, type_id: int) -> str:
    """A digest of the type's manual overrides without reading them all: every change (set,
    change, clear, clear all) changes the count or stamps a newer ``set_at``."""
    row = session.execute(
        select(
            func.count(),
            func.max(ManualOverride.set_at),
            func.max(ManualOverride.id),
            func.sum(ManualOverride.segment_id),
        ).where(ManualOverride.type_id == type_id)
    ).one()
    return _digest(list(row))


def store_version(store: SalesStore) -> str | None:
    """The version of the sales store as an insight sees it: the store's own version token
    (:meth:`~segmint.store.SalesStore.version`: the file's identity, size, modification time
    and headers, which DuckDB rewrites at every checkpoint, and its write-ahead log's size and
    time). Every import writes the store, and so does any write that goes around the import
    (benchmarks, repairs), so every one of them changes it. Read without opening the store: a
    cached answer costs no DuckDB connection and never waits for an import."""
    return store.version()
