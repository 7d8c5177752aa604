"""SQL that turns a source column into a canonical one: a typed value and, per row, the reject
code when the value cannot be used. All of it runs inside DuckDB, vectorised, so a 50M-line
file never passes through Python.

Each column is read in two steps so that the expensive part runs once per value: an *inner*
projection computes the trimmed text ``t_<col>`` and the parsed value ``p_<col>`` (and, for text
numbers, the fast-form value ``f_<col>``); the *outer* ``value``, ``bad`` and ``error``
expressions only refer to those. Parsing tries the fast, common form first (``TRY_CAST`` of an
ISO date, a plain integer, a plain number with at most 4 decimals) and falls back to the slower
forms only for the values the fast one could not read: ``coalesce`` evaluates its later arguments
and ``CASE`` each branch only for the rows still needing them. ``AND``/``OR`` in a projection do
not short-circuit (DuckDB evaluates both sides for every row), so the per-row checks guard
expensive parts with ``CASE``.
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

    ``inner`` are ``(alias, expression)`` pairs over the source; ``value``, ``error`` (a reject
    code or NULL) and ``bad`` are expressions over those aliases; ``source`` is the source column
    (``None`` when the file does not have it). ``bad`` is true exactly when ``error`` is not
    NULL, but it is a plain boolean (never NULL) and much cheaper than the ``CASE`` that names the
    code: every row evaluates ``bad``, only the rejected rows evaluate ``error``.
    """

    name: str
    inner: tuple[tuple[str, str], ...]
    value: str
    error: str
    source: str | None
    bad: str = "false"


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def literal(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def _absent(column: Column, sql_type: str) -> ColumnSql:
    return ColumnSql(column.name, (), f"CAST(NULL AS {sql_type})", NO_ERROR, None)


def _checks(column: Column, text: str, rest: str) -> str:
    missing = f"WHEN {text} IS NULL THEN 'missing_value' " if column.required else ""
    if not missing and not rest:
        return NO_ERROR
    return f"CASE {missing}WHEN {text} IS NULL THEN NULL {rest} END"


def _trimmed(src: str, source_type: str | None) -> str:
    """The source value as text without surrounding spaces, NULL when that leaves nothing.

    DuckDB's ``trim`` removes the space and Unicode's other space separators (no-break space and
    the like), none of which is ASCII but the space itself. Most values are ASCII with no space at
    either end; telling them apart (byte length equals character length, no space at the ends)
    costs half of what ``trim`` costs, so only the other values are trimmed.
    """
    if (source_type or "VARCHAR").upper() != "VARCHAR":
        return f"NULLIF(trim(CAST({src} AS VARCHAR)), '')"
    plain = f"strlen({src}) = length({src}) AND NOT prefix({src}, ' ') AND NOT suffix({src}, ' ')"
    return f"NULLIF(CASE WHEN {plain} THEN {src} ELSE trim({src}) END, '')"


def _bad(column: Column, text: str, wrong: str | None) -> str:
    """The boolean twin of :func:`_checks`: ``wrong`` is the condition on a non-NULL ``text``
    (every part of it non-NULL there); a missing value is wrong when the column is required."""
    if column.required:
        return f"({text} IS NULL OR {wrong})" if wrong else f"({text} IS NULL)"
    return f"({text} IS NOT NULL AND {wrong})" if wrong else "false"


def text_sql(column: Column, source: str | None, source_type: str | None = None) -> ColumnSql:
    if source is None:
        return _absent(column, "VARCHAR")
    src, t = quote(source), f"t_{column.name}"
    inner = ((t, _trimmed(src, source_type)),)
    # strlen (bytes) is cheap and never less than length (characters): check it first.
    too_long = f"strlen({t}) > {MAX_TEXT} AND length({t}) > {MAX_TEXT}"
    error = _checks(column, t, f"WHEN {too_long} THEN 'too_long'")
    # A projection evaluates both sides of an AND; the CASE counts characters only when needed.
    longer = f"CASE WHEN strlen({t}) > {MAX_TEXT} THEN length({t}) > {MAX_TEXT} ELSE false END"
    bad = _bad(column, t, longer)
    return ColumnSql(column.name, inner, t, error, source, bad)


def integer_sql(column: Column, source: str | None, source_type: str | None) -> ColumnSql:
    if source is None:
        return _absent(column, "INTEGER")
    src, t, p = quote(source), f"t_{column.name}", f"p_{column.name}"
    if (source_type or "").upper() in _INTEGER_TYPES:
        # Already whole numbers (Parquet): only the range is checked.
        inner = ((t, src), (p, f"CAST({src} AS BIGINT)"))
        wrong = f"{p} < 0 OR {p} > 2147483647"
        error = _checks(column, t, f"WHEN {wrong} THEN 'not_an_integer'")
        value = f"CASE WHEN {p} BETWEEN 0 AND 2147483647 THEN CAST({p} AS INTEGER) END"
        bad = _bad(column, t, f"({wrong})")
        return ColumnSql(column.name, inner, value, error, source, bad)
    # "3.0" is a whole number as Excel writes it; "3.5" is not. The fast form is text that reads
    # back the same from a BIGINT ("12"; not " 12", "3.5", "+3", "007" or "0x10", which TRY_CAST
    # also takes); it needs no trimming either. Any other text is trimmed and takes the exact,
    # slower way through a decimal (a CASE evaluates each branch only for its own rows).
    f, ok = f"f_{column.name}", f"ok_{column.name}"
    d = f"TRY_CAST({t} AS DECIMAL(38,6))"
    exact = f"CASE WHEN {d} = round({d}) AND abs({d}) < 1e18 THEN CAST({d} AS BIGINT) END"
    if (source_type or "VARCHAR").upper() == "VARCHAR":
        inner = (
            (f, f"TRY_CAST({src} AS BIGINT)"),
            (ok, f"CAST({f} AS VARCHAR) = {src}"),
            (t, f"CASE WHEN {ok} THEN {src} ELSE {_trimmed(src, source_type)} END"),
            (p, f"CASE WHEN {ok} THEN {f} ELSE {exact} END"),
        )
    else:
        d_alias = f"d_{column.name}"
        inner = (
            (t, _trimmed(src, source_type)),
            (d_alias, d),
            (p, exact.replace(d, d_alias)),
        )
    wrong = f"{p} IS NULL OR {p} < 0 OR {p} > 2147483647"
    error = _checks(column, t, f"WHEN {wrong} THEN 'not_an_integer'")
    value = f"CASE WHEN {p} BETWEEN 0 AND 2147483647 THEN CAST({p} AS INTEGER) END"
    bad = _bad(column, t, f"({wrong})")
    return ColumnSql(column.name, inner, value, error, source, bad)


def decimal_sql(
    column: Column, source: str | None, source_type: str | None, decimal_comma: bool
) -> ColumnSql:
    if source is None:
        return _absent(column, AMOUNT_TYPE)
    src, t, p = quote(source), f"t_{column.name}", f"p_{column.name}"
    kind = (source_type or "VARCHAR").upper()
    fits = _DECIMAL_RE.fullmatch(kind)
    if fits and int(fits[2]) <= 4:
        # A Parquet decimal with at most 4 decimals: exact in DECIMAL(18,4) whenever it is below
        # 10^14, and TRY_CAST is NULL exactly when it is not. 64-bit arithmetic throughout.
        inner = ((t, src), (p, f"TRY_CAST({src} AS {AMOUNT_TYPE})"))
        error = _checks(column, t, f"WHEN {p} IS NULL THEN 'number_out_of_range'")
        return ColumnSql(column.name, inner, p, error, source, _bad(column, t, f"{p} IS NULL"))
    if kind in _INTEGER_TYPES:
        inner = ((t, src), (p, f"CAST({src} AS DECIMAL(38,10))"))
        fraction = "false"
    elif kind.startswith(_NUMERIC_TYPES):
        if kind in ("FLOAT", "DOUBLE"):
            # Binary floats: 4 decimals is what the file meant; more is noise or a real fraction
            # of a cent, which we refuse rather than round silently.
            inner = ((t, src), (p, f"TRY_CAST(round({src}, 4) AS DECIMAL(38,10))"))
            fraction = f"abs({t} - round({t}, 4)) > 1e-9"
        else:
            inner = ((t, src), (p, f"CAST({src} AS DECIMAL(38,10))"))
            fraction = f"{p} <> round({p}, 4)"
    else:
        return _decimal_text_sql(column, source, source_type, decimal_comma)
    error = _checks(
        column,
        t,
        f"WHEN {p} IS NULL THEN 'not_a_number' "
        f"WHEN abs({p}) >= {MAX_ABS_AMOUNT} THEN 'number_out_of_range' "
        f"WHEN {fraction} THEN 'too_many_decimals'",
    )
    value = f"CASE WHEN abs({p}) < {MAX_ABS_AMOUNT} THEN TRY_CAST({p} AS {AMOUNT_TYPE}) END"
    bad = _bad(column, t, f"({p} IS NULL OR abs({p}) >= {MAX_ABS_AMOUNT} OR {fraction})")
    return ColumnSql(column.name, inner, value, error, source, bad)


def _decimal_text_sql(
    column: Column, source: str, source_type: str | None, decimal_comma: bool
) -> ColumnSql:
    """A number written as text (CSV, Excel, a text column of a Parquet file).

    The fast form reads the source value (TRY_CAST skips surrounding spaces) into
    ``DECIMAL(18,10)``, 64-bit like everything on this path: the 10 decimals the exact path keeps,
    for numbers below 10^8. Where that value has at most 4 decimals (it survives the round trip
    through ``DECIMAL(18,4)``) it is the exact path's value. Any other text ("12.50-", "1'234.5",
    "1.23456", 10^8 or more, not a number) is trimmed and takes the exact path through
    ``DECIMAL(38,10)`` (128-bit, several times slower), which ``p`` computes only for the rows
    the fast form did not read: a ``CASE`` evaluates each branch only for its own rows.
    """
    src = quote(source)
    t, f, p = f"t_{column.name}", f"f_{column.name}", f"p_{column.name}"
    d = f"d_{column.name}"
    if (source_type or "VARCHAR").upper() != "VARCHAR":
        fast = "NULL"  # not text: always the exact path
    elif decimal_comma:
        # A point is a thousands separator here: such values take the exact path.
        fast = f"CASE WHEN NOT contains({src}, '.') THEN replace({src}, ',', '.') END"
    else:
        fast = src
    cleaned = f"replace(replace(replace({t}, ' ', ''), chr(160), ''), '''', '')"
    if decimal_comma:
        cleaned = f"replace(replace({cleaned}, '.', ''), ',', '.')"
    # SAP and some ERPs write negatives with a trailing minus: "12.50-".
    signed = (
        f"CASE WHEN suffix({cleaned}, '-') THEN '-' || rtrim({cleaned}, '-') ELSE {cleaned} END"
    )
    slow = f"TRY_CAST({signed} AS DECIMAL(38,10))"
    exact = slow if decimal_comma else f"coalesce(TRY_CAST({t} AS DECIMAL(38,10)), {slow})"
    inner = (
        (d, f"TRY_CAST({fast} AS DECIMAL(18,10))"),
        (
            f,
            f"CASE WHEN {d} = CAST(CAST({d} AS {AMOUNT_TYPE}) AS DECIMAL(18,10)) "
            f"THEN CAST({d} AS {AMOUNT_TYPE}) END",
        ),
        # Where the fast form read the value, only its presence matters: no trimming.
        (t, f"CASE WHEN {f} IS NOT NULL THEN {src} ELSE {_trimmed(src, source_type)} END"),
        (p, f"CASE WHEN {f} IS NULL THEN {exact} END"),
    )
    wrong = f"{p} IS NULL OR abs({p}) >= {MAX_ABS_AMOUNT} OR {p} <> round({p}, 4)"
    error = _checks(
        column,
        t,
        f"WHEN {f} IS NOT NULL THEN NULL "
        f"WHEN {p} IS NULL THEN 'not_a_number' "
        f"WHEN abs({p}) >= {MAX_ABS_AMOUNT} THEN 'number_out_of_range' "
        f"WHEN {p} <> round({p}, 4) THEN 'too_many_decimals'",
    )
    in_range = f"CASE WHEN abs({p}) < {MAX_ABS_AMOUNT} THEN TRY_CAST({p} AS {AMOUNT_TYPE}) END"
    value = f"coalesce({f}, {in_range})"
    bad = _bad(column, t, f"CASE WHEN {f} IS NOT NULL THEN false ELSE ({wrong}) END")
    return ColumnSql(column.name, inner, value, error, source, bad)


def date_sql(
    column: Column, source: str | None, source_type: str | None, date_format: str | None
) -> ColumnSql:
    if source is None:
        return _absent(column, "DATE")
    src, t, p = quote(source), f"t_{column.name}", f"p_{column.name}"
    kind = (source_type or "VARCHAR").upper()
    if kind == "DATE" or kind.startswith("TIMESTAMP"):
        inner = ((t, src), (p, f"CAST({src} AS DATE)"))
    else:
        trimmed = _trimmed(src, source_type)
        if date_format:
            parsed = f"CAST(try_strptime({t}, {literal(date_format)}) AS DATE)"
            inner = ((t, trimmed), (p, parsed))
        else:
            formats = "[" + ", ".join(literal(f) for f in _DATE_FORMATS) + "]"
            # Excel stores dates as days since 1899-12-30; a bare 5-digit number in a date
            # column is such a serial (10000 = 1927-05-18 .. 99999 = 2173-10-14).
            serial = (
                f"CASE WHEN regexp_full_match({t}, '[0-9]{{5}}([.]0+)?') THEN CAST(DATE "
                f"'1899-12-30' + CAST(CAST({t} AS DOUBLE) AS INTEGER) AS DATE) END"
            )
            # The fast form, an ISO date, read straight from the source value (TRY_CAST skips
            # surrounding spaces); where it read the value, only its presence matters.
            f = f"f_{column.name}"
            inner = (
                (f, f"TRY_CAST({src} AS DATE)"),
                (t, f"CASE WHEN {f} IS NOT NULL THEN {src} ELSE {trimmed} END"),
                (
                    p,
                    f"coalesce({f}, TRY_CAST({t} AS DATE), {serial}, "
                    f"CAST(try_strptime({t}, {formats}) AS DATE))",
                ),
            )
    out_of_range = f"{p} < DATE '1900-01-01' OR {p} > DATE '2099-12-31'"
    error = _checks(
        column,
        t,
        f"WHEN {p} IS NULL THEN 'not_a_date' WHEN {out_of_range} THEN 'date_out_of_range'",
    )
    bad = _bad(column, t, f"({p} IS NULL OR {out_of_range})")
    return ColumnSql(column.name, inner, p, error, source, bad)


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
    return text_sql(column, source, source_type)
