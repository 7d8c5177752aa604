"""Segment types and their segments: every rule refused with the field it concerns, the defaults
a new type starts with, edits that keep segment ids (so overrides follow a rename), and the walls
between organizations and roles.

Most tests run on SQLite only (the rules live in Python); the ones whose outcome rests on the
database itself (isolation queries, cascades) run on PostgreSQL too."""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from segmint.accounts.actor import Actor
from segmint.accounts.models import Organization
from segmint.assignments import service as assignments
from segmint.assignments.models import ManualOverride, RunChanges, RunResult, SegmentHistory
from segmint.engine import DEFAULT_RFM_MAP
from segmint.errors import Conflict, NotFound, PermissionDenied, ValidationError
from segmint.metadata.database import Database
from segmint.runs import service as runs
from segmint.runs.models import Run
from segmint.segments import service
from segmint.segments.models import Segment, SegmentType
from segmint.segments.schemas import SegmentSpec
from tests.runs.support import BASE_LINES, Org, make_org, pareto_specs

sqlite_only = pytest.mark.parametrize("metadata_url", ["sqlite"], indirect=True)
CUSTOMERS = [(f"C{i:02d}", None) for i in range(12)]


@pytest.fixture
def org(metadata_db: Database, tmp_path: Path) -> Org:
    return make_org(metadata_db, tmp_path)


def call(org: Org, function: Callable[..., Any], actor: Actor | None = None, **kwargs: Any) -> Any:
    """``function`` in a writing transaction, as ``actor`` (default: the org's system actor)."""
    with org.db.session() as session:
        return function(session=session, actor=actor or org.actor, **kwargs)


def segments_of(org: Org, type_id: int) -> list[tuple[int, str, Decimal, bool, bool]]:
    with org.db.read_session() as session:
        rows = session.scalars(
            select(Segment).where(Segment.type_id == type_id).order_by(Segment.position)
        )
        return [(s.id, s.name, s.threshold, s.is_default, s.excluded) for s in rows]


def rfm_map(*moved: tuple[str, str]) -> list[SegmentSpec]:
    """The default RFM map with each (cell, segment) in ``moved`` taken to that segment."""
    cells = {name: [c for c in cs] for name, cs in DEFAULT_RFM_MAP}
    for cell, target in moved:
        for held in cells.values():
            if cell in held:
                held.remove(cell)
        cells.setdefault(target, []).append(cell)
    return [SegmentSpec(name=name, cells=held) for name, held in cells.items()]


# -- validation -------------------------------------------------------------------------------

CREATE_REFUSALS = [
    pytest.param(
        "pareto",
        {"segments": pareto_specs(80, 15, 4)},
        "segments.threshold",
        "add up to 99 %",
        id="thresholds-not-100",
    ),
    pytest.param(
        "pareto",
        {"segments": [*pareto_specs(80, 15, 5), SegmentSpec("Out", Decimal(5), excluded=True)]},
        "segments[3].threshold",
        "excluded segment 'Out' must have 0 %",
        id="excluded-not-0",
    ),
    pytest.param(
        "pareto",
        {
            "segments": [
                *pareto_specs(80, 15, 5, default="B"),
                SegmentSpec("New", is_default=True),
            ]
        },
        "segments[3].is_default",
        "at most one default",
        id="two-defaults",
    ),
    pytest.param(
        "pareto",
        {"segments": [SegmentSpec("A", Decimal(50)), SegmentSpec(" a ", Decimal(50))]},
        "segments[1].name",
        "used twice",
        id="names-repeat",
    ),
    pytest.param(
        "pareto",
        {
            "segments": [
                SegmentSpec("A", Decimal(100)),
                SegmentSpec("Out", is_default=True, excluded=True),
            ]
        },
        "segments[1].is_default",
        "both default and excluded",
        id="default-and-excluded",
    ),
    pytest.param(
        "pareto",
        {"interval": "fixed_year", "timespan_months": 18},
        "timespan_months",
        "multiple of 12",
        id="fixed-year-18-months",
    ),
    pytest.param("pareto", {"shared": True}, "shared", "only VAT-based types", id="shared-by-id"),
    pytest.param(
        "pareto", {"schedule": "every monday"}, "schedule", "not a cron", id="bad-schedule"
    ),
    pytest.param("pareto", {"schedule": "0 25 * * *"}, "schedule", "not a cron", id="hour-25"),
    pytest.param("pareto", {"min_sales": -1}, "min_sales", "negative", id="negative-minimum"),
    pytest.param(
        "rfm",
        {"segments": rfm_map()[:-1]},
        "segments.cells",
        "cells without a segment: 11",
        id="rfm-cell-missing",
    ),
    pytest.param(
        "rfm",
        {"segments": [*rfm_map(), SegmentSpec("Twice", cells=["55"])]},
        "segments[11].cells",
        "cell 55 is already in segments[0]",
        id="rfm-cell-twice",
    ),
    pytest.param(
        "rfm",
        {"segments": [*rfm_map(), SegmentSpec("Off map", cells=["60"])]},
        "segments[11].cells",
        "'60' is not an (R, FM) cell",
        id="rfm-cell-off-map",
    ),
    pytest.param(
        "rfm",
        {"segments": [*rfm_map(), SegmentSpec("Out", excluded=True, cells=["11"])]},
        "segments[11].cells",
        "only assigned by hand",
        id="rfm-excluded-with-cells",
    ),
    pytest.param(
        "rfm",
        {"r_cuts": ["30", "20", "60", "90"]},
        "r_cuts",
        "must not decrease",
        id="rfm-cuts-decrease",
    ),
    pytest.param("rfm", {"min_sales": 100}, "min_sales", "apply to Pareto types", id="rfm-minimum"),
]


