"""A small organization on a real sales store and metadata database, and the few steps every run
test takes: import lines through the ordinary import, create a type, run it with a real
:class:`~segmint.runs.worker.Worker`, read back assignments, effective segments and history."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import select

from segmint.accounts.actor import Actor
from segmint.accounts.service import system_actor
from segmint.assignments import service as assignments
from segmint.assignments.history import type_history
from segmint.assignments.models import ManualOverride, SegmentHistory
from segmint.assignments.results import load_result
from segmint.imports.service import ImportReport, import_file
from segmint.metadata.database import Database
from segmint.runs.models import Run
from segmint.runs.service import start_run
from segmint.runs.worker import Worker
from segmint.segments import service as segments
from segmint.segments.models import SegmentType
from segmint.segments.schemas import SegmentSpec
from segmint.store import SalesStore

AS_OF = date(2025, 12, 31)  # every run of these tests; the rolling 12 months are calendar 2025

SALES_SCHEMA = pa.schema(
    [
        ("document_id", pa.string()),
        ("line_no", pa.int32()),
        ("invoice_date", pa.date32()),
        ("customer_id", pa.string()),
        ("net_amount", pa.decimal128(18, 4)),
    ]
)


@dataclass(frozen=True)
class Line:
    """One sales line, keyed like the store keys it: (document_id, line_no)."""

    document_id: str
    customer_id: str
    invoice_date: date
    net_amount: Decimal
    line_no: int = 1

    @property
    def key(self) -> tuple[str, int]:
        return (self.document_id, self.line_no)


def lines_table(lines: Iterable[Line]) -> pa.Table:
    return pa.Table.from_pylist(
        [
            {
                "document_id": line.document_id,
                "line_no": line.line_no,
                "invoice_date": line.invoice_date,
                "customer_id": line.customer_id,
                "net_amount": line.net_amount,
            }
            for line in lines
        ],
        schema=SALES_SCHEMA,
    )


def write_lines(path: Path, lines: list[Line]) -> Path:
    """The lines as CSV or Parquet, by the suffix of ``path``."""
    if path.suffix == ".parquet":
        pq.write_table(lines_table(lines), path)
        return path
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(SALES_SCHEMA.names)
        for line in lines:
            writer.writerow(
                [
                    line.document_id,
                    line.line_no,
                    line.invoice_date.isoformat(),
                    line.customer_id,
                    line.net_amount,
                ]
            )
    return path


class Org:
    """One organization: its slug in the store, its system actor in the metadata database."""

    def __init__(self, db: Database, store: SalesStore, workdir: Path, slug: str) -> None:
        self.db = db
        self.store = store
        self.workdir = workdir
        self.slug = slug
        self.files = 0
        workdir.mkdir(parents=True, exist_ok=True)
        with db.session() as session:
            self.actor: Actor = system_actor(session=session, org=slug)

    # -- data ----------------------------------------------------------------------------------

    def _file(self, suffix: str) -> Path:
        self.files += 1
        return self.workdir / f"{self.slug}-{self.files}{suffix}"

    def import_sales(self, lines: list[Line], *, fmt: str = "csv") -> ImportReport:
        path = write_lines(self._file(f".{fmt}"), lines)
        report = import_file(store=self.store, org=self.slug, kind="sales", path=path)
        assert report.rejected == 0, report.rejects
        assert report.accepted + report.already_present == len(lines)
        return report

    def import_customers(self, rows: list[tuple[str, str | None]]) -> ImportReport:
        """``rows`` of (customer_id, vat_number)."""
        path = self._file(".csv")
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["customer_id", "name", "vat_number"])
            writer.writerows([c, f"Customer {c}", v or ""] for c, v in rows)
        report = import_file(store=self.store, org=self.slug, kind="customers", path=path)
        assert report.rejected == 0, report.rejects
        return report

    # -- types ---------------------------------------------------------------------------------

    def create_type(
        self, name: str, method: str, segments_: list[SegmentSpec] | None = None, **fields: Any
    ) -> int:
        with self.db.session() as session:
            return segments.create_type(
                session=session,
                actor=self.actor,
                name=name,
                method=method,
                segments=segments_,
                **fields,
            ).id

    def segment_ids(self, type_id: int) -> dict[str, int]:
        with self.db.read_session() as session:
            found = segments.get_type(session=session, actor=self.actor, type_id=type_id)
            return {s.name: s.id for s in found.segments}

    def segment_type(self, type_id: int) -> SegmentType:
        with self.db.read_session() as session:
            found = segments.get_type(session=session, actor=self.actor, type_id=type_id)
            found.segments  # noqa: B018 - loaded while the session is open
            return found

    def current_run_id(self, type_id: int) -> int | None:
        return self.segment_type(type_id).current_run_id

    # -- runs ----------------------------------------------------------------------------------

    def start(self, type_id: int, *, as_of: date | None = AS_OF, **kwargs: Any) -> Run:
        """Queue a run (``as_of=None``: the day the worker computes it, as scheduled and
        import-triggered runs do)."""
        with self.db.session() as session:
            return start_run(
                session=session, actor=self.actor, type_id=type_id, as_of=as_of, **kwargs
            )

    def worker(self, **kwargs: Any) -> Worker:
        return Worker(db=self.db, store=self.store, **kwargs)

    def run(self, type_id: int, *, worker: Worker | None = None, as_of: date | None = AS_OF) -> Run:
        """Queue a run of the type and compute it with a worker, as ``segmint worker`` would."""
        run = self.start(type_id, as_of=as_of)
        worker = worker or self.worker()
        claimed = worker.claim()
        assert claimed == run.id
        worker.execute(claimed)
        return self.get_run(run.id)

    def get_run(self, run_id: int) -> Run:
        with self.db.read_session() as session:
            return session.get(Run, run_id)

    def runs(self, type_id: int) -> list[Run]:
        with self.db.read_session() as session:
            return list(session.scalars(select(Run).where(Run.type_id == type_id).order_by(Run.id)))

    # -- results -------------------------------------------------------------------------------

    def assignments(self, run_id: int) -> dict[str, int | None]:
        """The result of a run: customer key -> segment id (empty when it has none)."""
        with self.db.read_session() as session:
            result = load_result(session, run_id)
        if result is None:
            return {}
        table = result.table
        return dict(
            zip(
                table.column("customer_key").to_pylist(),
                table.column("segment_id").to_pylist(),
                strict=True,
            )
        )

    def automatic_names(self, type_id: int, run_id: int) -> dict[str, str | None]:
        """The snapshot of a run with segment names: customer key -> segment name."""
        names = {i: n for n, i in self.segment_ids(type_id).items()}
        return {key: names.get(segment_id) for key, segment_id in self.assignments(run_id).items()}

    def effective(self, type_id: int) -> dict[str, assignments.EffectiveSegment]:
        with self.db.read_session() as session:
            rows = assignments.effective_segments(
                session=session, actor=self.actor, type_id=type_id
            )
        return {row.customer_key: row for row in rows}

    def effective_names(self, type_id: int) -> dict[str, str | None]:
        return {key: row.effective for key, row in self.effective(type_id).items()}

    def overrides(self, type_id: int) -> dict[str, tuple[int, str | None]]:
        with self.db.read_session() as session:
            rows = session.execute(
                select(
                    ManualOverride.customer_key, ManualOverride.segment_id, ManualOverride.reason
                ).where(ManualOverride.type_id == type_id)
            ).all()
        return {key: (segment_id, reason) for key, segment_id, reason in rows}

    def set_override(
        self, type_id: int, customer_key: str, segment: int | str, reason: str | None = None
    ) -> None:
        with self.db.session() as session:
            assignments.set_override(
                session=session,
                actor=self.actor,
                type_id=type_id,
                customer_key=customer_key,
                segment=segment,
                reason=reason,
                store=self.store,
            )

    def history_rows(self, type_id: int) -> list[tuple]:
        """The type's history as plain tuples (comparable across reads)."""
        return [
            (
                h.id,
                h.customer_key,
                h.source,
                h.run_id,
                h.auto_from,
                h.auto_to,
                h.effective_from,
                h.effective_to,
                h.reason,
            )
            for h in self.history(type_id)
        ]

    def history(self, type_id: int) -> list[SegmentHistory]:
        """The type's history, what people and runs changed, in order (a run's entries have
        minus the run id as their id)."""
        with self.db.read_session() as session:
            return [entry for _, entry in type_history(session=session, type_id=type_id)]


