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

from sqlalchemy import Integer, and_, bindparam, null, select, union_all
from sqlalchemy.orm import Session

from segmint.assignments.models import Assignment, ManualOverride
from segmint.assignments.service import EffectiveSegment
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
    names = {row[2]: row[1] for row in rows if row[0] is None}
    found = {}
    for type_id, key, auto_id, manual_id, *rest in rows:
        if type_id is None:
            continue
        auto, manual = names.get(auto_id), names.get(manual_id)
        effective = manual if manual_id is not None else auto
        # ``rest``: eligible_sales … m_score, in the order of EffectiveSegment's fields
        found[(type_id, key)] = EffectiveSegment(key, auto, manual, effective, *rest)
    return found


@functools.lru_cache(maxsize=16)
def _statement(count: int) -> Any:
    """The query for ``count`` types, with bound parameters only (built and compiled once)."""
    a = Assignment.__table__.c
    m = ManualOverride.__table__.c
    s = Segment.__table__.c
    nothing = (
        "eligible_sales",
        "reason",
        "set_by",
        "set_at",
        "rank",
        "share_before",
        "recency_days",
        "frequency",
        "r_score",
        "f_score",
        "m_score",
    )
    parts = []
    for i in range(count):
        type_id, run_id = bindparam(f"type_{i}", type_=Integer), bindparam(f"run_{i}")
        wanted = bindparam(f"keys_{i}", expanding=True)
        parts.append(
            select(
                type_id.label("type_id"),
                a.customer_key,
                a.segment_id.label("auto_id"),
                m.segment_id.label("manual_id"),
                a.eligible_sales,
                m.reason,
                m.set_by,
                m.set_at,
                a.rank,
                a.share_before,
                a.recency_days,
                a.frequency,
                a.r_score,
                a.f_score,
                a.m_score,
            )
            .select_from(
                Assignment.__table__.outerjoin(
                    ManualOverride.__table__,
                    and_(m.type_id == type_id, m.customer_key == a.customer_key),
                )
            )
            .where(a.run_id == run_id, a.customer_key.in_(wanted))
        )
        parts.append(
            select(
                type_id.label("type_id"),
                m.customer_key,
                null().label("auto_id"),
                m.segment_id.label("manual_id"),
                null().label("eligible_sales"),
                m.reason,
                m.set_by,
                m.set_at,
                *(null().label(c) for c in nothing[4:]),
            ).where(
                m.type_id == type_id,
                m.customer_key.in_(wanted),
                ~select(a.customer_key)
                .where(a.run_id == run_id, a.customer_key == m.customer_key)
                .exists(),
            )
        )
    # Last (the first part gives the result its column types): the segments' names, in the
    # columns the assignments use; type_id NULL marks them.
    parts.append(
        select(
            null().label("type_id"),
            s.name.label("customer_key"),
            s.id.label("auto_id"),
            null().label("manual_id"),
            *(null().label(c) for c in nothing),
        ).where(s.type_id.in_(bindparam("type_ids", expanding=True)))
    )
    return union_all(*parts)