@sqlite_only
@pytest.mark.parametrize(("method", "kwargs", "field", "message"), CREATE_REFUSALS)
def test_create_refuses_naming_the_field(
    org: Org, method: str, kwargs: dict, field: str, message: str
) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)) as info:
        call(org, service.create_type, name="Broken", method=method, **kwargs)
    assert info.value.field == field
    with org.db.read_session() as session:
        assert service.list_types(session=session, actor=org.actor) == []


@sqlite_only
@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"shared": True}, "shared", "only VAT-based types"),
        ({"interval": "fixed_year", "timespan_months": 18}, "timespan_months", "multiple of 12"),
        ({"interval": "fixed_year"}, "timespan_months", None),  # 12 months: allowed
        ({"schedule": "61 * * * *"}, "schedule", "not a cron"),
        ({"timespan_months": 0}, "timespan_months", "from 1 to 240"),
        ({"method": "rfm"}, "method", "cannot change"),
        ({"colour": "red"}, "type", "unknown field"),
        ({"name": "  "}, "name", "must not be empty"),
    ],
)
def test_update_refuses_naming_the_field(
    org: Org, changes: dict, field: str, message: str | None
) -> None:
    type_id = org.create_type("Sales Performance", "pareto")
    if message is None:
        updated = call(org, service.update_type, type_id=type_id, **changes)
        assert (updated.interval, updated.timespan_months) == ("fixed_year", 12)
        return
    with pytest.raises(ValidationError, match=re.escape(message)) as info:
        call(org, service.update_type, type_id=type_id, **changes)
    assert info.value.field == field
    stored = org.segment_type(type_id)
    assert (stored.shared, stored.interval, stored.schedule) == (False, "rolling", None)


@sqlite_only
@pytest.mark.parametrize(
    ("specs", "field"),
    [
        (pareto_specs(50, 30), "segments.threshold"),
        ([*pareto_specs(80, 20), SegmentSpec("Out", Decimal("0.0001"), excluded=True)], None),
        ([], "segments"),
        ([SegmentSpec("Out", excluded=True)], "segments"),  # nothing left to rank into
        ([SegmentSpec("A", Decimal("100.00001"))], "segments[0].threshold"),
        ([SegmentSpec("A", Decimal(100), cells=["55"])], "segments[0].cells"),
        ([SegmentSpec("A", Decimal(100), visit_every_days=0)], "segments[0].visit_every_days"),
    ],
)
def test_set_segments_refuses_naming_the_field(
    org: Org, specs: list[SegmentSpec], field: str | None
) -> None:
    type_id = org.create_type("Sales Performance", "pareto")
    before = segments_of(org, type_id)
    with pytest.raises(ValidationError) as info:
        call(org, service.set_segments, type_id=type_id, segments=specs)
    assert info.value.field == (field or "segments[2].threshold")
    assert segments_of(org, type_id) == before