def pareto_specs(*thresholds: int, default: str | None = None) -> list[SegmentSpec]:
    """Segments A, B, C… with these thresholds; ``default`` names the default one."""
    names = "ABCDEFG"
    return [
        SegmentSpec(name=names[i], threshold=Decimal(t), is_default=names[i] == default)
        for i, t in enumerate(thresholds)
    ]


# Twelve customers whose 2025 sales (10,000 in all) make a clear ABC split with 80/15/5:
# A = C00, C01 (80 %); B = C02, C03, C04 (15 %); C = C05..C11 (5 %).
BASE_AMOUNTS = (4000, 4000, 600, 500, 400, 250, 100, 50, 40, 30, 20, 10)
BASE_LINES = [
    Line(f"D{c:03d}", f"C{c:02d}", date(2025, 1 + c, 1 + c), Decimal(amount))
    for c, amount in enumerate(BASE_AMOUNTS)
]
BASE_ABC = {f"C{c:02d}": "A" if c < 2 else "B" if c < 5 else "C" for c in range(12)}

# C05 buys 3,000 more: of 13,000, sorted C00 4000, C01 4000, C05 3250, C02 600, C03 500, C04 400,
# … so C05 moves C -> A (61.5 % of sales ahead of it) and C04 B -> C (12,350 of 13,000 is
# exactly 95 % ahead of it, no longer below 95 %); everyone else stays.
BIG_ORDER = Line("D100", "C05", date(2025, 11, 5), Decimal(3000))
AFTER_BIG_ORDER = {**BASE_ABC, "C04": "C", "C05": "A"}


def make_org(db: Database, tmp_path: Path, slug: str = "acme") -> Org:
    """An organization with its own sales store under ``tmp_path``."""
    store = SalesStore(tmp_path / "store" / "sales.duckdb")
    return Org(db, store, tmp_path / "files", slug)
