"""SQL that turns a source column into a canonical one: a typed value and, per row, the reject
code when the value cannot be used. All of it runs inside DuckDB, vectorised, so a 50M-line
file never passes through Python.

Each column is read in two steps so that the expensive part runs once per value: an *inner*
projection computes the trimmed text ``t_<col>`` and the parsed value ``p_<col>``; the *outer*
``value`` and ``error`` expressions only refer to those two. Parsing tries the fast, common form
first (``TRY_CAST`` of an ISO date or a plain number) and falls back to the slower forms only for
the values the fast one could not read (``coalesce`` evaluates its later arguments only for those
rows).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from segmint.imports.options import MAX_ABS_AMOUNT, MAX_TEXT
from segmint.store.schema import AMOUNT_TYPE, Column

_DATE_FORMATS = ["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%d.%m.%Y", "%Y/%m/%d"]
_NUMERIC_TYPES = (
    "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER",
    "UBIGINT", "DECIMAL", "FLOAT", "DOUBLE",
)  # fmt: skip
_INTEGER_TYPES = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER")
_DECIMAL_RE = re.compile(r"DECIMAL\((\d+),\s*(\d+)\)")
NO_ERROR = "CAST(NULL AS VARCHAR)"


@dataclass(frozen=True)
class ColumnSql:
    """How one canonical column is read.

    ``inner`` are ``(alias, expression)`` pairs over the source; ``value`` and ``error`` (a reject
    code or NULL) are expressions over those aliases; ``raw`` is the source value as text.
    """

    name: str
    inner: tuple[tuple[str, str], ...]
    value: str
    error: str
    raw: str


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def literal(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def _absent(column: Column, sql_type: str) -> ColumnSql:
    return ColumnSql(column.name, (), f"CAST(NULL AS {sql_type})", NO_ERROR, "NULL")


def _checks(column: Column, text: str, rest: str) -> str:
    missing = f"WHEN {text} IS NULL THEN 'missing_value' " if column.required else ""
    if not missing and not rest:
        return NO_ERROR
    return f"CASE {missing}WHEN {text} IS NULL THEN NULL {rest} END"


def text_sql(column: Column, source: str | None) -> ColumnSql:
    if source is None:
        return _absent(column, "VARCHAR")
    src, t = quote(source), f"t_{column.name}"
    inner = ((t, f"NULLIF(trim(CAST({src} AS VARCHAR)), '')"),)
    # strlen (bytes) is cheap and never less than length (characters): check it first.
    error = _checks(
        column, t, f"WHEN strlen({t}) > {MAX_TEXT} AND length({t}) > {MAX_TEXT} THEN 'too_long'"
    )
    return ColumnSql(column.name, inner, t, error, f"CAST({src} AS VARCHAR)")


def integer_sql(column: Column, source: str | None, source_type: str | None) -> ColumnSql:
    if source is None:
        return _absent(column, "INTEGER")
    src, t, p = quote(source), f"t_{column.name}", f"p_{column.name}"
    if (source_type or "").upper() in _INTEGER_TYPES:
        # Already whole numbers (Parquet): only the range is checked.
        inner = ((t, src), (p, f"CAST({src} AS BIGINT)"))
        error = _checks(column, t, f"WHEN {p} < 0 OR {p} > 2147483647 THEN 'not_an_integer'")
        value = f"CASE WHEN {p} BETWEEN 0 AND 2147483647 THEN CAST({p} AS INTEGER) END"
        return ColumnSql(column.name, inner, value, error, f"CAST({src} AS VARCHAR)")
    # "3.0" is a whole number as Excel writes it; "3.5" is not.
    d = f"d_{column.name}"
    inner = (
        (t, f"NULLIF(trim(CAST({src} AS VARCHAR)), '')"),
        (d, f"TRY_CAST({t} AS DECIMAL(38,6))"),
        (p, f"CASE WHEN {d} = round({d}) AND abs({d}) < 1e18 THEN CAST({d} AS BIGINT) END"),
    )
    error = _checks(
        column,
        t,
        f"WHEN {p} IS NULL OR {p} < 0 OR {p} > 2147483647 THEN 'not_an_integer'",
    )
    value = f"CASE WHEN {p} BETWEEN 0 AND 2147483647 THEN CAST({p} AS INTEGER) END"
    return ColumnSql(column.name, inner, value, error, f"CAST({src} AS VARCHAR)")


def decimal_sql(
    column: Column, source: str | None, source_type: str | None, decimal_comma: bool
) -> ColumnSql:
    if source is None:
        return _absent(column, AMOUNT_TYPE)
    src, t, p = quote(source), f"t_{column.name}", f"p_{column.name}"
    raw = f"CAST({src} AS VARCHAR)"
    kind = (source_type or "VARCHAR").upper()
    fits = _DECIMAL_RE.fullmatch(kind)
    if fits and int(fits[2]) <= 4:
        # A Parquet decimal with at most 4 decimals: exact in DECIMAL(18,4) whenever it is below
        # 10^14, and TRY_CAST is NULL exactly when it is not. 64-bit arithmetic throughout.
        inner = ((t, src), (p, f"TRY_CAST({src} AS {AMOUNT_TYPE})"))
        error = _checks(column, t, f"WHEN {p} IS NULL THEN 'number_out_of_range'")
        return ColumnSql(column.name, inner, p, error, raw)
    if kind in _INTEGER_TYPES:
        inner = ((t, src), (p, f"CAST({src} AS DECIMAL(38,10))"))
        fraction = "false"
    elif kind.startswith(_NUMERIC_TYPES):
        if kind in ("FLOAT", "DOUBLE"):
            # Binary floats: 4 decimals is what the file meant; more is noise or a real fraction
            # of a cent, which we refuse rather than round silently.
            inner = ((t, src), (p, f"CAST(round({src}, 4) AS DECIMAL(38,10))"))
            fraction = f"abs({t} - round({t}, 4)) > 1e-9"
        else:
            inner = ((t, src), (p, f"CAST({src} AS DECIMAL(38,10))"))
            fraction = f"{p} <> round({p}, 4)"
    else:
        cleaned = f"replace(replace(replace({t}, ' ', ''), chr(160), ''), '''', '')"
        if decimal_comma:
            cleaned = f"replace(replace({cleaned}, '.', ''), ',', '.')"
        # SAP and some ERPs write negatives with a trailing minus: "12.50-".
        signed = (
            f"CASE WHEN suffix({cleaned}, '-') THEN '-' || rtrim({cleaned}, '-') ELSE {cleaned} END"
        )
        slow = f"TRY_CAST({signed} AS DECIMAL(38,10))"
        parsed = slow if decimal_comma else f"coalesce(TRY_CAST({t} AS DECIMAL(38,10)), {slow})"
        inner = ((t, f"NULLIF(trim({raw}), '')"), (p, parsed))
        fraction = f"{p} <> round({p}, 4)"
    error = _checks(
        column,
        t,
        f"WHEN {p} IS NULL THEN 'not_a_number' "
        f"WHEN abs({p}) >= {MAX_ABS_AMOUNT} THEN 'number_out_of_range' "
        f"WHEN {fraction} THEN 'too_many_decimals'",
    )
    value = f"CASE WHEN abs({p}) < {MAX_ABS_AMOUNT} THEN CAST({p} AS {AMOUNT_TYPE}) END"
    return ColumnSql(column.name, inner, value, error, raw)


def date_sql(
    column: Column, source: str | None, source_type: str | None, date_format: str | None
) -> ColumnSql:
    if source is None:
        return _absent(column, "DATE")
    src, t, p = quote(source), f"t_{column.name}", f"p_{column.name}"
    raw = f"CAST({src} AS VARCHAR)"
    kind = (source_type or "VARCHAR").upper()
    if kind == "DATE" or kind.startswith("TIMESTAMP"):
        inner = ((t, src), (p, f"CAST({src} AS DATE)"))
    else:
        if date_format:
            parsed = f"CAST(try_strptime({t}, {literal(date_format)}) AS DATE)"
        else:
            formats = "[" + ", ".join(literal(f) for f in _DATE_FORMATS) + "]"
            # Excel stores dates as days since 1899-12-30; a bare 5-digit number in a date
            # column is such a serial (10000 = 1927-05-18 .. 99999 = 2173-10-14).
            serial = (
                f"CASE WHEN regexp_full_match({t}, '[0-9]{{5}}([.]0+)?') THEN CAST(DATE "
                f"'1899-12-30' + CAST(CAST({t} AS DOUBLE) AS INTEGER) AS DATE) END"
            )
            parsed = (
                f"coalesce(TRY_CAST({t} AS DATE), {serial}, "
                f"CAST(try_strptime({t}, {formats}) AS DATE))"
            )
        inner = ((t, f"NULLIF(trim({raw}), '')"), (p, parsed))
    error = _checks(
        column,
        t,
        f"WHEN {p} IS NULL THEN 'not_a_date' "
        f"WHEN {p} < DATE '1900-01-01' OR {p} > DATE '2099-12-31' THEN 'date_out_of_range'",
    )
    return ColumnSql(column.name, inner, p, error, raw)


def column_sql(
    column: Column,
    source: str | None,
    source_type: str | None,
    *,
    decimal_comma: bool,
    date_format: str | None,
) -> ColumnSql:
    base = column.sql_type.upper()
    if base == "DATE":
        return date_sql(column, source, source_type, date_format)
    if base.startswith("DECIMAL"):
        return decimal_sql(column, source, source_type, decimal_comma)
    if base == "INTEGER":
        return integer_sql(column, source, source_type)
    return text_sql(column, source)