@sqlite_only
def test_type_names_are_unique_per_organization(org: Org, tmp_path: Path) -> None:
    org.create_type("Sales Performance", "pareto")
    with pytest.raises(Conflict, match="already exists") as info:
        org.create_type(" sales performance ", "rfm")
    assert info.value.field == "name"
    other = org.create_type("Visit Priority", "pareto")
    with pytest.raises(Conflict):
        call(org, service.update_type, type_id=other, name="SALES PERFORMANCE")
    # Another organization may use the name.
    make_org(org.db, tmp_path / "globex", "globex").create_type("Sales Performance", "pareto")


# -- defaults ---------------------------------------------------------------------------------


@sqlite_only
def test_a_new_pareto_type_is_abc_80_15_5(org: Org) -> None:
    type_id = org.create_type("Sales Performance", "pareto")
    assert [s[1:] for s in segments_of(org, type_id)] == [
        ("A", Decimal(80), False, False),
        ("B", Decimal(15), False, False),
        ("C", Decimal(5), False, False),
    ]
    stored = org.segment_type(type_id)
    assert [s.position for s in stored.segments] == [0, 1, 2]
    assert all(s.visit_every_days and s.description for s in stored.segments)
    assert (stored.identity, stored.interval, stored.timespan_months) == ("id", "rolling", 12)
    assert (stored.current_run_id, stored.next_run_at) == (None, None)


@sqlite_only
def test_a_new_rfm_type_has_the_eleven_default_segments(org: Org) -> None:
    type_id = org.create_type("Customer Health", "rfm")
    stored = org.segment_type(type_id)
    assert [(s.name, set(s.cells)) for s in stored.segments] == [
        (name, set(cells)) for name, cells in DEFAULT_RFM_MAP
    ]
    assert len(stored.segments) == 11
    assert sorted(c for s in stored.segments for c in s.cells) == sorted(
        f"{r}{fm}" for r in range(1, 6) for fm in range(1, 6)
    )
    assert all(s.threshold == 0 and s.description and s.recommended_action for s in stored.segments)
    assert (stored.r_cuts, stored.f_cuts, stored.m_cuts) == (None, None, None)


@sqlite_only
def test_the_first_type_is_the_default_and_one_default_at_a_time(org: Org) -> None:
    def defaults() -> list[str]:
        with org.db.read_session() as session:
            found = service.list_types(session=session, actor=org.actor)
            return [t.name for t in found if t.is_default]

    first = org.create_type("Sales Performance", "pareto")
    assert defaults() == ["Sales Performance"]
    org.create_type("Customer Health", "rfm")
    assert defaults() == ["Sales Performance"]
    org.create_type("Visit Priority", "pareto", is_default=True)
    assert defaults() == ["Visit Priority"]
    call(org, service.update_type, type_id=first, is_default=True)
    assert defaults() == ["Sales Performance"]
    call(org, service.update_type, type_id=first, is_default=False)
    assert defaults() == []


@sqlite_only
def test_a_schedule_sets_the_next_run_time(org: Org) -> None:
    type_id = org.create_type("Sales Performance", "pareto", schedule="0 6 * * *")
    first = org.segment_type(type_id).next_run_at
    assert first is not None and (first.hour, first.minute) == (6, 0)
    call(org, service.update_type, type_id=type_id, schedule=None)
    assert org.segment_type(type_id).next_run_at is None


# -- editing segments -------------------------------------------------------------------------


