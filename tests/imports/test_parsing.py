"""The per-column SQL: the cheap ``bad`` flag agrees with the reject code on every value.

The import writes the rows whose ``bad`` is false and names the problems of the others from
``error``; a value where the two disagree would be dropped without a reason, or stored although
it has a problem. The fast forms (plain integers and numbers) must give what the exact forms give.
"""

from __future__ import annotations

from decimal import Decimal

import duckdb
import pytest

from segmint.imports.parsing import column_sql
from segmint.store.schema import AMOUNT_TYPE, SALES_LINES, Column

D = Decimal
TEXT_NUMBERS = [
    None, "", "  ", "0", "-0", "12", "12.5", "12.50", "-12.50", "+3", "007", ".5", "-.5", "5.",
    "1.2345", "1.23450000", "1.23456", "1.00001", "99999999999999.9999", "99999999999999.99995",
    "100000000000000", "-100000000000000", "123456789012345", "1e3", "1E-5", "1.2345e1", "0x10",
    "1_000", "12.50-", "1'234.50", "1 234,50", "1.234,50", "-0,75", "12,5", "1,23456", "five",
    "1.2.3", "-", ".", ",", "+", "3.0", "3.5", "-1", "2147483647", "2147483648",
    "9223372036854775808", "\u00a012.5", " 12.5 ", "12.5\u00a0", "99999999.9999",
    "99999999.99999999999", "100000000.5", "-12345678.12345", "0.00000000001", "1,234.5",
]  # fmt: skip
TEXT_DATES = [None, "", "2024-01-05", "05.01.2024", "45296", "45296.0", "2024-13-45", "1850-01-01",
              "2150-01-01", "2024/01/05", "2024-01-05 10:00:00", "yesterday"]  # fmt: skip


def column(name: str) -> Column:
    return next(c for c in SALES_LINES.columns if c.name == name)


def evaluate(col: Column, source_type: str, values: list, **options) -> list[tuple]:
    """(value, error, bad) for each source value, read as column ``col``."""
    options = {"decimal_comma": False, "date_format": None} | options
    sql = column_sql(col, "v", source_type, **options)
    inner = ", ".join(f"{expr} AS {alias}" for alias, expr in sql.inner)
    con = duckdb.connect()
    con.execute(f"CREATE TABLE src (i INTEGER, v {source_type})")
    con.executemany("INSERT INTO src VALUES (?, ?)", list(enumerate(values)))
    return con.execute(
        f"SELECT {sql.value}, {sql.error}, {sql.bad} FROM (SELECT i, v, {inner} FROM src) "
        "ORDER BY i"
    ).fetchall()


def agree(col: Column, source_type: str, values: list, **options) -> list[tuple]:
    rows = evaluate(col, source_type, values, **options)
    for v, (value, error, bad) in zip(values, rows, strict=True):
        assert bad is not None, (v, value, error)
        assert bad == (error is not None), (v, value, error, bad)
        if not bad and col.required:
            assert value is not None, (v, error)
    return rows


@pytest.mark.parametrize("name", ["net_amount", "quantity"])
@pytest.mark.parametrize("decimal_comma", [False, True])
def test_text_numbers(name, decimal_comma):
    agree(column(name), "VARCHAR", TEXT_NUMBERS, decimal_comma=decimal_comma)


def test_text_numbers_fast_form_gives_the_exact_result():
    got = dict(
        zip(
            TEXT_NUMBERS,
            [(v, e) for v, e, _ in evaluate(column("net_amount"), "VARCHAR", TEXT_NUMBERS)],
            strict=True,
        )
    )
    assert got["12.50"] == (D("12.5"), None)
    assert got["-.5"] == (D("-0.5"), None)
    assert got["1.2345"] == (D("1.2345"), None)
    assert got["1.23450000"] == (D("1.2345"), None)
    assert got["1.23456"][1] == "too_many_decimals"
    assert got["1E-5"][1] == "too_many_decimals"
    assert got["1e3"] == (D(1000), None)
    assert got["99999999999999.9999"] == (D("99999999999999.9999"), None)
    assert got["100000000000000"][1] == "number_out_of_range"
    assert got["-100000000000000"][1] == "number_out_of_range"
    assert got["12.50-"] == (D("-12.5"), None)
    assert got["1'234.50"] == (D("1234.5"), None)
    assert got["five"][1] == got["-"][1] == got["."][1] == "not_a_number"
    assert got[None] == got[""] == (None, "missing_value")
    comma = dict(
        zip(
            TEXT_NUMBERS,
            [
                (v, e)
                for v, e, _ in evaluate(
                    column("net_amount"), "VARCHAR", TEXT_NUMBERS, decimal_comma=True
                )
            ],
            strict=True,
        )
    )
    assert comma["-0,75"] == (D("-0.75"), None)
    assert comma["1.234,50"] == (D("1234.5"), None)
    assert comma["1 234,50"] == (D("1234.5"), None)
    assert comma["12.50"] == (D(1250), None)  # a thousands separator, with a decimal comma
    assert comma["1,23456"][1] == "too_many_decimals"


