"""Runs, overrides, type edits and imports in any order keep the promises of issue 4.

A Hypothesis state machine drives one small organization (fourteen customers, two of whom
never buy) with a Pareto and an RFM type through imports of new and changed lines, runs,
overrides (into excluded and default segments too), clearing one or all, and type edits. A
plain-Python model remembers what was asked; after every step:

* every override set and not cleared is still there, with its segment and reason;
* each type's current run is the model's last run, and its snapshot equals what the engine
  computes directly from the model's lines with the type's parameters and the overrides as they
  were when that run started (later edits and imports do not matter until the next run);
* each customer's effective segment is its manual one when set, else the automatic one;
* each customer's last history row ends in its current effective segment (read with the
  segment names of its time), and a customer with an effective segment has history.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from segmint.assignments import service as assignments
from segmint.assignments.history import Position, type_history
from segmint.assignments.models import ManualOverride, SegmentHistory
from segmint.assignments.results import load_result
from segmint.engine import (
    DEFAULT_RFM_MAP,
    ParetoParams,
    RfmParams,
    Tier,
    pareto_tiers,
    resolve_period,
    rfm_cut_points,
    rfm_segments,
)
from segmint.errors import NotFound
from segmint.metadata.base import utcnow
from segmint.metadata.database import Database
from segmint.runs.models import Run
from segmint.segments import service as segments
from segmint.segments.models import SegmentType
from segmint.segments.schemas import SegmentSpec
from segmint.store import SalesStore
from tests.runs.support import AS_OF, Line, Org, lines_table, pareto_specs

CUSTOMERS = [f"C{i:02d}" for i in range(14)]  # C12 and C13 are known but never buy
BUYERS = CUSTOMERS[:12]
PERIOD = resolve_period(AS_OF, 12)
SPLITS = [(80, 15, 5), (70, 20, 10), (50, 30, 20), (90, 9, 1), (34, 33, 33), (100, 0, 0)]
REASONS = [None, "", "  key account  ", "moved north", "Rückfrage: 5 % Rabatt ✓"]
CELLS = [f"{r}{fm}" for r in range(1, 6) for fm in range(1, 6)]
SLUGS = itertools.count(1)

lines = st.lists(
    st.builds(
        Line,
        document_id=st.integers(0, 29).map(lambda i: f"D{i:02d}"),
        customer_id=st.sampled_from(BUYERS),
        # from before the period (so some customers lapse) to its last day
        invoice_date=st.dates(date(2024, 10, 1), AS_OF),
        net_amount=st.decimals(
            min_value=Decimal(-100),
            max_value=Decimal(3000),
            places=2,
            allow_nan=False,
            allow_infinity=False,
        ),
    ),
    min_size=1,
    max_size=6,
    unique_by=lambda line: line.key,
)


@dataclass
class SegmentModel:
    id: int
    name: str
    threshold: Decimal = Decimal(0)
    is_default: bool = False
    excluded: bool = False
    cells: list[str] = field(default_factory=list)


@dataclass
class TypeModel:
    id: int
    method: str
    segments: list[SegmentModel]
    cuts: dict[str, list[Decimal]] | None = None
    overrides: dict[str, tuple[int, str | None]] = field(default_factory=dict)
    run_id: int | None = None
    expected: dict[str, int | None] = field(default_factory=dict)  # the current run's snapshot
    # (largest history id when a rename happened, segment names before it), oldest first
    renames: list[tuple[Position, dict[int, str]]] = field(default_factory=list)

    def names(self) -> dict[int, str]:
        return {s.id: s.name for s in self.segments}

    def effective_id(self, customer: str) -> int | None:
        if customer in self.overrides:
            return self.overrides[customer][0]
        return self.expected.get(customer)

    def names_at(self, position: Position) -> dict[int, str]:
        """The segment names in force when the history entry at ``position`` was written."""
        for last_before, names in self.renames:
            if position <= last_before:
                return names
        return self.names()


class RunsMachine(RuleBasedStateMachine):
    def __init__(self, db: Database, store: SalesStore, workdir: Path) -> None:
        super().__init__()
        self.org = Org(db, store, workdir, f"sm-{next(SLUGS)}")
        self.lines: dict[tuple[str, int], Line] = {}
        self.types: dict[str, TypeModel] = {}
        self.fresh = itertools.count(1)
        self.duckdb = duckdb.connect()  # for the engine run straight on the model's lines

    # -- helpers -------------------------------------------------------------------------------

    def _load(self, type_id: int, method: str) -> TypeModel:
        stored = self.org.segment_type(type_id)
        return TypeModel(
            id=type_id,
            method=method,
            segments=[
                SegmentModel(s.id, s.name, s.threshold, s.is_default, s.excluded, list(s.cells))
                for s in stored.segments
            ],
        )

    def _save_segments(self, model: TypeModel, specs: list[SegmentSpec]) -> None:
        with self.org.db.session() as session:
            segments.set_segments(
                session=session, actor=self.org.actor, type_id=model.id, segments=specs
            )

    def _specs(self, model: TypeModel) -> list[SegmentSpec]:
        return [
            SegmentSpec(
                id=s.id,
                name=s.name,
                threshold=s.threshold,
                is_default=s.is_default,
                excluded=s.excluded,
                cells=list(s.cells),
            )
            for s in model.segments
        ]

    def _engine(self, model: TypeModel) -> tuple[dict[str, str | None], dict | None]:
        """The engine straight on the model's lines: automatic segment per customer, and the
        cut points a first RFM run suggests (None when the type has its own)."""
        con = self.duckdb
        sales = con.from_arrow(lines_table(self.lines.values()))
        customers = con.from_arrow(
            pa.table(
                {"customer_id": CUSTOMERS, "vat_key": [None] * len(CUSTOMERS)},
                schema=pa.schema([("customer_id", pa.string()), ("vat_key", pa.string())]),
            )
        )
        names = model.names()
        manual = {key: names[segment_id] for key, (segment_id, _) in model.overrides.items()}
        suggested = None
        if model.method == "pareto":
            params = ParetoParams(
                tiers=tuple(
                    Tier(s.name, s.threshold, default=s.is_default, excluded=s.excluded)
                    for s in model.segments
                ),
                period=PERIOD,
            )
            result = pareto_tiers(sales, params, customers=customers, manual=manual)
        else:
            cuts = model.cuts or {}
            params = RfmParams(
                PERIOD,
                r_cuts=cuts.get("r"),
                f_cuts=cuts.get("f"),
                m_cuts=cuts.get("m"),
                segment_map=tuple((s.name, tuple(s.cells)) for s in model.segments if s.cells),
                default_segment=next((s.name for s in model.segments if s.is_default), None),
                excluded_segments=tuple(s.name for s in model.segments if s.excluded),
                as_of=AS_OF,
            )
            if model.cuts is None:
                rows = rfm_cut_points(sales, params, customers=customers).collect()
                found: dict[str, list] = {"r": [], "f": [], "m": []}
                for row in sorted(rows.rows(named=True), key=lambda r: (r["metric"], r["k"])):
                    found[row["metric"]].append(row["value"])
                if not any(None in values for values in found.values()):
                    suggested = found
            result = rfm_segments(sales, params, customers=customers, manual=manual)
        automatic = {
            row["customer_key"]: row["automatic_segment"]
            for row in result.collect().rows(named=True)
        }
        return automatic, suggested

    # -- steps ---------------------------------------------------------------------------------

    @initialize(first=lines)
    def start(self, first: list[Line]) -> None:
        self.org.import_customers([(c, None) for c in CUSTOMERS])
        self.import_lines(first, "csv")
        excluded = SegmentSpec(name="Do not rank", excluded=True)
        pareto = self.org.create_type(
            "Sales", "pareto", [*pareto_specs(80, 15, 5, default="C"), excluded]
        )
        rfm = self.org.create_type(
            "Health",
            "rfm",
            [
                *(SegmentSpec(name=name, cells=list(cells)) for name, cells in DEFAULT_RFM_MAP),
                SegmentSpec(name="Dormant", is_default=True),
                excluded,
            ],
        )
        self.types = {"pareto": self._load(pareto, "pareto"), "rfm": self._load(rfm, "rfm")}

    @rule(batch=lines, fmt=st.sampled_from(["csv", "parquet"]))
    def import_lines(self, batch: list[Line], fmt: str) -> None:
        self.org.import_sales(batch, fmt=fmt)
        self.lines.update((line.key, line) for line in batch)

    @rule(kind=st.sampled_from(["pareto", "rfm"]))
    def run(self, kind: str) -> None:
        model = self.types[kind]
        automatic, suggested = self._engine(model)
        ids = {s.name: s.id for s in model.segments}
        expected = {key: None if name is None else ids[name] for key, name in automatic.items()}

        run = self.org.run(model.id)

        assert (run.status, run.error) == ("succeeded", None)
        changed = {k for k in expected.keys() | model.expected.keys()}
        changed = {k for k in changed if expected.get(k) != model.expected.get(k)}
        assert run.summary["changed"] == len(changed)
        assert run.summary["customers"] == len(expected)
        model.run_id, model.expected = run.id, expected
        if model.method == "rfm":
            if model.cuts is None:
                model.cuts = suggested
            stored = self.org.segment_type(model.id)
            got = {m: getattr(stored, f"{m}_cuts") for m in ("r", "f", "m")}
            if model.cuts is None:
                assert got == {"r": None, "f": None, "m": None}
            else:
                assert {m: [Decimal(c) for c in v] for m, v in got.items()} == model.cuts

    @rule(
        kind=st.sampled_from(["pareto", "rfm"]),
        action=st.sampled_from(["set", "set", "excluded", "default", "clear", "clear_all"]),
        customer=st.sampled_from(CUSTOMERS),
        pick=st.integers(0, 20),
        by_name=st.booleans(),
        reason=st.sampled_from(REASONS),
    )
    def override(
        self, kind: str, action: str, customer: str, pick: int, by_name: bool, reason: str | None
    ) -> None:
        """Set an override (into any segment, an excluded or the default one), clear one (or
        try to clear a missing one: NotFound), or clear all of the type's."""
        model = self.types[kind]
        if action == "clear_all":
            with self.org.db.session() as session:
                removed = assignments.clear_all_overrides(
                    session=session, actor=self.org.actor, type_id=model.id
                )
            assert removed == len(model.overrides)
            model.overrides.clear()
            return
        if action == "clear":
            if model.overrides:
                customer = sorted(model.overrides)[pick % len(model.overrides)]
            try:
                with self.org.db.session() as session:
                    assignments.clear_override(
                        session=session,
                        actor=self.org.actor,
                        type_id=model.id,
                        customer_key=customer,
                    )
            except NotFound:
                assert customer not in model.overrides
                return
            del model.overrides[customer]
            return
        choices = {
            "set": model.segments,
            "excluded": [s for s in model.segments if s.excluded],
            "default": [s for s in model.segments if s.is_default],
        }[action]
        segment = choices[pick % len(choices)]
        self.org.set_override(model.id, customer, segment.name if by_name else segment.id, reason)
        model.overrides[customer] = (segment.id, (reason or "").strip() or None)

    @rule(
        kind=st.sampled_from(["pareto", "rfm"]),
        action=st.sampled_from(["rename", "add_excluded", "thresholds", "move_cell", "reset_cuts"]),
        i=st.integers(0, 30),
        j=st.integers(0, 30),
    )
    def edit_type(self, kind: str, action: str, i: int, j: int) -> None:
        """Edit a type: rename a segment or swap two names, add an excluded segment, change
        the Pareto thresholds, move a cell of the RFM map, drop the RFM cut points (the next
        run suggests new ones)."""
        model = self.types[kind]
        if action == "rename":
            self._rename(model, i, j)
        elif action == "add_excluded":
            name = f"Do not rank {next(self.fresh)}"
            self._save_segments(model, [*self._specs(model), SegmentSpec(name=name, excluded=True)])
            model.segments.append(
                SegmentModel(self.org.segment_ids(model.id)[name], name, excluded=True)
            )
        elif action == "thresholds" and kind == "pareto":
            ranked = [s for s in model.segments if not s.excluded]
            for segment, threshold in zip(ranked, SPLITS[i % len(SPLITS)], strict=True):
                segment.threshold = Decimal(threshold)
            self._save_segments(model, self._specs(model))
        elif action == "move_cell" and kind == "rfm":
            cell = CELLS[i % len(CELLS)]
            targets = [s for s in model.segments if not s.excluded]
            for segment in model.segments:
                if cell in segment.cells:
                    segment.cells.remove(cell)
            targets[j % len(targets)].cells.append(cell)
            self._save_segments(model, self._specs(model))
            for segment in model.segments:  # stored as the service sorts them
                segment.cells.sort(reverse=True)
        elif action == "reset_cuts" and kind == "rfm":
            with self.org.db.session() as session:
                segments.update_type(
                    session=session,
                    actor=self.org.actor,
                    type_id=model.id,
                    r_cuts=None,
                    f_cuts=None,
                    m_cuts=None,
                )
            model.cuts = None

    def _rename(self, model: TypeModel, i: int, j: int) -> None:
        """Rename one segment, or swap the names of two."""
        with self.org.db.read_session() as session:
            last_row = session.scalar(
                select(func.coalesce(func.max(SegmentHistory.id), 0)).where(
                    SegmentHistory.type_id == model.id
                )
            )
        # After every entry so far (rows people wrote, and runs up to the current one) and
        # before every later one; see segmint.assignments.history.
        last = (last_row, 1, model.run_id or 0)
        before = model.names()
        first = model.segments[i % len(model.segments)]
        second = model.segments[j % len(model.segments)]
        if first is second:
            first.name = f"{first.name.split('~')[0]}~{next(self.fresh)}"
        else:
            first.name, second.name = second.name, first.name
        self._save_segments(model, self._specs(model))
        model.renames.append((last, before))

    # -- invariants ----------------------------------------------------------------------------

    @invariant()
    def promises_hold(self) -> None:
        # One read transaction for all of it: what a reader sees at one moment.
        with self.org.db.read_session() as session:
            for model in self.types.values():
                self._check(session, model)

    def _check(self, session: Session, model: TypeModel) -> None:
        names = model.names()
        stored = session.get(SegmentType, model.id)
        assert {s.id: s.name for s in stored.segments} == names
        assert stored.current_run_id == model.run_id
        overrides = session.execute(
            select(
                ManualOverride.customer_key, ManualOverride.segment_id, ManualOverride.reason
            ).where(ManualOverride.type_id == model.id)
        ).all()
        assert {key: (segment_id, reason) for key, segment_id, reason in overrides} == (
            model.overrides
        )
        if model.run_id is not None:
            result = load_result(session, model.run_id)
            assert result is not None
            snapshot = zip(
                result.table.column("customer_key").to_pylist(),
                result.table.column("segment_id").to_pylist(),
                strict=True,
            )
            assert dict(snapshot) == model.expected

        effective = assignments.effective_segments(
            session=session, actor=self.org.actor, type_id=model.id
        )
        assert {row.customer_key for row in effective} == (
            model.expected.keys() | model.overrides.keys()
        )
        for row in effective:
            key = row.customer_key
            automatic = names.get(model.expected.get(key))
            manual, reason = None, None
            if key in model.overrides:
                manual, reason = names[model.overrides[key][0]], model.overrides[key][1]
            wanted = manual if key in model.overrides else automatic
            assert (row.automatic, row.manual, row.effective, row.reason) == (
                automatic,
                manual,
                wanted,
                reason,
            ), key

        last: dict[str, tuple[Position, str | None]] = {}
        for position, entry in type_history(session=session, type_id=model.id):
            last[entry.customer_key] = (position, entry.effective_to)
        for key in CUSTOMERS:
            current = model.effective_id(key)
            if key not in last:
                assert current is None, f"{key} is in a segment but has no history"
                continue
            position, name = last[key]
            then = {n: i for i, n in model.names_at(position).items()}
            assert (None if name is None else then[name]) == current, key

    def teardown(self) -> None:
        self.duckdb.close()
        # A failed example must not leave a queued run for the next example's worker.
        with self.org.db.session() as session:
            session.execute(
                update(Run)
                .where(
                    Run.organization_id == self.org.actor.organization_id,
                    Run.status.in_(("queued", "running")),
                )
                .values(status="failed", finished_at=utcnow(), error="test example ended")
            )


def test_runs_overrides_and_edits_keep_their_promises(
    metadata_db: Database, tmp_path: Path
) -> None:
    store = SalesStore(tmp_path / "store" / "sales.duckdb")
    run_state_machine_as_test(
        lambda: RunsMachine(metadata_db, store, tmp_path / "files"),
        settings=settings(max_examples=15, stateful_step_count=15, deadline=None),
    )
