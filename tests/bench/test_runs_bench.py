"""Smoke test of the run benchmark (``python -m bench runs``) at a tiny size, so it cannot rot.

The benchmark itself (200k and 1M customers, SQLite and PostgreSQL) is not part of the suite;
this runs its whole path once, SQLite only: the generated store, a first run and a re-run of a
Pareto and an RFM type through the worker, and the table it prints.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_runs_benchmark_at_2000_customers_on_sqlite(tmp_path: Path) -> None:
    command = ["-m", "bench", "runs", "--customers", "2000", "--dbs", "sqlite"]
    proc = subprocess.run(
        [sys.executable, *command, "--work-dir", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    # 1 means "target missed", which tiny sizes (fixed costs only) may well report.
    assert proc.returncode in (0, 1), proc.stderr
    rows = {}
    for line in proc.stdout.splitlines():
        match = re.match(r"sqlite\s+(pareto|rfm)\s+2,000\s+([\d,]+)\s+(first|rerun)\s", line)
        if match:
            rows[match[1], match[3]] = line.split()
    assert set(rows) == {(m, r) for m in ("pareto", "rfm") for r in ("first", "rerun")}
    for (method, run), cells in rows.items():
        # db, method, customers, lines, run, engine, full, overhead, target, 4 phases, history
        assert len(cells) == 14, cells
        assert cells[3] == ("20,000" if run == "first" else "20,002")  # + the re-run's change
        engine, full = float(cells[5].rstrip("s")), float(cells[6].rstrip("s"))
        assert engine > 0 and full > 0
        # The verdict follows the ratio of the unrounded times: allow for the 2-decimal print.
        ratio_low = (full - 0.005) / (engine + 0.005)
        ratio_high = (full + 0.005) / (engine - 0.005) if engine > 0.005 else float("inf")
        if ratio_high - 1 <= 1.0:
            assert cells[8] == "ok", cells
        elif ratio_low - 1 > 1.0:
            assert cells[8] == "MISSED", cells
        else:
            assert cells[8] in ("ok", "MISSED"), cells
        history = int(cells[13].replace(",", ""))
        # The first run writes a history row for every customer in a segment, a re-run few.
        assert (history > 1000) if run == "first" else (history < 100), (method, run, history)
    assert list(tmp_path.iterdir()) == []  # the temporary store and databases are gone
