"""Nothing already stored is lost or half-written: --strict, Ctrl-C and SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import duckdb
import pytest

from segmint.errors import StrictImportRejected
from segmint.imports.service import import_file
from tests.imports.conftest import SALES_HEADER


def snapshot(store):
    return {t: store.table_rows(t, "acme") for t in ("sales_lines", "customers", "products")}


@pytest.fixture
def seeded(load, store):
    load(SALES_HEADER + "INV1,1,2024-01-05,C1,5,X\nINV2,1,2024-01-06,C2,7,X\n")
    return snapshot(store)


def test_strict_import_with_a_reject_changes_nothing(load, store, seeded, tmp_path):
    with pytest.raises(StrictImportRejected, match="1 row\\(s\\) rejected") as info:
        load(
            SALES_HEADER + "INV1,1,2024-01-05,C1,999,X\nINV3,1,2024-01-07,C3,oops,X\n",
            strict=True,
        )
    assert info.value.rejected_rows == 1
    assert snapshot(store) == seeded
    assert "not_a_number" in (tmp_path / "rejects.csv").read_text()


@pytest.mark.parametrize("name", ["first.csv", "first.parquet"])
def test_strict_first_import_with_a_reject_writes_nothing(store, tmp_path, name):
    # Without --strict a first import writes the good rows as it parses them and finds the
    # rejects by count; --strict names them first and refuses before writing anything.
    csv, path = tmp_path / "lines.csv", tmp_path / name
    csv.write_text(SALES_HEADER + "INV1,1,2024-01-05,C1,5,X\nINV2,1,2024-01-07,C3,oops,X\n")
    if name.endswith(".parquet"):
        duckdb.execute(
            f"COPY (FROM read_csv('{csv}', all_varchar = true)) TO '{path}' (FORMAT parquet)"
        )
    else:
        path = csv
    with store.connect():
        pass
    size = store.path.stat().st_size
    with pytest.raises(StrictImportRejected, match="1 row\\(s\\) rejected"):
        import_file(
            store=store,
            org="acme",
            kind="sales",
            path=path,
            strict=True,
            rejects_path=tmp_path / "rejects.csv",
        )
    assert snapshot(store) == {"sales_lines": [], "customers": [], "products": []}
    assert store.path.stat().st_size == size
    with store.connect(read_only=True) as con:
        assert con.execute("SELECT count(*) FROM imports").fetchone()[0] == 0
    assert "not_a_number" in (tmp_path / "rejects.csv").read_text()


def test_ctrl_c_during_a_first_import_rolls_back(store, tmp_path):
    path = tmp_path / "first.csv"
    path.write_text(SALES_HEADER + "INV1,1,2024-01-05,C1,5,X\nINV9,1,2024-01-09,C9,oops,X\n")

    def interrupt(stage, fraction):
        if stage == "checking" and fraction >= 0.7:  # after the INSERT of the good rows
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        import_file(store=store, org="acme", kind="sales", path=path, on_progress=interrupt)
    assert snapshot(store) == {"sales_lines": [], "customers": [], "products": []}


def test_a_failing_statement_in_the_transaction_is_reported_as_itself():
    from segmint.imports.service import _no_filter_pushdown

    con = duckdb.connect()
    con.execute("BEGIN TRANSACTION")
    with pytest.raises(duckdb.ConversionException), _no_filter_pushdown(con):
        con.execute("SELECT CAST('x' AS INTEGER)")  # aborts the transaction, RESET included
    con.execute("ROLLBACK")


def test_ctrl_c_during_the_write_rolls_back(store, seeded, tmp_path):
    path = tmp_path / "amend.csv"
    path.write_text(SALES_HEADER + "INV1,1,2024-01-05,C1,999,X\nINV9,1,2024-01-09,C9,1,X\n")

    def interrupt(stage, fraction):
        if stage == "writing" and fraction >= 0.85:  # after the DELETE of the amended line
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        import_file(store=store, org="acme", kind="sales", path=path, on_progress=interrupt)
    assert snapshot(store) == seeded


@pytest.mark.slow
def test_sigkill_half_way_leaves_the_store_as_it_was(store, seeded, tmp_path):
    big = tmp_path / "big.parquet"
    con = duckdb.connect()
    # 3M lines, one of which (INV1/1) amends a stored line: the import deletes it, then inserts.
    con.execute(
        f"""COPY (SELECT CASE WHEN i = 0 THEN 'INV1' ELSE 'D' || i END AS document_id,
                         1 AS line_no, DATE '2024-01-01' + CAST(i % 700 AS INTEGER) AS invoice_date,
                         'C' || (i % 5000) AS customer_id,
                         CAST((i % 1000) / 10 AS DECIMAL(18,4)) AS net_amount
                  FROM range(3000000) r(i))
            TO '{big}' (FORMAT parquet)"""
    )
    con.close()
    env = {
        **os.environ,
        "SEGMINT_DATA_DIR": str(tmp_path / "data"),
        "SEGMINT_SALES_STORE": str(store.path),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "segmint.cli", "import", "sales", str(big), "--org", "acme"],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        env=env,
        text=True,
    )
    deadline = time.monotonic() + 120
    for line in proc.stderr:
        if line.startswith("stage: writing"):
            break
        assert time.monotonic() < deadline, "the import never reached the write stage"
    time.sleep(0.3)
    assert proc.poll() is None, "the import finished before the kill: make the file bigger"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    assert snapshot(store) == seeded
