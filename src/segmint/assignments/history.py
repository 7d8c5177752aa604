"""A customer's segment timeline: what people changed (rows of ``segment_history``) merged with
what runs changed (each run's changes, one blob per run, see :mod:`segmint.assignments.results`).

Order: a run's changes come after every history row of the type that existed when it swapped
in (``after_history_id``) and before the next one; two runs with the same mark in the order they
swapped in (run ids grow). That is the order the rows had when runs wrote rows too, without
relying on two machines' clocks. A run's entry is a :class:`SegmentHistory` that is not stored:
its ``id`` is minus the run id (unique per type and customer, and never a stored row's id).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from segmint.accounts.actor import Actor
from segmint.assignments.models import SegmentHistory
from segmint.assignments.results import LoadedChanges, load_type_changes

#: Where an entry sits in a type's history: (history id or a run's mark, 0 for a person's row
#: and 1 for a run's, run id).
Position = tuple[int, int, int]


def run_entry(changes: LoadedChanges, row: dict) -> SegmentHistory:
    return SegmentHistory(
        id=-changes.run_id,
        organization_id=changes.organization_id,
        type_id=changes.type_id,
        customer_key=row["customer_key"],
        at=changes.at,
        source="run",
        run_id=changes.run_id,
        user_id=None,
        auto_from=row["auto_from"],
        auto_to=row["auto_to"],
        effective_from=row["effective_from"],
        effective_to=row["effective_to"],
        reason=None,
    )


def _row(changes: LoadedChanges, index: int) -> dict:
    return changes.changes.table.slice(index, 1).to_pylist()[0]


def timeline(
    *, session: Session, actor: Actor, type_id: int, customer_key: str
) -> list[SegmentHistory]:
    """A customer's segment changes in one type, oldest first."""
    from segmint.segments.service import get_type

    get_type(session=session, actor=actor, type_id=type_id)
    entries: list[tuple[Position, SegmentHistory]] = [
        ((row.id, 0, 0), row)
        for row in session.scalars(
            select(SegmentHistory)
            .where(
                SegmentHistory.organization_id == actor.organization_id,
                SegmentHistory.type_id == type_id,
                SegmentHistory.customer_key == customer_key,
            )
            .order_by(SegmentHistory.id)
        )
    ]
    for changes in load_type_changes(session, type_id):
        if changes.organization_id != actor.organization_id:
            continue
        index = changes.changes.find([customer_key]).get(customer_key)
        if index is not None:
            position = (changes.after_history_id, 1, changes.run_id)
            entries.append((position, run_entry(changes, _row(changes, index))))
    entries.sort(key=lambda entry: entry[0])
    return [entry for _, entry in entries]


def type_history(*, session: Session, type_id: int) -> list[tuple[Position, SegmentHistory]]:
    """Every entry of a type's history (every customer), in order, with its position: for
    checks over a whole type (tests, migrations), not for pages."""
    entries: list[tuple[Position, SegmentHistory]] = [
        ((row.id, 0, 0), row)
        for row in session.scalars(
            select(SegmentHistory)
            .where(SegmentHistory.type_id == type_id)
            .order_by(SegmentHistory.id)
        )
    ]
    for changes in load_type_changes(session, type_id):
        position = (changes.after_history_id, 1, changes.run_id)
        entries += [
            (position, run_entry(changes, row)) for row in changes.changes.table.to_pylist()
        ]
    entries.sort(key=lambda entry: entry[0])
    return entries
