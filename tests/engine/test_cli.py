"""``segmint abc`` / ``segmint rfm`` over CSV and Parquet files, through Typer's CliRunner."""

from __future__ import annotations

import csv
from decimal import Decimal as D
from pathlib import Path

import duckdb
import pytest
import typer
from typer.testing import CliRunner

from segmint.analysis.cli import abc_command, rfm_command

app = typer.Typer()
app.command("abc")(abc_command)
app.command("rfm")(rfm_command)
runner = CliRunner()

# columns named as an ERP exports them; --map renames them to the canonical ones
ROWS = [
    ("Belegnr", "invoice_date", "customer_id", "net_amount", "territory", "branch"),
    ("d1", "2025-03-01", "c1", "800.0001", "North", "B1"),
    ("d2", "2025-03-02", "c2", "150", "North", "B1"),
    ("d3", "2025-03-03", "c3", "49.9999", "South", "B2"),
    ("d4", "2024-03-03", "c4", "100", "South", "B2"),  # before the period: not listed
]
MAP = ["--map", "Belegnr=document_id"]
PERIOD = ["--as-of", "2026-11-22", "--fixed-year"]


@pytest.fixture
def sales_csv(tmp_path: Path) -> Path:
    path = tmp_path / "sales.csv"
    with path.open("w", newline="") as handle:
        csv.writer(handle).writerows(ROWS)
    return path


def invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def test_abc_writes_results_and_prints_summary(sales_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "abc.csv"
    result = invoke("abc", sales_csv, *MAP, *PERIOD, "-o", out)
    assert result.exit_code == 0, result.output
    assert "3 active of 3" in result.output and "1000.0000" in result.output
    with out.open() as handle:
        got = {r["customer_key"]: r for r in csv.DictReader(handle)}
    # total 1000: c1 A (0 %); c2 share before 800.0001 / 1000 = 80.00001 %, not < 80 -> B (the
    # exact test decides; the column shows it truncated to 80.0000); c3 95.00001 % -> C;
    # c4 has no sales in 2025 and no customers file lists it -> not in the result
    assert {k: r["tier"] for k, r in got.items()} == {"c1": "A", "c2": "B", "c3": "C"}
    assert D(got["c2"]["share_before"]) == D("80.0000")


def test_abc_filters_and_tiers(sales_csv: Path) -> None:
    result = invoke(
        "abc", sales_csv, *MAP, *PERIOD, "--tiers", "Top=50,Rest=50", "--filter", "territory=North"
    )
    assert result.exit_code == 0, result.output
    assert "Top" in result.output and "Rest" in result.output and "2 active of 2" in result.output


def test_rfm_over_a_parquet_glob(sales_csv: Path, tmp_path: Path) -> None:
    con = duckdb.connect()
    for i in (1, 2):
        rel = con.read_csv(str(sales_csv), all_varchar=True)
        rel.write_parquet(str(tmp_path / f"part{i}.parquet"))
    out = tmp_path / "rfm.parquet"
    cuts = "r=30,60,90,180;f=1,2,3,4;m=100,200,300,400"
    result = invoke("rfm", tmp_path / "part*.parquet", *MAP, *PERIOD, "--cuts", cuts, "-o", out)
    assert result.exit_code == 0, result.output
    assert "cut points: r=30,60,90,180; f=1,2,3,4; m=100,200,300,400" in result.output
    got = {r["customer_key"]: r for r in con.read_parquet(str(out)).pl().to_dicts()}
    # each line is there twice (two files), same document: F 1 (one document), M doubled
    assert (got["c1"]["frequency"], got["c1"]["monetary"]) == (1, D("1600.0002"))
    assert "c4" not in got


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tiers", "A=80,B=10"], "90"),
        (["--tiers", "A80"], "A80"),
        (["--tiers", "A=eighty,B=20"], "eighty"),
        (["--by", "email"], "email"),
        (["--as-of", "2025-13-01"], "2025-13-01"),
        (["--months", "18", "--fixed-year"], "18"),
        (["--months", "0"], "0"),
        (["--engine", "flink"], "flink"),
        (["--filter", "price=1"], "price"),
        (["-o", "out.xlsx"], "out.xlsx"),
        (["--min-sales", "lots"], "lots"),
    ],
)
def test_bad_options_exit_2_naming_the_value(sales_csv: Path, args, message) -> None:
    result = invoke("abc", sales_csv, *MAP, *args)
    assert result.exit_code == 2, result.output
    assert message in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--cuts", "x=1,2,3,4"], "'x'"), (["--cuts", "f=1,2,3"], "3"), (["--by", "vat"], "vat")],
)
def test_bad_rfm_options(sales_csv: Path, args, message) -> None:
    result = invoke("rfm", sales_csv, *MAP, *args)
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_unreadable_sources(sales_csv: Path, tmp_path: Path) -> None:
    missing = invoke("abc", tmp_path / "nope.csv")
    assert missing.exit_code == 2 and "no such file" in missing.output
    unmapped = invoke("abc", sales_csv)
    assert unmapped.exit_code == 2 and "document_id" in unmapped.output


