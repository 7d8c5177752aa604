"""The effective segments of a page of customers in every segment type, at once.

The same answer as :func:`segmint.assignments.service.effective_segments` called once per type
(automatic segment of the type's current run, the manual override, the effective one: the manual
one when there is one), with two metadata queries for the whole page (the overrides of the
page's keys in every type, the segments' names) and one primary-key lookup per type for its
result, which the process keeps in memory (:mod:`segmint.assignments.results`): the list shows
every type's segment for 50 customers, and reading each type again cost more than the page.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from segmint.assignments import effective as combine
from segmint.assignments.service import EffectiveSegment, effective_from_parts
from segmint.segments.models import Segment, SegmentType

_NAMES = select(Segment.id, Segment.name).where(
    Segment.type_id.in_(bindparam("type_ids", expanding=True))
)


def effective_segments_of(
    *, session: Session, types: Sequence[SegmentType], keys: Mapping[int, list[str]]
) -> dict[tuple[int, str], EffectiveSegment]:
    """``(type id, customer key) -> EffectiveSegment`` for ``keys[type id]`` of every type in
    ``types`` (which the caller has read for its actor: they are the actor's organization's);
    a key without an automatic or a manual segment is left out."""
    wanted = {t.id: list(keys.get(t.id) or ()) for t in types}
    wanted = {type_id: k for type_id, k in wanted.items() if k}
    if not wanted:
        return {}
    overrides = combine.overrides_of(
        session, list(wanted), {k for found in wanted.values() for k in found}
    )
    names = dict(session.execute(_NAMES, {"type_ids": list(wanted)}).all())
    found: dict[tuple[int, str], EffectiveSegment] = {}
    for segment_type in types:
        type_keys = wanted.get(segment_type.id)
        if not type_keys:
            continue
        result = combine.current_result(session, segment_type.current_run_id)
        automatic = combine.result_rows(result, type_keys)
        for key in type_keys:
            override = overrides.get((segment_type.id, key))
            auto = automatic.get(key)
            if auto is not None or override is not None:
                found[(segment_type.id, key)] = effective_from_parts(key, auto, override, names)
    return found
