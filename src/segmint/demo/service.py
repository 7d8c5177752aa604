"""Create the demo data set and import it: files under ``settings.demo_dir``, then the store.

Each organization's files go through the ordinary import (customers and products first, then
sales lines), so the demo data is checked exactly like a customer's ERP export would be. The
imports are idempotent: loading the same data again counts every line as already present.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from segmint.demo.generator import (
    DEFAULT_CHUNK_LINES,
    DEFAULT_LINES,
    DEFAULT_SEED,
    OrgFiles,
    generate,
    window,
)
from segmint.imports.service import ImportReport, import_file
from segmint.settings import Settings
from segmint.store import SalesStore

Progress = Callable[[str, float], None]

IMPORT_ORDER = ("customers", "products", "sales")

# Share of the progress bar for generating the files; the rest is the import.
_GENERATION_SHARE = 0.4


@dataclass(frozen=True)
class DemoOrgSummary:
    """One organization of the demo data set, as generated and imported."""

    org: str
    customers: int
    products: int
    lines: int
    first_invoice: date | None
    last_invoice: date | None
    imports: dict[str, ImportReport] = field(default_factory=dict)

    @property
    def rejected(self) -> int:
        return sum(r.rejected for r in self.imports.values())


@dataclass(frozen=True)
class DemoSummary:
    """What :func:`load_demo_data` did."""

    seed: int
    as_of: date
    start: date
    lines: int
    orgs: list[DemoOrgSummary]
    generate_seconds: float
    import_seconds: float


def load_demo_data(
    *,
    settings: Settings,
    lines: int | None = None,
    seed: int = DEFAULT_SEED,
    as_of: date | None = None,
    progress: Progress | None = None,
    chunk_lines: int = DEFAULT_CHUNK_LINES,
) -> DemoSummary:
    """Generate the demo files under ``settings.demo_dir/<org>/`` and import them.

    ``lines`` is the total number of sales lines over the three organizations (default
    :data:`~segmint.demo.generator.DEFAULT_LINES`); ``as_of`` the last invoice day (default
    today). ``progress`` is called with a stage label and the overall fraction done (0..1)."""
    lines = DEFAULT_LINES if lines is None else lines
    as_of = as_of or date.today()
    report: Progress = progress or (lambda stage, fraction: None)

    t0 = time.perf_counter()
    files = generate(
        settings.demo_dir,
        lines=lines,
        seed=seed,
        as_of=as_of,
        chunk_lines=chunk_lines,
        progress=lambda stage, f: report(stage, _GENERATION_SHARE * min(1.0, f)),
    )
    t1 = time.perf_counter()

    store = SalesStore.from_settings(settings)
    # Import progress is weighted by the rows of each file (sales lines dominate).
    steps = [(f, kind) for f in files for kind in IMPORT_ORDER]
    weights = [max(1, _rows(f, kind)) for f, kind in steps]
    total_weight = sum(weights)
    done = 0
    reports: dict[str, dict[str, ImportReport]] = {f.org: {} for f in files}
    for (f, kind), weight in zip(steps, weights, strict=True):
        lo = _GENERATION_SHARE + (1 - _GENERATION_SHARE) * done / total_weight
        done += weight
        hi = _GENERATION_SHARE + (1 - _GENERATION_SHARE) * done / total_weight
        on_progress = _scaled(report, f"importing {f.org} {kind}", lo, hi)
        on_progress("start", 0.0)
        reports[f.org][kind] = import_file(
            store=store,
            org=f.org,
            kind=kind,
            path=f.path(kind),
            rejects_path=settings.rejects_dir / f"demo-{f.org}-{kind}.csv",
            on_progress=on_progress,
        )
    t2 = time.perf_counter()
    report("demo data ready", 1.0)

    return DemoSummary(
        seed=seed,
        as_of=as_of,
        start=window(as_of)[0],
        lines=lines,
        orgs=[
            DemoOrgSummary(
                org=f.org,
                customers=f.customers,
                products=f.products,
                lines=f.lines,
                first_invoice=f.first_invoice,
                last_invoice=f.last_invoice,
                imports=reports[f.org],
            )
            for f in files
        ],
        generate_seconds=t1 - t0,
        import_seconds=t2 - t1,
    )


def _scaled(report: Progress, label: str, lo: float, hi: float) -> Progress:
    """A progress callback mapping one step's 0..1 onto ``lo..hi`` of the whole, under ``label``."""

    def on_progress(stage: str, fraction: float) -> None:
        del stage  # the import's own stages ("reading", "writing") are too fine for the bar
        report(label, lo + (hi - lo) * min(1.0, max(0.0, fraction)))

    return on_progress


def _rows(files: OrgFiles, kind: str) -> int:
    return {"customers": files.customers, "products": files.products, "sales": files.lines}[kind]
