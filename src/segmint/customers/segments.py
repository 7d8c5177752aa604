"""The effective segments of a page of customers in every segment type, in one query.

The same answer as :func:`segmint.assignments.service.effective_segments` called once per type
(automatic segment of the type's current run, the manual override, the effective one: the manual
one when there is one), but one round trip for the whole page: the list shows every type's
segment for 50 customers, and a query per type (plus reading each type again) cost more than the
page itself.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Integer, bindparam, null, select, union_all
from sqlalchemy.orm import Session

from segmint.assignments.service import EffectiveSegment, effective_from_row, effective_selects
from segmint.segments.models import Segment, SegmentType


def effective_segments_of(
    *, session: Session, types: Sequence[SegmentType], keys: Mapping[int, list[str]]
) -> dict[tuple[int, str], EffectiveSegment]:
    """``(type id, customer key) -> EffectiveSegment`` for ``keys[type id]`` of every type in
    ``types`` (which the caller has read for its actor: they are the actor's organization's);
    a key without an automatic or a manual segment is left out."""
    if not any(keys.get(t.id) for t in types):
        return {}
    params: dict[str, Any] = {"type_ids": [t.id for t in types]}
    for i, segment_type in enumerate(types):
        run_id = segment_type.current_run_id
        params[f"type_{i}"] = segment_type.id
        params[f"run_{i}"] = run_id if run_id is not None else -1
        params[f"keys_{i}"] = list(keys.get(segment_type.id) or ())
    rows = session.execute(_statement(len(types)), params).all()
    # the segments' names come in the same result (type_id NULL), after the customers' rows
    names = {row[1]: row[0] for row in rows if row[-1] is None}
    return {
        (row[-1], row[0]): effective_from_row(row[:-1], names)
        for row in rows
        if row[-1] is not None
    }


@functools.lru_cache(maxsize=16)
def _statement(count: int) -> Any:
    """The query for ``count`` types, with bound parameters only (built and compiled once):
    :func:`effective_selects` per type with the type's id as the last column, then the names of
    the types' segments in the same columns (type id NULL)."""
    parts = []
    for i in range(count):
        type_id = bindparam(f"type_{i}", type_=Integer)
        halves = effective_selects(
            type_id, bindparam(f"run_{i}"), bindparam(f"keys_{i}", expanding=True)
        )
        parts += [half.add_columns(type_id.label("type_id")) for half in halves]
    s = Segment.__table__.c
    parts.append(
        select(
            s.name.label("customer_key"),
            s.id.label("auto_id"),
            *(null() for _ in range(len(EffectiveSegment.__dataclass_fields__) - 3)),
            null().label("type_id"),
        ).where(s.type_id.in_(bindparam("type_ids", expanding=True)))
    )
    return union_all(*parts)
