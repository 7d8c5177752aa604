"""Effective segments answered from a run's result in memory plus the override rows.

A type's automatic segments are its current run's result (:mod:`segmint.assignments.results`,
read once per process); manual overrides are rows in ``manual_overrides``, few next to the
customers, read from the database on every call (they change at any time and must win at once).
Everything here combines the two the way the SQL join did before (decision 0002): every customer
of the result with its override if any, plus the customers with only an override, ordered by
customer key.
"""

from __future__ import annotations

import heapq
from bisect import bisect_left
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from segmint.assignments.models import ManualOverride
from segmint.assignments.results import LoadedResult, empty_result, load_result, rows_at
from segmint.metadata.database import core_rows

_IN_CHUNK = 5_000  # keys per IN (...) list: far below SQLite's limit of bound values


@dataclass(frozen=True)
class Override:
    customer_key: str
    segment_id: int
    reason: str | None
    set_by: int | None
    set_at: datetime | None


# Built once (the customer list asks on every request; building a select costs about as much
# as running it on SQLite).
_OVERRIDES = select(
    ManualOverride.type_id,
    ManualOverride.customer_key,
    ManualOverride.segment_id,
    ManualOverride.reason,
    ManualOverride.set_by,
    ManualOverride.set_at,
).where(ManualOverride.type_id.in_(bindparam("type_ids", expanding=True)))
_OVERRIDES_OF_KEYS = _OVERRIDES.where(
    ManualOverride.customer_key.in_(bindparam("keys", expanding=True))
)


def overrides_of(
    session: Session, type_ids: Sequence[int], keys: Iterable[str] | None = None
) -> dict[tuple[int, str], Override]:
    """``(type id, customer key) -> Override`` of the types, for ``keys`` only when given."""
    types = {"type_ids": list(type_ids)}
    if keys is None:
        rows = core_rows(session, _OVERRIDES, types)
    else:
        wanted = sorted(set(keys))
        rows = []
        for i in range(0, len(wanted), _IN_CHUNK):
            chunk = wanted[i : i + _IN_CHUNK]
            rows += core_rows(session, _OVERRIDES_OF_KEYS, {**types, "keys": chunk})
    return {(t, k): Override(k, s, r, b, a) for t, k, s, r, b, a in rows}


def current_result(session: Session, run_id: int | None) -> LoadedResult:
    """The result of run ``run_id`` (a type's current run), empty when there is none."""
    return load_result(session, run_id) or empty_result()


def manual_only(result: LoadedResult, override_keys: Iterable[str]) -> list[str]:
    """The overridden keys that are not in the result, sorted."""
    keys = sorted(override_keys)
    found = result.find(keys)
    return [k for k in keys if k not in found]


def page(
    result: LoadedResult, only_manual: list[str], *, offset: int, limit: int | None
) -> list[tuple[str, int | None]]:
    """``(key, row in result or None)`` at positions ``offset`` .. ``offset + limit`` of the
    result's keys merged with ``only_manual`` (sorted, none of them in the result), in key
    order, without walking the rows before ``offset``.

    A manual-only key ``m`` (the ``i``-th) sits at position ``insertion point of m + i``; the
    result rows before position ``p`` are ``p`` minus the manual-only keys before it."""
    positions = [p + i for i, p in enumerate(result.positions(only_manual))]
    total = result.rows + len(only_manual)
    end = total if limit is None else min(total, offset + max(limit, 0))
    if offset >= end:
        return []
    first, last = bisect_left(positions, offset), bisect_left(positions, end)
    start, stop = offset - first, end - last
    keys = result.keys.slice(start, stop - start).to_pylist()
    automatic = ((k, start + i) for i, k in enumerate(keys))
    manual = ((k, None) for k in only_manual[first:last])
    return list(heapq.merge(automatic, manual, key=lambda item: item[0]))


def automatic_rows(result: LoadedResult, rows: Sequence[int | None]) -> list[dict | None]:
    """The result's rows (as dicts) at these indices, None where the index is None."""
    wanted = [r for r in rows if r is not None]
    found = iter(rows_at(result, wanted))
    return [next(found) if r is not None else None for r in rows]


def effective_ids(
    result: LoadedResult, overrides: Mapping[str, int]
) -> tuple[pa.Array, pa.Array, list[str]]:
    """Every customer's effective segment id in arrays: the result's keys and segment ids with
    the overridden customers left out, and the overridden keys (their segment: ``overrides``)."""
    keys, ids = result.keys, result.table.column("segment_id")
    if overrides:
        overridden = pc.is_in(keys, value_set=pa.array(list(overrides), pa.string()))
        keep = pc.invert(overridden)
        keys, ids = keys.filter(keep), ids.filter(keep)
    return keys, ids, list(overrides)


def keys_with(
    result: LoadedResult,
    overrides: Mapping[str, int],
    segment_ids: set[int],
    *,
    with_segment: bool,
) -> tuple[list[str], list[str]]:
    """The keys whose effective segment is one of ``segment_ids``, and (when ``with_segment``)
    every key that has an effective segment."""
    keys, ids, manual = effective_ids(result, overrides)
    chosen = pc.is_in(ids, value_set=pa.array(sorted(segment_ids), pa.int32()))
    wanted = keys.filter(chosen).to_pylist()
    wanted += [k for k in manual if overrides[k] in segment_ids]
    having: list[str] = []
    if with_segment:
        having = keys.filter(pc.is_valid(ids)).to_pylist() + manual
    return wanted, having


def result_rows(result: Any, keys: Sequence[str]) -> dict[str, dict]:
    """The result's rows of these keys (as dicts), for the keys it has."""
    found = result.find(list(keys))
    ordered = sorted(found)
    return dict(zip(ordered, rows_at(result, [found[k] for k in ordered]), strict=True))
