"""Engine benchmark: ABC tiers (80/15/5, rolling 12 months) over generated sales lines.

Times, as whole subprocesses (median of ``--runs``, peak RSS of each), the same work done by:

- ``engine``: ``segmint.engine.pareto_tiers`` on DuckDB;
- ``duckdb_sql``: a hand-written DuckDB query (the reference, ratio 1.00);
- ``polars``: Polars lazy;
- ``pandas``: pandas the way typical scripts do it (read everything, floats, groupby).

Each variant prints the number of pool customers per tier and a digest of the sorted
``(customer, tier)`` pairs; the benchmark fails when they disagree.

    python -m bench.engine --sizes 1000000 10000000 --runs 3
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

AS_OF = date(2025, 12, 31)
START = date(2025, 1, 1)  # rolling 12 months as of 2025-12-31: 2025-01-01 .. 2025-12-31
VARIANTS = ("engine", "duckdb_sql", "polars", "pandas")
LINES_PER_FILE = 5_000_000


def generate(lines: int, directory: Path) -> Path:
    """Deterministic sales lines (DuckDB's hash of the row number; same data every time)."""
    target = directory / f"sales_{lines}"
    if (target / "done").exists():
        return target
    import duckdb

    target.mkdir(parents=True, exist_ok=True)
    customers = max(1000, lines // 200)
    con = duckdb.connect()
    con.execute("SET preserve_insertion_order = false")
    con.execute("SET enable_progress_bar = false")
    for part, first in enumerate(range(0, lines, LINES_PER_FILE)):
        last = min(lines, first + LINES_PER_FILE)
        con.execute(f"""
COPY (
  SELECT 'D' || (i // 4) AS document_id, CAST(i % 4 AS INTEGER) AS line_no,
    DATE '2023-01-01' + CAST(hash(i // 4) % 1096 AS INTEGER) AS invoice_date,
    'C' || lpad(CAST(hash(i // 4 + 7919) % {customers} AS VARCHAR), 7, '0') AS customer_id,
    CAST(CAST(CAST(hash(i + 104729) % 200000 AS BIGINT) - 10000 AS DECIMAL(18, 4))
         * CAST(0.01 AS DECIMAL(3, 2)) AS DECIMAL(18, 4)) AS net_amount,
    'B' || CAST(hash(i // 4 + 13) % 5 AS VARCHAR) AS branch,
    'brand' || CAST(hash(i + 31) % 20 AS VARCHAR) AS brand
  FROM range({first}, {last}) AS t(i)
) TO '{target}/part{part:03d}.parquet' (FORMAT parquet)
""")
    (target / "done").touch()
    return target


def _digest(pairs) -> dict:
    pairs = sorted(pairs)
    counts: dict[str, int] = {}
    for _, tier in pairs:
        counts[tier] = counts.get(tier, 0) + 1
    text = "\n".join(f"{c}\t{t}" for c, t in pairs).encode()
    return {"tiers": counts, "digest": hashlib.sha256(text).hexdigest()[:16]}


def run_engine(data: str) -> dict:
    import duckdb
    import narwhals as nw

    from segmint.engine import ParetoParams, Period, pareto_tiers

    sales = duckdb.connect().read_parquet(f"{data}/*.parquet")
    result = pareto_tiers(sales, ParetoParams.abc(Period(START, AS_OF)))
    # the native relation behind the lazy result, filtered and fetched like the others
    table = nw.to_native(result).filter("tier IS NOT NULL").select("customer_key, tier").fetchall()
    return _digest(table)


def run_duckdb_sql(data: str) -> dict:
    import duckdb

    rows = (
        duckdb.connect()
        .sql(f"""
WITH e AS (
  SELECT customer_id, SUM(net_amount) AS s FROM read_parquet('{data}/*.parquet')
  WHERE invoice_date BETWEEN DATE '{START}' AND DATE '{AS_OF}'
  GROUP BY customer_id HAVING SUM(net_amount) > 0
), r AS (
  SELECT customer_id, s,
    SUM(s) OVER (ORDER BY s DESC, customer_id ROWS UNBOUNDED PRECEDING) - s AS before,
    SUM(s) OVER () AS total
  FROM e
)
SELECT customer_id, CASE WHEN 100 * before < 80 * total THEN 'A'
  WHEN 100 * before < 95 * total THEN 'B' ELSE 'C' END AS tier
FROM r
""")
        .fetchall()
    )
    return _digest(rows)


def run_polars(data: str) -> dict:
    import polars as pl

    units = (pl.col("net_amount") * 10000).cast(pl.Int64)  # exact: 4 decimals
    frame = (
        pl.scan_parquet(f"{data}/*.parquet")
        .filter(pl.col("invoice_date").is_between(START, AS_OF))
        .group_by("customer_id")
        .agg(units.sum().alias("s"))
        .filter(pl.col("s") > 0)
        .sort(["s", "customer_id"], descending=[True, False])
        .with_columns(before=pl.col("s").cum_sum() - pl.col("s"), total=pl.col("s").sum())
        .with_columns(
            tier=pl.when(100 * pl.col("before") < 80 * pl.col("total"))
            .then(pl.lit("A"))
            .when(100 * pl.col("before") < 95 * pl.col("total"))
            .then(pl.lit("B"))
            .otherwise(pl.lit("C"))
        )
        .select("customer_id", "tier")
        .collect()
    )
    return _digest(frame.iter_rows())


def run_pandas(data: str) -> dict:
    import glob

    import numpy as np
    import pandas as pd

    df = pd.concat(pd.read_parquet(f) for f in sorted(glob.glob(f"{data}/*.parquet")))
    df["net_amount"] = df["net_amount"].astype(float)
    df["invoice_date"] = pd.to_datetime(df["invoice_date"])
    df = df[(df["invoice_date"] >= str(START)) & (df["invoice_date"] <= str(AS_OF))]
    sums = df.groupby("customer_id")["net_amount"].sum().reset_index()
    sums = sums[sums["net_amount"] > 0]
    sums = sums.sort_values(["net_amount", "customer_id"], ascending=[False, True])
    share_before = (sums["net_amount"].cumsum() - sums["net_amount"]) / sums["net_amount"].sum()
    sums["tier"] = np.select([share_before < 0.80, share_before < 0.95], ["A", "B"], "C")
    return _digest(zip(sums["customer_id"], sums["tier"], strict=True))


def worker(variant: str, data: str) -> None:
    result = globals()[f"run_{variant}"](data)
    result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def measure(variant: str, data: Path, runs: int) -> dict:
    times, outputs = [], []
    for _ in range(runs):
        started = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "bench.engine", "--worker", variant, "--data", str(data)],
            capture_output=True,
            text=True,
            check=False,
            cwd=Path(__file__).resolve().parent.parent,
        )
        times.append(time.perf_counter() - started)
        if proc.returncode:
            raise RuntimeError(f"{variant} failed:\n{proc.stderr}")
        outputs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    return {
        "seconds": statistics.median(times),
        "peak_rss_mib": max(o["peak_rss_mib"] for o in outputs),
        "digest": outputs[0]["digest"],
        "tiers": outputs[0]["tiers"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.engine", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000, 50_000_000])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path(os.environ.get("SEGMINT_BENCH_DIR", "/tmp/segmint-bench")),
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.worker, args.data)
        return 0
    agree = True
    for size in args.sizes:
        data = generate(size, args.data_dir)
        results = {v: measure(v, data, args.runs) for v in args.variants}
        reference = results.get("duckdb_sql", next(iter(results.values())))
        print(f"\n{size:,} lines ({data}), median of {args.runs} runs")
        print(f"{'variant':<12}{'seconds':>10}{'ratio':>8}{'peak MiB':>10}  digest")
        for variant, r in results.items():
            ratio = r["seconds"] / reference["seconds"]
            print(
                f"{variant:<12}{r['seconds']:>10.2f}{ratio:>8.2f}{r['peak_rss_mib']:>10.0f}"
                f"  {r['digest']} {r['tiers']}"
            )
        if len({r["digest"] for r in results.values()}) != 1:
            agree = False
            print("DISAGREEMENT: the variants do not give the same tiers")
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
