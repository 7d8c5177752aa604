"""The ``engine`` fixture of the conformance suite: the same tests on DuckDB (always) and on a
local Spark session (marked ``spark``; one session for the whole run, 2 shuffle partitions, no
UI), plus helpers that build canonical input frames from small Python tables."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import duckdb
import narwhals as nw
import pyarrow as pa
import pytest

SALES_SCHEMA = pa.schema(
    [
        ("document_id", pa.string()),
        ("line_no", pa.int32()),
        ("invoice_date", pa.date32()),
        ("customer_id", pa.string()),
        ("net_amount", pa.decimal128(18, 4)),
        ("branch", pa.string()),
        ("brand", pa.string()),
        ("territory", pa.string()),
    ]
)
CUSTOMERS_SCHEMA = pa.schema([("customer_id", pa.string()), ("vat_key", pa.string())])
MANUAL_SCHEMA = pa.schema([("customer_key", pa.string()), ("segment", pa.string())])


def sale(
    customer: str,
    amount: str | int,
    day: str = "2025-06-01",
    doc: str | None = None,
    *,
    branch: str = "B1",
    brand: str = "X",
    territory: str = "North",
) -> dict[str, Any]:
    """One sales line; each line is its own document unless ``doc`` is given."""
    return {
        "document_id": doc,
        "line_no": 1,
        "invoice_date": date.fromisoformat(day),
        "customer_id": customer,
        "net_amount": Decimal(str(amount)),
        "branch": branch,
        "brand": brand,
        "territory": territory,
    }


def _number_documents(rows: list[dict]) -> list[dict]:
    out = []
    for i, row in enumerate(rows):
        row = dict(row)
        row["document_id"] = row["document_id"] or f"auto{i:04d}"
        out.append(row)
    return out


@dataclass
class Engine:
    name: str
    spark: Any = None

    def table(self, rows: list[dict], schema: pa.Schema) -> Any:
        data = pa.Table.from_pylist(rows, schema=schema)
        if self.name == "duckdb":
            con = self.__dict__.setdefault("_con", duckdb.connect())
            return con.from_arrow(data)
        tuples = [tuple(r.get(f.name) for f in schema) for r in rows]
        return self.spark.createDataFrame(tuples, schema=_ddl(schema))

    def sales(self, rows: list[dict]) -> Any:
        return self.table(_number_documents(rows), SALES_SCHEMA)

    def customers(self, rows: list[tuple[str, str | None]]) -> Any:
        return self.table([{"customer_id": c, "vat_key": v} for c, v in rows], CUSTOMERS_SCHEMA)

    def manual(self, pairs: dict[str, str]) -> Any:
        rows = [{"customer_key": k, "segment": v} for k, v in pairs.items()]
        return self.table(rows, MANUAL_SCHEMA)


def _ddl(schema: pa.Schema) -> str:
    names = {
        pa.string(): "STRING",
        pa.int32(): "INT",
        pa.date32(): "DATE",
        pa.decimal128(18, 4): "DECIMAL(18,4)",
    }
    return ", ".join(f"{f.name} {names[f.type]}" for f in schema)


def rows(frame: nw.LazyFrame, key: str = "customer_key") -> dict[Any, dict[str, Any]]:
    """Collect a result into ``{key: row}``."""
    return {r[key]: r for r in frame.collect().rows(named=True)}


@pytest.fixture(scope="session")
def spark_session():
    pytest.importorskip("pyspark")
    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", "python3")
    session = (
        SparkSession.builder.master("local[2]")
        .appName("segmint-engine-tests")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.driver.memory", "1g")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(params=["duckdb", pytest.param("spark", marks=pytest.mark.spark)])
def engine(request) -> Engine:
    """Both engines: for the conformance tests that must hold everywhere."""
    if request.param == "spark":
        return Engine("spark", request.getfixturevalue("spark_session"))
    return Engine("duckdb")


@pytest.fixture
def duck() -> Engine:
    """DuckDB only: for the long tail of goldens and the property tests."""
    return Engine("duckdb")
