"""The effective segments of a page of customers in every segment type, at once.

The same answer as :func:`segmint.assignments.service.effective_segments` called once per type
(automatic segment of the type's current run, the manual override, the effective one: the manual
one when there is one), with two metadata queries for the whole page (the overrides of the
page's keys in every type, the segments' names) and one primary-key lookup per type for its
result, which the process keeps in memory (:mod:`segmint.assignments.results`) and matches once
with the in-memory customer records (:meth:`~segmint.customers.table.CustomerTable.matches`):
the list shows every type's segment for 50 customers, and reading each type again cost more
than the page.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from segmint.assignments import effective as combine
from segmint.assignments.results import empty_result, load_results, rows_at
from segmint.assignments.service import EffectiveSegment, effective_from_parts
from segmint.customers.table import CustomerTable
from segmint.metadata.database import core_rows
from segmint.segments.models import Segment, SegmentType

_NAMES = select(Segment.id, Segment.name).where(
    Segment.type_id.in_(bindparam("type_ids", expanding=True))
)


def effective_segments_at(
    *,
    session: Session,
    types: Sequence[SegmentType],
    table: CustomerTable,
    positions: np.ndarray,
) -> list[dict[int, EffectiveSegment | None]]:
    """For the customer records at ``positions`` of ``table``, the effective segment in every
    type of ``types`` (which the caller has read for its actor: they are the actor's
    organization's): ``type id -> EffectiveSegment`` per record, None where the record has no
    key for the type (no VAT number for a VAT-based type) or no automatic or manual segment.

    Three metadata queries for the page, whatever the number of types: the current results'
    tokens (the results themselves are in memory), the overrides of the page's keys, the
    segments' names."""
    if not len(positions) or not types:
        return [dict.fromkeys((t.id for t in types), None) for _ in range(len(positions))]
    columns = {t.id: "vat_key" if t.identity == "vat" else "customer_id" for t in types}
    keys = {
        column: table.table[column].take(pa.array(positions, pa.int64())).to_pylist()
        for column in set(columns.values())
    }
    wanted = sorted({k for found in keys.values() for k in found if k})
    overrides = combine.overrides_of(session, list(columns), wanted) if wanted else {}
    names = dict(core_rows(session, _NAMES, {"type_ids": list(columns)}))
    results = load_results(session, [t.current_run_id for t in types])
    pages: list[dict[int, EffectiveSegment | None]] = [{} for _ in range(len(positions))]
    for type_id, run_id in [(t.id, t.current_run_id) for t in types]:  # ORM attributes once
        column = columns[type_id]
        result = results.get(run_id) or empty_result()  # type: ignore[arg-type]
        rows = table.matches(result, column)[positions]
        automatic = iter(rows_at(result, rows[rows >= 0]))
        for page, key, row in zip(pages, keys[column], rows.tolist(), strict=True):
            auto = next(automatic) if row >= 0 else None
            override = overrides.get((type_id, key)) if key else None
            page[type_id] = (
                effective_from_parts(key, auto, override, names)
                if auto is not None or override is not None
                else None
            )
    return pages
