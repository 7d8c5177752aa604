"""SQL that turns a source column into a canonical one: a typed value and, per row, the reject
code when the value cannot be used. All of it runs inside DuckDB, vectorised, so a 50M-line
file never passes through Python."""

from __future__ import annotations

from dataclasses import dataclass

from segmint.imports.options import MAX_ABS_AMOUNT, MAX_TEXT
from segmint.store.schema import AMOUNT_TYPE, Column

_DATE_FORMATS = ["%Y-%m-%d", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%d.%m.%Y", "%Y/%m/%d"]
_NUMERIC_TYPES = (
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "HUGEINT",
    "UTINYINT",
    "USMALLINT",
    "UINTEGER",
    "UBIGINT",
    "DECIMAL",
    "FLOAT",
    "DOUBLE",
)


@dataclass(frozen=True)
class ColumnSql:
    """How one canonical column is read: ``value`` is typed, ``error`` a reject code or NULL."""

    name: str
    value: str
    error: str
    raw: str


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def text_sql(column: Column, source: str | None) -> ColumnSql:
    if source is None:
        return ColumnSql(column.name, "CAST(NULL AS VARCHAR)", "CAST(NULL AS VARCHAR)", "NULL")
    src = quote(source)
    value = f"NULLIF(trim(CAST({src} AS VARCHAR)), '')"
    checks = [f"WHEN length({value}) > {MAX_TEXT} THEN 'too_long'"]
    if column.required:
        checks.insert(0, f"WHEN {value} IS NULL THEN 'missing_value'")
    error = "CASE " + " ".join(checks) + " END"
    return ColumnSql(column.name, value, error, f"CAST({src} AS VARCHAR)")


def integer_sql(column: Column, source: str | None, source_type: str | None) -> ColumnSql:
    if source is None:
        return ColumnSql(column.name, "CAST(NULL AS INTEGER)", "CAST(NULL AS VARCHAR)", "NULL")
    src = quote(source)
    text = f"NULLIF(trim(CAST({src} AS VARCHAR)), '')"
    # "3.0" is a whole number as Excel writes it; "3.5" is not.
    number = f"TRY_CAST({text} AS DECIMAL(38,6))"
    value = f"CAST({number} AS INTEGER)"
    missing = f"WHEN {text} IS NULL THEN 'missing_value' " if column.required else ""
    error = (
        f"CASE {missing}WHEN {text} IS NULL THEN NULL "
        f"WHEN {number} IS NULL OR {number} <> round({number}) OR {number} < 0 "
        f"OR {number} > 2147483647 THEN 'not_an_integer' END"
    )
    return ColumnSql(column.name, value, error, f"CAST({src} AS VARCHAR)")


def decimal_sql(
    column: Column, source: str | None, source_type: str | None, decimal_comma: bool
) -> ColumnSql:
    if source is None:
        return ColumnSql(
            column.name, f"CAST(NULL AS {AMOUNT_TYPE})", "CAST(NULL AS VARCHAR)", "NULL"
        )
    src = quote(source)
    raw = f"CAST({src} AS VARCHAR)"
    if source_type and source_type.upper().startswith(_NUMERIC_TYPES):
        if source_type.upper() in ("FLOAT", "DOUBLE"):
            # Binary floats: 4 decimals is what the file meant; more is noise or a real fraction
            # of a cent, which we refuse rather than round silently.
            number = f"CAST(round({src}, 4) AS DECIMAL(38,10))"
            frac_error = f"abs({src} - round({src}, 4)) > 1e-9"
        else:
            number = f"CAST({src} AS DECIMAL(38,10))"
            frac_error = f"{number} <> round({number}, 4)"
        text = src
    else:
        text = f"NULLIF(trim({raw}), '')"
        cleaned = f"replace(replace(replace({text}, ' ', ''), chr(160), ''), '''', '')"
        if decimal_comma:
            cleaned = f"replace(replace({cleaned}, '.', ''), ',', '.')"
        # SAP and some ERPs write negatives with a trailing minus: "12.50-".
        signed = (
            f"CASE WHEN regexp_full_match({cleaned}, '[0-9.]+-') "
            f"THEN '-' || rtrim({cleaned}, '-') ELSE {cleaned} END"
        )
        number = (
            f"CASE WHEN regexp_full_match({signed}, '[+-]?([0-9]+([.][0-9]*)?|[.][0-9]+)') "
            f"THEN TRY_CAST({signed} AS DECIMAL(38,10)) END"
        )
        frac_error = f"{number} <> round({number}, 4)"
    value = f"CAST({number} AS {AMOUNT_TYPE})"
    missing = f"WHEN {text} IS NULL THEN 'missing_value' " if column.required else ""
    error = (
        f"CASE {missing}WHEN {text} IS NULL THEN NULL "
        f"WHEN {number} IS NULL THEN 'not_a_number' "
        f"WHEN abs({number}) >= {MAX_ABS_AMOUNT} THEN 'number_out_of_range' "
        f"WHEN {frac_error} THEN 'too_many_decimals' END"
    )
    return ColumnSql(column.name, value, error, raw)


def date_sql(
    column: Column, source: str | None, source_type: str | None, date_format: str | None
) -> ColumnSql:
    if source is None:
        return ColumnSql(column.name, "CAST(NULL AS DATE)", "CAST(NULL AS VARCHAR)", "NULL")
    src = quote(source)
    raw = f"CAST({src} AS VARCHAR)"
    kind = (source_type or "VARCHAR").upper()
    if kind == "DATE" or kind.startswith("TIMESTAMP"):
        text = src
        parsed = f"CAST({src} AS DATE)"
    else:
        text = f"NULLIF(trim({raw}), '')"
        formats = [date_format] if date_format else _DATE_FORMATS
        fmt_list = "[" + ", ".join(_lit(f) for f in formats) + "]"
        # Excel stores dates as days since 1899-12-30; a bare 5-digit number in a date column
        # is such a serial (10000 = 1927-05-18 .. 99999 = 2173-10-14).
        parsed = (
            f"CASE WHEN regexp_full_match({text}, '[0-9]{{5}}([.]0+)?') "
            f"THEN CAST(DATE '1899-12-30' + CAST(CAST({text} AS DOUBLE) AS INTEGER) AS DATE) "
            f"ELSE CAST(try_strptime({text}, {fmt_list}) AS DATE) END"
        )
    missing = f"WHEN {text} IS NULL THEN 'missing_value' " if column.required else ""
    error = (
        f"CASE {missing}WHEN {text} IS NULL THEN NULL "
        f"WHEN {parsed} IS NULL THEN 'not_a_date' "
        f"WHEN {parsed} < DATE '1900-01-01' OR {parsed} > DATE '2099-12-31' "
        f"THEN 'date_out_of_range' END"
    )
    return ColumnSql(column.name, parsed, error, raw)


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
