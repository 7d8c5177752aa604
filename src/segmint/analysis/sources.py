"""Reading an analysis source (CSV or Parquet file or glob) as a lazy frame on an engine.

This is the I/O edge of the stateless analyst commands; the engine itself never reads files.
CSV columns are read as text so amounts reach the engine's exact DECIMAL cast unrounded.
"""

from __future__ import annotations

import glob
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from segmint.errors import SourceError

REQUIRED = {
    "sales": ("document_id", "invoice_date", "customer_id", "net_amount"),
    "customers": ("customer_id", "vat_key"),
}
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_ .-]*$")


def _files(source: str) -> list[str]:
    files = sorted(glob.glob(source)) if any(c in source for c in "*?[") else [source]
    if not files or not all(Path(f).is_file() for f in files):
        raise SourceError(f"no such file: {source}")
    kinds = {Path(f).suffix.lower() for f in files}
    if not kinds <= {".csv", ".parquet", ".txt"} or len(kinds) != 1:
        raise SourceError(f"{source}: expected .csv or .parquet files, got {', '.join(kinds)}")
    return files


def _check_columns(source: str, columns: list[str], mapping: dict[str, str], kind: str) -> None:
    for name in mapping:
        if name not in columns:
            raise SourceError(f"--map {name}=...: {source} has no column {name!r}")
    renamed = {mapping.get(c, c) for c in columns}
    if missing := [c for c in REQUIRED[kind] if c not in renamed]:
        raise SourceError(
            f"{source} lacks column(s) {', '.join(missing)}; has {', '.join(columns)} "
            "(rename with --map SOURCE=CANONICAL)"
        )


def read_duckdb(source: str, mapping: dict[str, str], con: Any, kind: str = "sales") -> Any:
    """The source as a DuckDB relation on ``con``, columns renamed by ``mapping``."""
    files = _files(source)
    listed = "[" + ", ".join("'" + f.replace("'", "''") + "'" for f in files) + "]"
    if files[0].lower().endswith(".parquet"):
        rel = con.sql(f"SELECT * FROM read_parquet({listed})")
    else:
        rel = con.sql(f"SELECT * FROM read_csv({listed}, header = true, all_varchar = true)")
    _check_columns(source, rel.columns, mapping, kind)
    if not mapping:
        return rel
    for name in (*mapping, *mapping.values()):
        if not _NAME.match(name):
            raise SourceError(f"--map: {name!r} is not a usable column name")
    renames = ", ".join(f'"{src}" AS "{dst}"' for src, dst in mapping.items())
    return rel.query("segmint_source", f"SELECT * RENAME ({renames}) FROM segmint_source")


def read_spark(source: str, mapping: dict[str, str], spark: Any, kind: str = "sales") -> Any:
    """The source as a Spark DataFrame, columns renamed by ``mapping``."""
    files = _files(source)
    if files[0].lower().endswith(".parquet"):
        df = spark.read.parquet(*files)
    else:
        df = spark.read.option("header", "true").csv(files)
    _check_columns(source, df.columns, mapping, kind)
    for src, dst in mapping.items():
        df = df.withColumnRenamed(src, dst)
    return df


@contextmanager
def read_store(org: str) -> Iterator[tuple[Any, Any]]:
    """The organization's sales lines and customers in the sales store, as DuckDB relations.

    The store stays open (read-only) for the block: compute inside it.
    """
    from segmint.settings import Settings
    from segmint.store import SalesStore

    store = SalesStore.from_settings(Settings())
    with store.attached() as con:
        quoted = "'" + org.replace("'", "''") + "'"
        found = con.execute(
            "SELECT count(*) FROM store.sales_lines WHERE org = ?", [org]
        ).fetchall()[0][0]
        if not found:
            orgs = [
                r[0]
                for r in con.execute(
                    "SELECT DISTINCT org FROM store.sales_lines ORDER BY 1"
                ).fetchall()
            ]
            raise SourceError(
                f"store:{org}: no sales lines for organization {org!r} in {store.path}; "
                f"organizations with data: {', '.join(orgs) or 'none (run segmint import)'}"
            )
        sales = con.sql(f"SELECT * EXCLUDE (org) FROM store.sales_lines WHERE org = {quoted}")
        customers = con.sql(f"SELECT * EXCLUDE (org) FROM store.customers WHERE org = {quoted}")
        yield sales, customers


def spark_session(master: str | None = None) -> Any:
    """A Spark session: ``master`` is a master URL (``spark://``, ``local[N]``) or a Spark
    Connect address (``sc://``); without it, the local session (or the one SPARK_REMOTE or
    spark-submit configured)."""
    try:
        from pyspark.sql import SparkSession
    except ImportError as error:  # pragma: no cover - depends on the installation
        raise SourceError("--engine spark needs pyspark: pip install 'segmint[spark]'") from error
    builder = SparkSession.builder.appName("segmint")
    if master and master.startswith("sc://"):
        return builder.remote(master).getOrCreate()
    active = SparkSession.getActiveSession()
    if active is not None:
        # Someone else made it (a notebook, an application that calls Segmint, tests): its
        # settings are theirs. getOrCreate() would have overwritten them with ours.
        return active
    if master:
        builder = builder.master(master)
    from pyspark import SparkConf, SparkContext

    # Defaults for a session of our own, unless spark-submit --conf or spark-defaults.conf set
    # them: 8 shuffle partitions suit one machine, a cluster's own setting wins. (SparkConf
    # reads those from the JVM, so the gateway is started first.)
    SparkContext._ensure_initialized()
    given = SparkConf()
    for key, value in (("spark.ui.enabled", "false"), ("spark.sql.shuffle.partitions", "8")):
        if not given.contains(key):
            builder = builder.config(key, value)
    return builder.getOrCreate()