@sqlite_only
def test_set_segments_keeps_ids_so_overrides_follow_a_rename(org: Org) -> None:
    org.import_customers(CUSTOMERS)
    type_id = org.create_type("Sales Performance", "pareto")
    ids = org.segment_ids(type_id)
    org.set_override(type_id, "C01", "A", reason="key account")
    org.set_override(type_id, "C02", "B")

    specs = service.segment_specs(org.segment_type(type_id))
    specs[0].name, specs[1].name = "B", "A"  # swap two names
    specs[2].name, specs[2].threshold = "Tail", Decimal(4)
    specs[1].threshold = Decimal(16)
    specs.append(SegmentSpec("Do not rank", excluded=True))
    call(org, service.set_segments, type_id=type_id, segments=specs)

    after = org.segment_ids(type_id)
    assert (after["B"], after["A"], after["Tail"]) == (ids["A"], ids["B"], ids["C"])
    assert set(after) == {"A", "B", "Tail", "Do not rank"}
    assert org.overrides(type_id) == {"C01": (ids["A"], "key account"), "C02": (ids["B"], None)}
    effective = org.effective(type_id)
    assert (effective["C01"].manual, effective["C02"].manual) == ("B", "A")
    assert [(s[1], s[2]) for s in segments_of(org, type_id)] == [
        ("B", Decimal(80)),
        ("A", Decimal(16)),
        ("Tail", Decimal(4)),
        ("Do not rank", Decimal(0)),
    ]
    # The timeline reads as it did: names as they were when the override was set.
    with org.db.read_session() as session:
        (row,) = assignments.timeline(
            session=session, actor=org.actor, type_id=type_id, customer_key="C01"
        )
    assert (row.effective_to, row.reason) == ("A", "key account")


@sqlite_only
def test_a_segment_with_overrides_cannot_be_removed(org: Org) -> None:
    org.import_customers(CUSTOMERS)
    type_id = org.create_type("Sales Performance", "pareto")
    org.set_override(type_id, "C03", "C", reason="small")
    before = segments_of(org, type_id)
    keep = [s for s in service.segment_specs(org.segment_type(type_id)) if s.name != "C"]
    keep[1].threshold = Decimal(20)

    with pytest.raises(Conflict, match="'C' cannot be removed: 1 customer") as info:
        call(org, service.set_segments, type_id=type_id, segments=keep)
    assert info.value.field == "segments"
    assert segments_of(org, type_id) == before
    assert org.overrides(type_id) == {"C03": (org.segment_ids(type_id)["C"], "small")}

    call(org, assignments.clear_override, type_id=type_id, customer_key="C03")
    call(org, service.set_segments, type_id=type_id, segments=keep)
    assert [s[1:3] for s in segments_of(org, type_id)] == [("A", Decimal(80)), ("B", Decimal(20))]


@sqlite_only
def test_a_segment_of_another_type_cannot_be_taken_over(org: Org) -> None:
    first = org.create_type("Sales Performance", "pareto")
    second = org.create_type("Visit Priority", "pareto")
    specs = service.segment_specs(org.segment_type(second))
    specs[0].id = org.segment_ids(first)["A"]
    with pytest.raises(ValidationError) as info:
        call(org, service.set_segments, type_id=second, segments=specs)
    assert info.value.field == "segments[0].id"


def test_deleting_a_type_removes_its_runs_overrides_and_history(org: Org, tmp_path: Path) -> None:
    org.import_sales(BASE_LINES)
    doomed = org.create_type("Sales Performance", "pareto")
    kept = org.create_type("Visit Priority", "pareto")
    for type_id in (doomed, kept):
        assert org.run(type_id).status == "succeeded"
        org.set_override(type_id, "C05", "A", reason="strategic")
    kept_before = (org.effective(kept), org.history_rows(kept), org.current_run_id(kept))

    call(org, service.delete_type, type_id=doomed)

    with org.db.read_session() as session:
        assert session.get(SegmentType, doomed) is None
        for model, column in (
            (Segment, Segment.type_id),
            (Run, Run.type_id),
            (ManualOverride, ManualOverride.type_id),
            (SegmentHistory, SegmentHistory.type_id),
            (RunResult, RunResult.type_id),
            (RunChanges, RunChanges.type_id),
        ):
            assert session.scalar(select(func.count()).where(column == doomed)) == 0, model
        run_ids = {r.id for r in org.runs(kept)}
        assert set(session.scalars(select(RunResult.run_id).distinct())) == run_ids
    assert (org.effective(kept), org.history_rows(kept), org.current_run_id(kept)) == kept_before


# -- organizations and roles -------------------------------------------------------------------