@pytest.mark.spark
def test_abc_on_spark_reads_the_csv_itself(spark_session, sales_csv: Path, tmp_path: Path) -> None:
    before = spark_session.conf.get("spark.sql.shuffle.partitions")
    out = tmp_path / "abc.parquet"
    result = invoke("abc", sales_csv, *MAP, *PERIOD, "--engine", "spark", "-o", out)
    assert result.exit_code == 0, result.output
    got = {r["customer_key"]: r["tier"] for r in duckdb.read_parquet(str(out)).pl().to_dicts()}
    assert got == {"c1": "A", "c2": "B", "c3": "C"}  # as on DuckDB, above
    # The CLI ran on the session that was already there and left its settings alone (it set 8
    # shuffle partitions on it before, which doubled every later Spark test's time here, and
    # would override a cluster's own setting).
    assert spark_session.conf.get("spark.sql.shuffle.partitions") == before == "2"


def test_abc_by_vat_with_a_customers_file(sales_csv: Path, tmp_path: Path) -> None:
    customers = tmp_path / "customers.csv"
    customers.write_text("customer_id,vat_key\nc1,BE01\nc2,BE01\nc3,\nc4,BE04\n")
    out = tmp_path / "vat.csv"
    result = invoke(
        "abc", sales_csv, *MAP, *PERIOD, "--by", "vat", "--customers", customers, "-o", out
    )
    assert result.exit_code == 0, result.output
    with out.open() as handle:
        got = {r["customer_key"]: r for r in csv.DictReader(handle)}
    # c1 + c2 = 950.0001 under BE01; c3 has no VAT key (left out); c4 is known via the file
    assert {k: (r["eligible_sales"], r["tier"]) for k, r in got.items()} == {
        "BE01": ("950.0001", "A"),
        "BE04": ("0.0000", ""),
    }


def test_abc_on_imported_store_data(sales_csv: Path, tmp_path: Path, monkeypatch) -> None:
    from segmint.imports.options import ImportOptions
    from segmint.imports.service import import_file
    from segmint.settings import Settings
    from segmint.store import SalesStore

    monkeypatch.setenv("SEGMINT_DATA_DIR", str(tmp_path / "data"))
    store = SalesStore.from_settings(Settings(_env_file=None))
    import_file(
        store=store,
        org="acme",
        kind="sales",
        path=sales_csv,
        options=ImportOptions(mapping={"Belegnr": "document_id"}),
    )
    out = tmp_path / "abc.csv"
    result = invoke("abc", "store:acme", *PERIOD, "-o", out)
    assert result.exit_code == 0, result.output
    with out.open() as handle:
        tiers = {r["customer_key"]: r["tier"] for r in csv.DictReader(handle)}
    # c1 80.00001 % of 1000: A; c2 crosses 95 %: B; c3 is the last 5 %: C (as from the file)
    assert tiers == {"c1": "A", "c2": "B", "c3": "C"}
    missing = invoke("abc", "store:nobody", *PERIOD)
    assert missing.exit_code == 2
    assert "no sales lines for organization 'nobody'" in missing.output
    assert "acme" in missing.output
    spark = invoke("abc", "store:acme", "--engine", "spark", *PERIOD)
    assert spark.exit_code == 2 and "runs on" in spark.output


def test_unknown_engine_is_refused(sales_csv: Path) -> None:
    result = invoke("abc", sales_csv, *MAP, *PERIOD, "--engine", "postgres://x")
    assert result.exit_code == 2
    assert "spark://HOST:PORT" in " ".join(result.output.split())


@pytest.mark.spark
def test_a_new_spark_session_takes_our_defaults_unless_spark_submit_set_them() -> None:
    """In a process of its own (no session yet): 8 shuffle partitions by default, the value of
    ``spark-submit --conf`` when one is given."""
    import os
    import subprocess
    import sys

    code = (
        "from segmint.analysis.sources import spark_session\n"
        "s = spark_session()\n"
        "print('partitions', s.conf.get('spark.sql.shuffle.partitions'))\n"
        "s.stop()\n"
    )
    for submit, expected in ((None, "8"), ("--conf spark.sql.shuffle.partitions=64", "64")):
        env = {k: v for k, v in os.environ.items() if k != "PYSPARK_SUBMIT_ARGS"}
        if submit:
            env["PYSPARK_SUBMIT_ARGS"] = f"{submit} pyspark-shell"
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300
        )
        assert out.returncode == 0, out.stderr[-2000:]
        assert f"partitions {expected}" in out.stdout, (submit, out.stdout, out.stderr[-1000:])
