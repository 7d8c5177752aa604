"""Import speed: `segmint import` against DuckDB's own load of the same file into a table.

    python -m bench imports --lines 10000000

Generates a deterministic sales file (Parquet and CSV) once under bench/data/, then for each
format times, median of --repeat runs, each into a fresh store file:

* DuckDB's own load: ``CREATE TABLE t AS SELECT * FROM read_parquet/read_csv(file)``;
* Segmint's import: every check, reject collection and the idempotent write.

Targets (issue 2): within 1.5x of DuckDB's own load for Parquet, 2x for CSV.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import duckdb

from segmint.imports.service import import_file
from segmint.store import SalesStore

DATA = Path(__file__).parent / "data"
TARGETS = {"parquet": 1.5, "csv": 2.0}


def make_files(lines: int) -> dict[str, Path]:
    DATA.mkdir(parents=True, exist_ok=True)
    files = {"parquet": DATA / f"sales-{lines}.parquet", "csv": DATA / f"sales-{lines}.csv"}
    if all(p.exists() for p in files.values()):
        return files
    con = duckdb.connect()
    con.execute(
        f"""CREATE TEMP VIEW gen AS SELECT
              'INV' || (i // 4) AS document_id, CAST(i % 4 + 1 AS INTEGER) AS line_no,
              DATE '2023-01-01' + CAST(hash(i, 1) % 1000 AS INTEGER) AS invoice_date,
              'C' || (hash(i // 4, 2) % 50000) AS customer_id,
              CAST((hash(i, 3) % 200000) / 100.0 - 50 AS DECIMAL(18,2)) AS net_amount,
              CAST(hash(i, 4) % 20 + 1 AS DECIMAL(18,2)) AS quantity,
              'P' || (hash(i, 5) % 5000) AS product_id, 'Brand' || (hash(i, 6) % 12) AS brand,
              'B' || (hash(i // 4, 7) % 6) AS branch, 'R' || (hash(i // 4, 8) % 40) AS sales_rep,
              'T' || (hash(i // 4, 9) % 10) AS territory
            FROM range({lines}) r(i)"""
    )
    con.execute(f"COPY gen TO '{files['parquet']}' (FORMAT parquet)")
    con.execute(f"COPY gen TO '{files['csv']}' (HEADER)")
    con.close()
    return files


def _duckdb_load(fmt: str, path: Path, store: Path) -> float:
    reader = "read_parquet" if fmt == "parquet" else "read_csv"
    start = time.perf_counter()
    con = duckdb.connect(str(store))
    con.execute(f"CREATE TABLE t AS SELECT * FROM {reader}('{path}')")
    con.close()
    return time.perf_counter() - start


def _segmint_import(fmt: str, path: Path, store: Path) -> float:
    start = time.perf_counter()
    report = import_file(store=SalesStore(store), org="bench", kind="sales", path=path)
    elapsed = time.perf_counter() - start
    assert report.rejected == 0 and report.accepted == report.rows_read, report
    return elapsed


def run(lines: int, repeat: int) -> list[tuple[str, int, float, float, float]]:
    files = make_files(lines)
    results = []
    for fmt, path in files.items():
        timings: dict[str, list[float]] = {"duckdb": [], "segmint": []}
        for _ in range(repeat):
            for name, fn in (("duckdb", _duckdb_load), ("segmint", _segmint_import)):
                work = Path(tempfile.mkdtemp(prefix="segmint-bench-"))
                try:
                    timings[name].append(fn(fmt, path, work / "store.duckdb"))
                finally:
                    shutil.rmtree(work)
        own, ours = statistics.median(timings["duckdb"]), statistics.median(timings["segmint"])
        results.append((fmt, lines, own, ours, ours / own))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench imports", description=__doc__)
    parser.add_argument("--lines", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    print(f"import benchmark: {args.lines:,} lines, median of {args.repeat} runs")
    print(
        f"{'format':8} {'duckdb own load':>16} {'segmint import':>16} {'lines/s (segmint)':>18}"
        f" {'ratio':>6} {'target':>7}"
    )
    ok = True
    for fmt, lines, own, ours, ratio in run(args.lines, args.repeat):
        target = TARGETS[fmt]
        ok &= ratio <= target
        print(
            f"{fmt:8} {own:15.2f}s {ours:15.2f}s {lines / ours:18,.0f} {ratio:5.2f}x"
            f" {target:6.1f}x {'ok' if ratio <= target else 'MISSED'}"
        )
    return 0 if ok else 1