def test_another_organization_cannot_see_or_touch_a_type(org: Org, tmp_path: Path) -> None:
    org.import_sales(BASE_LINES)
    type_id = org.create_type("Sales Performance", "pareto")
    run = org.run(type_id)
    org.set_override(type_id, "C05", "A")
    stranger = make_org(org.db, tmp_path / "globex", "globex").actor
    stranger_manager = Actor(stranger.organization_id, "manager", org_slug="globex")
    before = (org.segment_type(type_id).name, org.effective(type_id), org.history_rows(type_id))

    refused: list[tuple[Callable[..., Any], dict[str, Any]]] = [
        (service.get_type, {"type_id": type_id}),
        (service.find_type, {"name_or_id": type_id}),
        (service.find_type, {"name_or_id": "Sales Performance"}),
        (service.update_type, {"type_id": type_id, "name": "Mine now"}),
        (service.set_segments, {"type_id": type_id, "segments": pareto_specs(100)}),
        (service.delete_type, {"type_id": type_id}),
        (assignments.set_override, {"type_id": type_id, "customer_key": "C05", "segment": "B"}),
        (assignments.clear_override, {"type_id": type_id, "customer_key": "C05"}),
        (assignments.clear_all_overrides, {"type_id": type_id}),
        (assignments.effective_segments, {"type_id": type_id}),
        (assignments.override_count, {"type_id": type_id}),
        (assignments.timeline, {"type_id": type_id, "customer_key": "C05"}),
        (runs.start_run, {"type_id": type_id}),
        (runs.get_run, {"run_id": run.id}),
    ]
    for actor in (stranger, stranger_manager):
        for function, kwargs in refused:
            with pytest.raises(NotFound):
                call(org, function, actor=actor, **kwargs)
        with org.db.read_session() as session:
            assert service.list_types(session=session, actor=actor) == []
            assert runs.list_runs(session=session, actor=actor) == []
            assert runs.list_runs(session=session, actor=actor, type_id=type_id) == []
    assert (
        org.segment_type(type_id).name,
        org.effective(type_id),
        org.history_rows(type_id),
    ) == before
    assert [r.id for r in org.runs(type_id)] == [run.id]


@sqlite_only
def test_a_rep_reads_but_cannot_edit(org: Org) -> None:
    org.import_sales(BASE_LINES)
    type_id = org.create_type("Sales Performance", "pareto")
    org.run(type_id)
    org.set_override(type_id, "C05", "A")
    rep = Actor(org.actor.organization_id, "rep", user_id=None, org_slug="acme")

    refused: list[tuple[Callable[..., Any], dict[str, Any]]] = [
        (service.create_type, {"name": "Mine", "method": "pareto"}),
        (service.update_type, {"type_id": type_id, "name": "Renamed"}),
        (service.set_segments, {"type_id": type_id, "segments": pareto_specs(100)}),
        (service.delete_type, {"type_id": type_id}),
        (runs.start_run, {"type_id": type_id}),
        (assignments.set_override, {"type_id": type_id, "customer_key": "C06", "segment": "A"}),
        (assignments.clear_override, {"type_id": type_id, "customer_key": "C05"}),
        (assignments.clear_all_overrides, {"type_id": type_id}),
    ]
    for function, kwargs in refused:
        with pytest.raises(PermissionDenied, match="needs the manager"):
            call(org, function, actor=rep, **kwargs)
    with org.db.read_session() as session:
        assert service.get_type(session=session, actor=rep, type_id=type_id).name == (
            "Sales Performance"
        )
        rows = assignments.effective_segments(session=session, actor=rep, type_id=type_id)
        assert {r.customer_key: r.effective for r in rows}["C05"] == "A"
    assert len(org.runs(type_id)) == 1
    assert org.overrides(type_id) == {"C05": (org.segment_ids(type_id)["A"], None)}

    # Where the organization lets reps override, they may, and only that.
    with org.db.session() as session:
        session.get(Organization, org.actor.organization_id).reps_can_override = True
    call(org, assignments.set_override, actor=rep, type_id=type_id, customer_key="C06", segment="B")
    assert org.effective(type_id)["C06"].manual == "B"
    with pytest.raises(PermissionDenied):
        call(org, assignments.clear_all_overrides, actor=rep, type_id=type_id)
