"""Run benchmark: a full run of a segment type against the engine alone.

    python -m bench runs --customers 200000 1000000 --dbs sqlite postgres --methods pareto rfm

For each size a deterministic sales store is written once with DuckDB SQL from ``range()``
(10 lines per customer, fixed seed; no CSV import) into a temporary directory. Then, for each
metadata database (SQLite file, or a fresh PostgreSQL database dropped afterwards) and method
(a Pareto type with A/B/C 80/15/5, an RFM type with the default map), median of --repeat:

* engine alone: ``segmint.runs.compute.compute(...)`` on the store, then the snapshot query
  materialised in DuckDB with ``con.sql(computed.sql).to_arrow_table()`` (every snapshot
  row as Arrow, sorted by customer key, as the worker takes the result);
* full run: ``Worker.claim()`` + ``Worker.execute()`` end to end (engine, the result out of
  DuckDB as Arrow, compared with the previous result and encoded, the swap storing the result
  and the run's changes as two blobs, pruning), for a first run (every customer in a segment is
  a change) and a re-run after a small data change (a few changes);
* overhead: full / engine - 1. Target (issue 4): at most 100 %, persistence at most doubles
  the engine time.

The phases inside the worker (compute; result: the sorted result out of DuckDB as Arrow;
prepare: reading the previous result, comparing, encoding; swap) are timed by wrapping the
worker's functions, to show where the time goes. PostgreSQL is
the server at 127.0.0.1:5432 as user ``postgres``, or the libpq connection string in
``SEGMINT_BENCH_POSTGRES``; when it does not answer, the postgres cases are skipped. Exit
status 1 when a case misses the target.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

ORG = "bench"
AS_OF = date(2025, 12, 31)  # rolling 12 months: 2025-01-01 .. 2025-12-31
LINES_PER_CUSTOMER = 10
LINES_PER_DOCUMENT = 4
SEED = 20251231
TARGET = 1.0  # persistence adds at most 100 % to the engine time
PHASES = ("compute", "result", "prepare", "swap")
CHANGED_EVERY = 1000  # the re-run's data change: one new line for every 1000th customer
ADMIN_DSN = os.environ.get(
    "SEGMINT_BENCH_POSTGRES", "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
)


# -- the sales store ---------------------------------------------------------------------------


def build_store(customers: int, directory: Path) -> Path:
    """A sales store of ``customers`` customers and 10 lines each (documents of 4 lines over
    2024-2025, bigger customers buying more often, ~5 % credit lines), written with DuckDB SQL
    from ``range()``; the same data every time (DuckDB's ``hash`` of the row number and a seed)."""
    from segmint.store import SalesStore

    path = directory / f"store-{customers}.duckdb"
    lines = customers * LINES_PER_CUSTOMER
    with SalesStore(path).connect() as con:
        con.execute("SET preserve_insertion_order = false")
        # Customer of a document: skewed towards low numbers (u^1.5 of a uniform u).
        customer = (
            f"CAST(floor({customers} * pow(CAST(hash(i // {LINES_PER_DOCUMENT}, {SEED}) % "
            f"1000000007 AS DOUBLE) / 1000000007, 1.5)) AS BIGINT)"
        )
        con.execute(f"""
INSERT INTO sales_lines (org, document_id, line_no, invoice_date, customer_id, net_amount,
                         quantity, product_id, brand, branch, sales_rep, territory)
SELECT '{ORG}', 'D' || (i // {LINES_PER_DOCUMENT}),
  CAST(i % {LINES_PER_DOCUMENT} + 1 AS INTEGER),
  DATE '2024-01-01' + CAST(hash(i // {LINES_PER_DOCUMENT}, {SEED + 1}) % 731 AS INTEGER),
  'C' || lpad(CAST({customer} AS VARCHAR), 8, '0'),
  CAST(CAST(CAST(hash(i, {SEED + 2}) % 200000 AS BIGINT) - 10000 AS DECIMAL(18, 4))
       * CAST(0.01 AS DECIMAL(3, 2)) AS DECIMAL(18, 4)),
  CAST(hash(i, {SEED + 3}) % 20 + 1 AS DECIMAL(18, 4)),
  'P' || (hash(i, {SEED + 4}) % 5000), 'Brand' || (hash(i, {SEED + 5}) % 12),
  'B' || (hash(i // {LINES_PER_DOCUMENT}, {SEED + 6}) % 6),
  'R' || (hash(i // {LINES_PER_DOCUMENT}, {SEED + 7}) % 40),
  'T' || (hash(i // {LINES_PER_DOCUMENT}, {SEED + 8}) % 10)
FROM range({lines}) AS t(i)
""")
        con.execute(f"""
INSERT INTO customers (org, customer_id, name, vat_number, vat_key, branch, territory, sales_rep,
                       first_seen)
SELECT '{ORG}', 'C' || lpad(CAST(c AS VARCHAR), 8, '0'), 'Customer ' || c, NULL, NULL,
  'B' || (c % 6), 'T' || (c % 10), 'R' || (c % 40), DATE '2015-01-01' + CAST(c % 3000 AS INTEGER)
FROM range({customers}) AS t(c)
""")
        con.execute("CHECKPOINT")
    return path


def change_data(store: Any, customers: int, *, undo: bool = False) -> int:
    """The small change before the re-run: a new invoice line (10 days before as-of) for every
    1000th customer. ``undo=True`` takes it back out."""
    with store.connect() as con:
        con.execute(f"DELETE FROM sales_lines WHERE org = '{ORG}' AND document_id LIKE 'X%'")
        if undo:
            return 0
        con.execute(f"""
INSERT INTO sales_lines (org, document_id, line_no, invoice_date, customer_id, net_amount)
SELECT '{ORG}', 'X' || c, 1, DATE '{AS_OF}' - 10, 'C' || lpad(CAST(c AS VARCHAR), 8, '0'),
  CAST(5000 + c % 7 * 1000 AS DECIMAL(18, 4))
FROM range(7, {customers}, {CHANGED_EVERY}) AS t(c)
""")
        return len(range(7, customers, CHANGED_EVERY))


def count_lines(store: Any) -> int:
    with store.connect(read_only=True) as con:
        return con.execute(f"SELECT count(*) FROM sales_lines WHERE org = '{ORG}'").fetchone()[0]


# -- metadata databases ------------------------------------------------------------------------


def postgres_available() -> str | None:
    """None when the server answers, else why not."""
    import psycopg

    try:
        psycopg.connect(ADMIN_DSN, autocommit=True, connect_timeout=5).close()
    except psycopg.OperationalError as exc:
        return str(exc).strip().splitlines()[0]
    return None


@contextlib.contextmanager
def metadata_database(kind: str, work: Path) -> Iterator[Any]:
    """A fresh, migrated metadata database (SQLite file, or a new PostgreSQL database that is
    dropped afterwards)."""
    import segmint.metadata.models  # noqa: F401 - every table, for the ORM's relationships
    from segmint.metadata.database import Database
    from segmint.metadata.migrate import upgrade

    if kind == "sqlite":
        path = work / f"meta-{secrets.token_hex(4)}.sqlite"
        db = Database(f"sqlite:///{path}")
        try:
            upgrade(db)
            yield db
        finally:
            db.dispose()
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    import psycopg
    from psycopg import sql

    name = f"segmint_bench_{secrets.token_hex(6)}"
    with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        info = admin.info
        url = f"postgresql+psycopg://{info.user}@{info.host}:{info.port}/{name}"
    db = Database(url)
    try:
        upgrade(db)
        yield db
    finally:
        db.dispose()
        with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


# -- timing ------------------------------------------------------------------------------------


@dataclass
class Timed:
    """One measured run: engine alone, the full run and its phases, customers it changed."""

    engine: float
    full: float
    phases: dict[str, float] = field(default_factory=dict)
    history: int = 0  # customers whose automatic segment the run changed
    lines: int = 0  # sales lines in the store at the time

    @property
    def overhead(self) -> float:
        return self.full / self.engine - 1


@contextlib.contextmanager
def phase_timers() -> Iterator[dict[str, float]]:
    """Time the worker's compute, result, prepare and swap (wrapping the names it calls)."""
    import segmint.runs.worker as worker_module

    spent: dict[str, float] = {}
    names = {
        "compute": "compute",
        "result": "result_table",
        "prepare": "prepare",
        "swap": "swap",
    }
    originals = {phase: getattr(worker_module, name) for phase, name in names.items()}

    def timed(phase: str, fn: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[phase] = spent.get(phase, 0.0) + time.perf_counter() - started

        return wrapper

    for phase, name in names.items():
        setattr(worker_module, name, timed(phase, originals[phase]))
    try:
        yield spent
    finally:
        for phase, name in names.items():
            setattr(worker_module, name, originals[phase])


def engine_alone(db: Any, store: Any, type_id: int) -> tuple[float, int]:
    """compute() for the type as it is now (no manual overrides), then the snapshot query
    materialised as an Arrow table; returns (seconds, rows)."""
    from segmint.runs.compute import compute
    from segmint.segments.models import SegmentType

    with db.read_session() as session:
        segment_type = session.get(SegmentType, type_id)
        segment_type.segments  # noqa: B018 - loaded before the session ends
    with store.attached() as con:
        started = time.perf_counter()
        computed = compute(
            con, org=ORG, segment_type=segment_type, run_id=0, as_of=AS_OF, manual={}
        )
        rows = con.sql(computed.sql).to_arrow_table().num_rows
        return time.perf_counter() - started, rows


def full_run(db: Any, store: Any, actor: Any, type_id: int) -> tuple[float, dict[str, float], int]:
    """Queue a run, then Worker.claim() + execute(); returns (seconds, phases, changes)."""
    from segmint.runs.models import Run
    from segmint.runs.service import start_run
    from segmint.runs.worker import Worker

    with db.session() as session:
        start_run(session=session, actor=actor, type_id=type_id, as_of=AS_OF)
    worker = Worker(db=db, store=store)
    with phase_timers() as phases:
        started = time.perf_counter()
        run_id = worker.claim()
        if run_id is None:
            raise RuntimeError("the worker found no queued run")
        worker.execute(run_id)
        elapsed = time.perf_counter() - started
    with db.read_session() as session:
        run = session.get(Run, run_id)
        if run.status != "succeeded":
            raise RuntimeError(f"run {run_id} {run.status}: {run.error}")
        changed = int(run.summary["changed"])
    return elapsed, dict(phases), changed


def one_case(kind: str, method: str, store: Any, customers: int, work: Path) -> list[Timed]:
    """A first run and a re-run (after the small data change) of a new type of ``method`` in a
    fresh metadata database."""
    from sqlalchemy import func, select

    from segmint.accounts.service import system_actor
    from segmint.assignments.models import RunResult
    from segmint.segments.service import create_type

    results = []
    with metadata_database(kind, work) as db:
        with db.session() as session:
            actor = system_actor(session=session, org=ORG)
            type_id = create_type(
                session=session, actor=actor, name=f"Bench {method}", method=method
            ).id
        try:
            for attempt in ("first", "rerun"):
                if attempt == "rerun":
                    change_data(store, customers)
                engine, rows = engine_alone(db, store, type_id)
                full, phases, changed = full_run(db, store, actor, type_id)
                with db.read_session() as session:
                    latest = select(func.max(RunResult.run_id)).scalar_subquery()
                    written = session.scalar(
                        select(RunResult.rows).where(
                            RunResult.run_id == latest, RunResult.part == 0
                        )
                    )
                if written != rows:
                    raise RuntimeError(f"a result of {written} rows stored, the engine gave {rows}")
                results.append(Timed(engine, full, phases, changed, count_lines(store)))
        finally:
            change_data(store, customers, undo=True)
    return results


def _median(timings: list[Timed]) -> Timed:
    phases = {k: statistics.median(t.phases.get(k, 0.0) for t in timings) for k in PHASES}
    return Timed(
        engine=statistics.median(t.engine for t in timings),
        full=statistics.median(t.full for t in timings),
        phases=phases,
        history=timings[0].history,
        lines=timings[0].lines,
    )


def _row(kind: str, method: str, customers: int, label: str, t: Timed) -> str:
    met = "ok" if t.overhead <= TARGET else "MISSED"
    p = t.phases
    return (
        f"{kind:8} {method:6} {customers:>10,} {t.lines:>11,} {label:5} {t.engine:7.2f}s"
        f" {t.full:7.2f}s {t.overhead:8.0%} {met:>6}  {p['compute']:7.2f}s {p['result']:6.2f}s"
        f" {p['prepare']:6.2f}s {p['swap']:6.2f}s {t.history:>8,}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench runs",
        description=__doc__.split("\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n", 1)[1],
    )
    parser.add_argument("--customers", type=int, nargs="+", default=[200_000, 1_000_000])
    parser.add_argument("--dbs", nargs="+", default=["sqlite", "postgres"])
    parser.add_argument("--methods", nargs="+", default=["pareto", "rfm"])
    parser.add_argument("--repeat", type=int, default=1, help="median of N (default 1)")
    parser.add_argument("--work-dir", type=Path, help="where the temporary store goes (/tmp)")
    args = parser.parse_args(argv)
    for name, values, allowed in (
        ("--dbs", args.dbs, ("sqlite", "postgres")),
        ("--methods", args.methods, ("pareto", "rfm")),
    ):
        if set(values) - set(allowed):
            parser.error(f"{name}: choose from {', '.join(allowed)}")
    dbs = list(dict.fromkeys(args.dbs))
    if "postgres" in dbs and (why := postgres_available()):
        print(f"bench runs: PostgreSQL not reachable ({ADMIN_DSN}): {why}; postgres skipped")
        dbs.remove("postgres")

    import duckdb

    from segmint.store import SalesStore

    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"run benchmark: median of {args.repeat}, as of {AS_OF}; DuckDB {duckdb.__version__},"
        f" Python {sys.version.split()[0]}, SQLite {sqlite3.sqlite_version}\n"
        f"{os.cpu_count()} CPUs, load average {load} at the start (a shared machine: other"
        " jobs' load makes single runs vary by +-20 % or more)\n"
        "engine = compute() + con.sql(computed.sql).to_arrow_table();"
        " full = Worker.claim() + execute(); overhead = full / engine - 1;"
        f" target <= {TARGET:.0%}\n"
        "compute / result / prepare / swap: the worker's phases inside the full run"
        " (result = the sorted result out of DuckDB as Arrow, prepare = reading the previous"
        " result + comparing + encoding, swap = storing result and changes + switch)"
    )
    print(
        f"{'db':8} {'method':6} {'customers':>10} {'lines':>11} {'run':5} {'engine':>8}"
        f" {'full':>8} {'overhead':>8} {'target':>6}  {'compute':>8} {'result':>7} {'prepare':>7}"
        f" {'swap':>7} {'changes':>8}",
        flush=True,
    )
    ok = True
    root = Path(tempfile.mkdtemp(prefix="segmint-bench-runs-", dir=args.work_dir))
    try:
        for customers in args.customers:
            store = SalesStore(build_store(customers, root))
            for kind in dbs:
                for method in args.methods:
                    runs = [
                        one_case(kind, method, store, customers, root) for _ in range(args.repeat)
                    ]
                    for index, label in enumerate(("first", "rerun")):
                        t = _median([r[index] for r in runs])
                        ok &= t.overhead <= TARGET
                        print(_row(kind, method, customers, label, t), flush=True)
            store.path.unlink()
            shutil.rmtree(root / ".duckdb_tmp", ignore_errors=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
