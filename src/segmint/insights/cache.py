"""The in-process cache of computed insights, and the versions that keep it fresh.

A cached answer is only ever found under the exact key it was computed for, and the key holds
everything the answer depends on. RFM insights: the organization, the type's stored definition
(a digest of its segments, map, cut points and period), the manual overrides of the type (a
digest), the request (as-of date, months, filters, proposed cut points, rep restriction) and the
version of the sales store. Snapshot answers (Pareto overview, migration matrix): the type's
definition and the runs, whose snapshots never change once finished. So nothing is ever
invalidated by hand: after an import or an edit the key is different, the old entry is simply
never asked for again and ages out of the LRU.

With several server processes (``segmint serve --workers N``) each would compute every answer
once for itself; :meth:`InsightsCache.share` adds a second level that the processes of one
machine share, a :mod:`diskcache` directory in the data directory (SQLite and files, safe across
processes), under a digest of the key and the metadata database's URL. It is only ever a cache:
if it cannot be read or written, the answer is computed as without it.

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
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from segmint.assignments.models import ManualOverride
from segmint.segments.models import SegmentType
from segmint.store import SalesStore

T = TypeVar("T")
logger = logging.getLogger(__name__)
#: What the shared level may hold on disk; least recently used answers go first.
SHARED_BYTES = 256 * 1024 * 1024


class InsightsCache:
    """A thread-safe LRU of ``maxsize`` answers with single-flight computation, at most
    ``computing`` computations at a time."""

    def __init__(self, maxsize: int = 128, computing: int = 2) -> None:
        self.maxsize = maxsize
        self._entries: OrderedDict[Hashable, Any] = OrderedDict()
        self._pending: dict[Hashable, Future] = {}
        self._lock = threading.Lock()
        self._computing = threading.BoundedSemaphore(computing)
        self._shared: Any = None  # a diskcache.Cache, see share()
        self._scope = ""
        self.hits = 0
        self.misses = 0
        self.shared_hits = 0

    def share(self, directory: Path | None, *, scope: str = "") -> None:
        """Keep answers in ``directory`` too, for the other processes of this machine (None:
        stop). ``scope`` (the metadata database's URL) is part of every shared key: two
        databases never see each other's answers even in one directory."""
        import diskcache

        with self._lock:
            if self._shared is not None:
                self._shared.close()
                self._shared = None
            if directory is not None:
                try:
                    self._shared = diskcache.Cache(
                        str(directory),
                        size_limit=SHARED_BYTES,
                        eviction_policy="least-recently-used",
                    )
                except Exception:  # unusable directory: each process keeps its own answers
                    logger.warning(
                        "cannot use %s for the shared insights cache", directory, exc_info=True
                    )
            self._scope = scope

    def _shared_key(self, key: Hashable) -> str:
        return hashlib.sha256(repr((self._scope, key)).encode()).hexdigest()

    def _from_shared(self, key: Hashable) -> Any | None:
        shared = self._shared
        if shared is None:
            return None
        try:
            value = shared.get(self._shared_key(key))
        except Exception:  # a cache: a broken entry or directory must not fail the request
            logger.warning("could not read the shared insights cache", exc_info=True)
            return None
        if value is not None:
            with self._lock:
                self.shared_hits += 1
                self._remember(key, value)
        return value

    def _to_shared(self, key: Hashable, value: Any) -> None:
        shared = self._shared
        if shared is None:
            return
        try:
            shared.set(self._shared_key(key), value)
        except Exception:
            logger.warning("could not write the shared insights cache", exc_info=True)

    def _remember(self, key: Hashable, value: Any) -> None:
        self._entries[key] = value
        self._entries.move_to_end(key)
        while len(self._entries) > self.maxsize:
            self._entries.popitem(last=False)

    def get(self, key: Hashable) -> Any | None:
        """The cached answer for ``key``, or None (nothing is computed)."""
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                self.hits += 1
                return self._entries[key]
        return self._from_shared(key)

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
            value = self._from_shared(key)
            if value is None:
                with self._computing:
                    value = compute()
                self._to_shared(key, value)
        except BaseException as error:
            with self._lock:
                del self._pending[key]
            mine.set_exception(error)
            raise
        with self._lock:
            del self._pending[key]
            self._remember(key, value)
        mine.set_result(value)
        return value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self.hits = self.misses = self.shared_hits = 0
            if self._shared is not None:
                self._shared.clear()

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