def test_text_line_numbers():
    rows = agree(column("line_no"), "VARCHAR", TEXT_NUMBERS)
    got = {v: (value, error) for v, (value, error, _) in zip(TEXT_NUMBERS, rows, strict=True)}
    assert got["12"] == (12, None) and got["+3"] == (3, None)
    assert got["007"] == (7, None) and got["3.0"] == (3, None) and got["1e3"] == (1000, None)
    assert got["3.5"][1] == got["0x10"][1] == got["-1"][1] == "not_an_integer"
    assert got["2147483647"] == (2147483647, None)
    assert got["2147483648"][1] == got["9223372036854775808"][1] == "not_an_integer"
    assert got[None] == got[""] == (None, None)  # line_no is optional


def test_text_dates_and_texts():
    agree(column("invoice_date"), "VARCHAR", TEXT_DATES)
    agree(column("invoice_date"), "VARCHAR", TEXT_DATES, date_format="%d.%m.%Y")
    texts = [None, "", "  ", "x", " x ", "x" * 1000, "x" * 1001, "ü" * 600, "ü" * 1001]
    for name in ("customer_id", "brand"):
        rows = agree(column(name), "VARCHAR", texts)
        assert [e for _, e, _ in rows][-4:] == [None, "too_long", None, "too_long"]


@pytest.mark.parametrize(
    ("name", "source_type", "values"),
    [
        ("line_no", "BIGINT", [None, 0, 1, -1, 2147483647, 2147483648]),
        ("line_no", "INTEGER", [None, 3]),
        ("net_amount", "DECIMAL(18,2)", [None, D("12.34"), D("-0.01")]),
        ("net_amount", "DECIMAL(20,2)", [None, D("12.34"), D("100000000000000")]),
        ("quantity", "DECIMAL(20,2)", [None, D("12.34"), D("100000000000000")]),
        ("net_amount", "DECIMAL(18,6)", [None, D("1.2345"), D("1.23456"), D("-1")]),
        ("net_amount", "DOUBLE", [None, 10.5, 0.1 + 0.2, 1.23456, 1e15, -1e15, 1e300]),
        ("net_amount", "DOUBLE", [float("nan"), float("inf"), float("-inf")]),
        ("quantity", "BIGINT", [None, 5, 10**15]),
        ("invoice_date", "DATE", [None, "2024-01-05", "1850-01-01", "2150-01-01"]),
        ("invoice_date", "TIMESTAMP", [None, "2024-01-05 10:00:00"]),
        ("customer_id", "BIGINT", [None, 12]),
    ],
)
def test_typed_sources(name, source_type, values):
    agree(column(name), source_type, values)


def test_absent_optional_column_is_never_bad():
    sql = column_sql(column("quantity"), None, None, decimal_comma=False, date_format=None)
    assert sql.bad == "false" and sql.source is None
    assert AMOUNT_TYPE in sql.value


def test_trim_shortcut_is_trim():
    from segmint.imports.parsing import _trimmed

    con = duckdb.connect()
    spaces = [" ", "\t", "\n", "\u00a0", "\u1680", "\u2000", "\u2007", "\u200a", "\u202f",
              "\u205f", "\u3000", "\u200b", "\ufeff"]  # fmt: skip
    cores = ["", "x", "x y", "ü", "€ 5", "  x  ", "x\u00a0"]
    values = [a + core + b for core in cores for a in ["", *spaces] for b in ["", *spaces]]
    con.execute("CREATE TABLE src (v VARCHAR)")
    con.executemany("INSERT INTO src VALUES (?)", [(v,) for v in values])
    mismatches = con.execute(
        f"SELECT v FROM src WHERE {_trimmed('v', 'VARCHAR')} IS DISTINCT FROM NULLIF(trim(v), '')"
    ).fetchall()
    assert mismatches == []
