"""The migration matrix between two runs of a type, from their results.

Every customer of either run is paired with its automatic segment in both (``(none)`` where it
is absent from a run or has no segment there) and the pairs are counted: an Arrow full outer
join of the two results (each read once per process, see :mod:`segmint.assignments.results`)
and a ``group_by``.
"""

from __future__ import annotations

import pyarrow as pa
from sqlalchemy.orm import Session

from segmint.accounts.actor import Actor
from segmint.assignments.results import empty_result, load_result
from segmint.insights.access import finished_run, organization, refuse_restricted_rep, typed
from segmint.insights.cache import CACHE, type_digest
from segmint.insights.schemas import (
    NONE_LABEL,
    MigrationMatrix,
    Sankey,
    SankeyLink,
    SankeyNode,
)
from segmint.insights.snapshots import run_as_of, segment_names
from segmint.runs.models import Run
from segmint.segments.models import SegmentType


def _pairs(session: Session, before: Run, after: Run) -> list[tuple[int | None, int | None, int]]:
    """``(segment in before, segment in after, customers)`` over every customer of either."""

    def side(run: Run, name: str) -> pa.Table:
        table = (load_result(session, run.id) or empty_result()).table
        return pa.table(
            {"customer_key": table.column("customer_key"), name: table.column("segment_id")}
        )

    joined = side(after, "new_id").join(
        side(before, "old_id"), keys="customer_key", join_type="full outer", use_threads=False
    )
    counted = (
        joined.group_by(["old_id", "new_id"], use_threads=False)
        .aggregate([([], "count_all")])
        .to_pydict()
    )
    return list(zip(counted["old_id"], counted["new_id"], counted["count_all"], strict=True))


def migration_matrix(
    *, session: Session, actor: Actor, type_id: int, from_run: int, to_run: int
) -> MigrationMatrix:
    """Customers per (segment in ``from_run``, segment in ``to_run``) of type ``type_id``, with
    totals and the Sankey chart's nodes and links. Both runs must be finished runs of the type
    (NotFound otherwise) whose snapshots are still kept (Conflict otherwise). Snapshots hold
    automatic segments: manual overrides are not part of the matrix.

    Reps of an organization whose reps see only their own customers are refused
    (:class:`~segmint.errors.PermissionDenied`): a snapshot holds no sales rep to restrict by.
    """
    segment_type = typed(session=session, actor=actor, type_id=type_id, method=None)
    refuse_restricted_rep(organization(session, actor), actor, "the migration matrix")
    before = finished_run(
        session=session, segment_type=segment_type, run_id=from_run, field="from_run"
    )
    after = finished_run(session=session, segment_type=segment_type, run_id=to_run, field="to_run")
    # A finished run's snapshot never changes (it is only ever pruned, which the checks above
    # catch), so the answer can be kept; the finish times tell a reused run id apart.
    key = (
        "migration",
        segment_type.organization_id,
        type_digest(segment_type),
        (before.id, before.finished_at),
        (after.id, after.finished_at),
    )
    return CACHE.get_or_compute(key, lambda: _matrix(session, segment_type, before, after))


def _matrix(
    session: Session, segment_type: SegmentType, before: Run, after: Run
) -> MigrationMatrix:
    pairs = _pairs(session, before, after)
    names, order = segment_names(segment_type, before, after)
    for segment_id in sorted({i for pair in pairs for i in pair[:2] if i is not None} - set(names)):
        names[segment_id] = f"(segment {segment_id})"  # a run that did not list its segments
        order.append(names[segment_id])
    labels = (*order, NONE_LABEL)
    index = {label: i for i, label in enumerate(labels)}
    counts = [[0] * len(labels) for _ in labels]
    for old_id, new_id, customers in pairs:
        row = index[names[old_id] if old_id is not None else NONE_LABEL]
        column = index[names[new_id] if new_id is not None else NONE_LABEL]
        counts[row][column] += int(customers)
    row_totals = tuple(sum(row) for row in counts)
    column_totals = tuple(sum(row[j] for row in counts) for j in range(len(labels)))
    total = sum(row_totals)
    moved = total - sum(counts[i][i] for i in range(len(labels)))
    return MigrationMatrix(
        type_id=segment_type.id,
        type_name=segment_type.name,
        from_run=before.id,
        to_run=after.id,
        from_as_of=run_as_of(before),
        to_as_of=run_as_of(after),
        segments=tuple(order),
        labels=labels,
        counts=tuple(tuple(row) for row in counts),
        row_totals=row_totals,
        column_totals=column_totals,
        total=total,
        moved=moved,
        sankey=sankey(labels, counts),
    )


def sankey(labels: tuple[str, ...], counts: list[list[int]]) -> Sankey:
    """Nodes (each label that has customers, once per side) and links (each non-zero cell) of
    a Sankey chart of a migration matrix.

    >>> chart = sankey(("A", "B", "(none)"), [[2, 1, 0], [0, 3, 0], [1, 0, 0]])
    >>> [n.id for n in chart.nodes]
    ['from:A', 'from:B', 'from:(none)', 'to:A', 'to:B']
    >>> [(link.source, link.target, link.value) for link in chart.links]  # doctest: +ELLIPSIS
    [('from:A', 'to:A', 2), ('from:A', 'to:B', 1), ('from:B', 'to:B', 3), ('from:(none)', ...)]
    """
    n = len(labels)
    nodes = [
        SankeyNode(id=f"from:{labels[i]}", label=labels[i], side="from")
        for i in range(n)
        if sum(counts[i])
    ]
    nodes += [
        SankeyNode(id=f"to:{labels[j]}", label=labels[j], side="to")
        for j in range(n)
        if sum(row[j] for row in counts)
    ]
    links = [
        SankeyLink(source=f"from:{labels[i]}", target=f"to:{labels[j]}", value=counts[i][j])
        for i in range(n)
        for j in range(n)
        if counts[i][j]
    ]
    return Sankey(nodes=tuple(nodes), links=tuple(links))
