"""Running the engine's one SQL definition on the engine that holds the input frames.

The engine's computations are written once, in DuckDB's SQL dialect, with ``{name}``
placeholders for their input tables. Here the inputs are registered as (temporary) views on their
own engine and the query runs there: as is on DuckDB, transpiled by sqlglot on Spark. The result
stays lazy and comes back as a narwhals ``LazyFrame``.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Any

import narwhals as nw

from segmint.errors import ValidationError

#: What the engine functions accept as a frame.
Frame = Any


def native(frame: Frame) -> Any:
    """The native DuckDB relation or Spark DataFrame behind ``frame``."""
    if isinstance(frame, nw.LazyFrame | nw.DataFrame):
        frame = nw.to_native(frame)
    kind = engine_of(frame)
    if kind is None:
        raise ValidationError(
            f"the engine runs on DuckDB relations and Spark DataFrames (or narwhals LazyFrames "
            f"over them), got {type(frame).__name__}",
            field="frame",
        )
    return frame


def engine_of(obj: Any) -> str | None:
    module = type(obj).__module__
    if module.lstrip("_").startswith("duckdb"):
        return "duckdb"
    if module.startswith("pyspark"):
        return "spark"
    return None


def _spark_types(node: Any) -> Any:
    from sqlglot import exp

    # Spark has no 128-bit integer; DECIMAL(38, 0) holds the same whole numbers exactly, and
    # Spark's DIV on it is the same truncating integer division as DuckDB's // on HUGEINT.
    if isinstance(node, exp.DataType) and node.this == exp.DataType.Type.INT128:
        return exp.DataType.build("DECIMAL(38, 0)")
    return node


def to_spark_sql(sql: str) -> str:
    """Transpile DuckDB SQL to Spark SQL (the one place the dialects meet).

    >>> to_spark_sql("SELECT CAST(a AS HUGEINT) // 5 AS q FROM t")
    'SELECT CAST(a AS DECIMAL(38, 0)) DIV 5 AS q FROM t'
    """
    import sqlglot  # only Spark needs it; importing it costs DuckDB runs ~0.1 s

    tree = sqlglot.parse_one(sql, read="duckdb")
    return tree.transform(_spark_types).sql(dialect="spark")


def run(sql: str, frames: Mapping[str, Frame | None]) -> nw.LazyFrame:
    """Run ``sql`` (DuckDB dialect, ``{name}`` placeholders) over ``frames``; lazy result."""
    natives = {k: native(v) for k, v in frames.items() if v is not None}
    first = next(iter(natives.values()))
    kind = engine_of(first)
    if any(engine_of(v) != kind for v in natives.values()):
        raise ValidationError("all input frames must live on the same engine", field="frame")
    token = uuid.uuid4().hex[:12]
    names = {k: f"segmint_{k}_{token}" for k in frames}
    text = sql.format(**names)
    if kind == "duckdb":
        for key, rel in natives.items():
            rel.create_view(names[key], replace=True)
        return nw.from_native(first.query(f"segmint_q_{token}", text))
    for key, df in natives.items():
        df.createOrReplaceTempView(names[key])
    return nw.from_native(first.sparkSession.sql(to_spark_sql(text)))


def lit(value: object) -> str:
    """A SQL literal (DuckDB dialect) for a Python value."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        return f"CAST('{value}' AS DECIMAL(38, 4))"
    if isinstance(value, date):
        return f"DATE '{value.isoformat()}'"
    if isinstance(value, str):
        # braces are doubled because the engine's SQL goes through str.format for table names
        text = value.replace("'", "''").replace("{", "{{").replace("}", "}}")
        return "'" + text + "'"
    raise TypeError(f"no SQL literal for {value!r}")


def in_list(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(lit(v) for v in values)})"
