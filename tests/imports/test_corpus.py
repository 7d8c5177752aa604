"""The malformed-file corpus: each file with exactly the rejects it must produce.

Row numbers are what a spreadsheet shows: the header is row 1, the first data row is row 2.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import duckdb
import pytest

from segmint.errors import ImportFailed
from tests.imports.conftest import SALES_HEADER, rejects_of

D = Decimal


def amounts(store, org="acme"):
    return {(r[0], r[1]): r[4] for r in store.table_rows("sales_lines", org)}


def test_clean_comma_file(load, store):
    report = load(SALES_HEADER + "INV1,1,2024-01-05,C1,100.50,Acme\nINV1,2,2024-01-05,C1,-3.25,\n")
    assert (report.rows_read, report.accepted, report.rejected) == (2, 2, 0)
    assert amounts(store) == {("INV1", 1): D("100.5"), ("INV1", 2): D("-3.25")}


def test_semicolon_delimiter_and_decimal_comma_are_detected(load, store):
    text = (
        SALES_HEADER.replace(",", ";")
        + "INV1;1;05.01.2024;C1;1.234,50;X\nINV1;2;05.01.2024;C1;-0,75;X\n"
    )
    report = load(text)
    assert report.delimiter == ";" and report.decimal_comma
    assert report.rejected == 0
    assert amounts(store) == {("INV1", 1): D("1234.5"), ("INV1", 2): D("-0.75")}
    assert store.table_rows("sales_lines", "acme")[0][2] == dt.date(2024, 1, 5)


def test_tab_delimited(load, store):
    report = load(SALES_HEADER.replace(",", "\t") + "INV1\t1\t2024-01-05\tC1\t7\tX\n", name="f.tsv")
    assert report.accepted == 1 and report.delimiter == "\t"


def test_wrong_delimiter_given_names_the_missing_columns(load, store):
    with pytest.raises(ImportFailed, match=r"missing required column.*document_id"):
        load(SALES_HEADER + "INV1,1,2024-01-05,C1,1,X\n", delimiter=";")
    assert store.table_rows("sales_lines", "acme") == []


def test_utf8_bom_header_is_recognised(load, store):
    report = load(b"\xef\xbb\xbf" + (SALES_HEADER + "INV1,1,2024-01-05,C1,5,X\n").encode())
    assert report.accepted == 1 and report.encoding == "utf-8"


def test_cp1252_is_detected_and_decoded(load, store):
    text = "customer_id;name;vat_number\nC1;Müller € GmbH;DE136695976\n"
    report = load(text.encode("cp1252"), kind="customers")
    assert report.encoding == "cp1252" and report.accepted == 1
    assert store.table_rows("customers", "acme")[0][1] == "Müller € GmbH"


def test_encoding_can_be_given(load, store):
    text = "customer_id;name\nC1;Ærø\n"
    report = load(text.encode("latin-1"), kind="customers", encoding="latin-1")
    assert report.encoding == "iso8859-1"
    assert store.table_rows("customers", "acme")[0][1] == "Ærø"


def test_missing_required_column(load, store):
    with pytest.raises(ImportFailed, match=r"missing required column\(s\) net_amount"):
        load("document_id,line_no,invoice_date,customer_id\nINV1,1,2024-01-05,C1\n")


def test_empty_customer_id(load, store):
    report = load(SALES_HEADER + "INV1,1,2024-01-05,C1,5,X\nINV2,1,2024-01-05,  ,5,X\n")
    assert rejects_of(report) == [(3, "customer_id", "missing_value")]
    assert report.accepted == 1


def test_unparseable_dates_and_amounts(load, store):
    report = load(
        SALES_HEADER
        + "INV1,1,2024-13-45,C1,5,X\n"
        + "INV2,1,2024-01-05,C1,five,X\n"
        + "INV3,1,yesterday,C1,1.2.3,X\n"
        + "INV4,1,2024-01-05,C1,5,X\n"
    )
    assert rejects_of(report) == [
        (2, "invoice_date", "not_a_date"),
        (3, "net_amount", "not_a_number"),
        (4, "invoice_date", "not_a_date"),
        (4, "net_amount", "not_a_number"),
    ]
    assert (report.accepted, report.rejected) == (1, 3)


def test_excel_serial_dates_in_csv(load, store):
    report = load(SALES_HEADER + "INV1,1,45296,C1,5,X\nINV1,2,45296.0,C1,5,X\n")
    assert report.rejected == 0
    assert {r[2] for r in store.table_rows("sales_lines", "acme")} == {dt.date(2024, 1, 5)}


def test_dates_with_explicit_format(load, store):
    report = load(SALES_HEADER + "INV1,1,01/05/2024,C1,5,X\n", date_format="%m/%d/%Y")
    assert report.rejected == 0
    assert store.table_rows("sales_lines", "acme")[0][2] == dt.date(2024, 1, 5)


def test_date_out_of_range(load, store):
    report = load(SALES_HEADER + "INV1,1,1850-01-01,C1,5,X\nINV1,2,2150-01-01,C1,5,X\n")
    assert rejects_of(report) == [
        (2, "invoice_date", "date_out_of_range"),
        (3, "invoice_date", "date_out_of_range"),
    ]


def test_duplicated_lines_keep_the_first(load, store):
    report = load(
        SALES_HEADER
        + "INV1,1,2024-01-05,C1,5,X\n"
        + "INV1,2,2024-01-05,C1,6,X\n"
        + "INV1,1,2024-01-05,C1,5,X\n"
        + "INV1,1,2024-01-06,C1,9,X\n"
    )
    assert rejects_of(report) == [
        (4, "document_id+line_no", "duplicate_key"),
        (5, "document_id+line_no", "duplicate_key"),
    ]
    assert "row 2" in report.rejects[0].message
    assert amounts(store) == {("INV1", 1): D(5), ("INV1", 2): D(6)}


def test_duplicate_keys_count_good_rows_only(load, store):
    report = load(
        SALES_HEADER
        + "INV1,1,2024-01-05,C1,oops,X\n"  # rejected for its amount: the next INV1/1 is kept
        + "INV1,1,2024-01-05,C1,5,X\n"
        + "INV1,1,2024-01-05,C1,6,X\n"
    )
    assert rejects_of(report) == [
        (2, "net_amount", "not_a_number"),
        (4, "document_id+line_no", "duplicate_key"),
    ]
    assert "row 3" in report.rejects[1].message
    assert amounts(store) == {("INV1", 1): D(5)}


def test_duplicate_keys_in_long_documents(load, store):
    # Line numbers are checked in blocks of 64 per document: 1 and 65 share a bit position in
    # different blocks, 64 starts a block, 130 is far out; only the real repeat is a duplicate.
    lines = [1, 65, 64, 130, 2, 130, 0]
    report = load(SALES_HEADER + "".join(f"INV1,{n},2024-01-05,C1,{n},X\n" for n in lines))
    assert rejects_of(report) == [(7, "document_id+line_no", "duplicate_key")]
    assert sorted(line for _, line in amounts(store)) == [0, 1, 2, 64, 65, 130]


def test_lines_without_line_number_are_never_duplicates(load, store):
    report = load(SALES_HEADER + "INV1,,2024-01-05,C1,5,X\nINV1,,2024-01-05,C1,6,X\n")
    assert (report.accepted, report.rejected) == (2, 0)


def test_duplicate_product_ids(load, store):
    report = load(
        "product_id,name\nP1,Bolt\nP2,Nut\nP1,Bolt M8\n P2 ,Nut M8\nP3,Washer\n", kind="products"
    )
    assert rejects_of(report) == [
        (4, "product_id", "duplicate_key"),
        (5, "product_id", "duplicate_key"),
    ]
    assert [r[:2] for r in store.table_rows("products", "acme")] == [
        ("P1", "Bolt"),
        ("P2", "Nut"),
        ("P3", "Washer"),
    ]


def test_reimport_with_one_amended_line(load, store):
    lines = [f"INV{i},1,2024-01-05,C{i},{i}.00,X\n" for i in range(1, 6)]
    first = load(SALES_HEADER + "".join(lines))
    assert (first.accepted, first.already_present) == (5, 0)
    lines[2] = "INV3,1,2024-01-05,C3,33.33,X\n"
    second = load(SALES_HEADER + "".join(lines))
    assert (second.rows_read, second.accepted, second.already_present) == (5, 1, 4)
    stored = amounts(store)
    assert len(stored) == 5 and stored[("INV3", 1)] == D("33.33")


def test_same_lines_for_another_org_are_separate(load, store):
    load(SALES_HEADER + "INV1,1,2024-01-05,C1,5,X\n", org="acme")
    report = load(SALES_HEADER + "INV1,1,2024-01-05,C1,5,X\n", org="other")
    assert (report.accepted, report.already_present) == (1, 0)
    assert len(store.table_rows("sales_lines", "acme")) == 1


def test_empty_file(load):
    with pytest.raises(ImportFailed, match="empty"):
        load("")


def test_header_only(load, store):
    report = load(SALES_HEADER)
    assert (report.rows_read, report.accepted, report.rejected) == (0, 0, 0)


def test_huge_field(load, store):
    report = load(SALES_HEADER + f"INV1,1,2024-01-05,C1,5,{'x' * 5000}\nINV2,1,2024-01-05,C1,5,X\n")
    assert rejects_of(report) == [(2, "brand", "too_long")]
    assert report.rejects[0].value == "x" * 200  # the reject file keeps a readable excerpt


def test_too_many_decimals_and_out_of_range(load, store):
    report = load(
        SALES_HEADER + "INV1,1,2024-01-05,C1,1.23456,X\nINV2,1,2024-01-05,C1,123456789012345,X\n"
        "INV3,1,2024-01-05,C1,1.23450000,X\n"
    )
    assert rejects_of(report) == [
        (2, "net_amount", "too_many_decimals"),
        (3, "net_amount", "number_out_of_range"),
    ]
    assert amounts(store) == {("INV3", 1): D("1.2345")}


def test_malformed_rows_keep_later_row_numbers_right(load, store):
    report = load(
        SALES_HEADER
        + "INV1,1,2024-01-05,C1,5,X,extra\n"
        + "INV2,1,2024-01-05\n"
        + "INV3,1,2024-01-05,C1,oops,X\n"
    )
    assert rejects_of(report) == [
        (2, "(row)", "malformed_row"),
        (3, "(row)", "malformed_row"),
        (4, "net_amount", "not_a_number"),
    ]


def test_quoted_delimiters_and_trailing_minus(load, store):
    report = load(
        SALES_HEADER.replace(",", ";") + 'INV1;1;2024-01-05;C1;12,50-;"Brand; with semicolon"\n',
        decimal="comma",
    )
    assert report.rejected == 0
    row = store.table_rows("sales_lines", "acme")[0]
    assert row[4] == D("-12.5") and row[7] == "Brand; with semicolon"


def test_line_no_must_be_whole(load, store):
    report = load(
        SALES_HEADER + "INV1,1.5,2024-01-05,C1,5,X\nINV1,-1,2024-01-05,C1,5,X\n"
        "INV1,3.0,2024-01-05,C1,5,X\n"
    )
    assert rejects_of(report) == [
        (2, "line_no", "not_an_integer"),
        (3, "line_no", "not_an_integer"),
    ]
    assert list(amounts(store)) == [("INV1", 3)]


def test_missing_line_no_numbers_lines_within_each_document(load, store):
    report = load(
        "document_id,invoice_date,customer_id,net_amount\n"
        "INV1,2024-01-05,C1,1\nINV2,2024-01-05,C2,2\nINV1,2024-01-05,C1,3\n"
    )
    assert report.accepted == 3
    assert amounts(store) == {("INV1", 1): D(1), ("INV1", 2): D(3), ("INV2", 1): D(2)}


def test_column_mapping_and_header_normalisation(load, store):
    report = load(
        "Beleg Nr;Position;Datum;Kunde;Netto Betrag\nR-1;1;05.01.2024;K1;10,00\n",
        mapping={
            "Beleg Nr": "document_id",
            "position": "line_no",
            "Datum": "invoice_date",
            "Kunde": "customer_id",
            "Netto Betrag": "net_amount",
        },
    )
    assert report.accepted == 1
    assert amounts(store) == {("R-1", 1): D(10)}


def test_mapping_errors_name_the_problem(load):
    with pytest.raises(ImportFailed, match="'amount' is not a column of sales_lines"):
        load(SALES_HEADER + "INV1,1,2024-01-05,C1,5,X\n", mapping={"brand": "amount"})
    with pytest.raises(ImportFailed, match="the file has no column 'Betrag'"):
        load(SALES_HEADER + "INV1,1,2024-01-05,C1,5,X\n", mapping={"Betrag": "net_amount"})


def test_invalid_vat_is_a_warning_and_kept(load, store):
    report = load(
        "customer_id,name,vat_number\nC1,Good,de 136 695 976\nC2,Bad,DE136695977\nC3,None,\n",
        kind="customers",
    )
    assert (report.accepted, report.rejected, report.warnings) == (3, 0, 1)
    warning = [r for r in report.rejects if r.severity == "warning"]
    assert [(w.row, w.column, w.value, w.code) for w in warning] == [
        (3, "vat_number", "DE136695977", "invalid_vat")
    ]
    rows = {r[0]: (r[2], r[3]) for r in store.table_rows("customers", "acme")}
    assert rows == {
        "C1": ("de 136 695 976", "DE136695976"),
        "C2": ("DE136695977", None),
        "C3": (None, None),
    }


def test_products_reimport_replaces_changed_rows(load, store):
    load(
        "product_id,name,brand,category\nP1,Bolt,Acme,Hardware\nP2,Nut,Acme,Hardware\n",
        kind="products",
    )
    report = load("product_id,name,brand,category\nP1,Bolt M8,Acme,Hardware\n", kind="products")
    assert (report.accepted, report.already_present) == (1, 0)
    assert store.table_rows("products", "acme") == [
        ("P1", "Bolt M8", "Acme", "Hardware"),
        ("P2", "Nut", "Acme", "Hardware"),
    ]


def test_parquet_with_native_types(tmp_path, store, load):
    path = tmp_path / "lines.parquet"
    con = duckdb.connect()
    con.execute(
        f"""COPY (SELECT * FROM (VALUES
              ('INV1', 1, DATE '2024-01-05', 'C1', CAST(10.5 AS DOUBLE)),
              ('INV1', 2, DATE '2024-01-06', 'C1', CAST(0.1 + 0.2 AS DOUBLE)),
              ('INV2', 1, NULL, 'C2', CAST(1.23456 AS DOUBLE)))
              t(document_id, line_no, invoice_date, customer_id, net_amount))
            TO '{path}' (FORMAT parquet)"""
    )
    con.close()
    from segmint.imports.service import import_file

    report = import_file(store=store, org="acme", kind="sales", path=path)
    assert [(r.row, r.column, r.code) for r in report.rejects] == [
        (3, "invoice_date", "missing_value"),
        (3, "net_amount", "too_many_decimals"),
    ]
    assert amounts(store) == {("INV1", 1): D("10.5"), ("INV1", 2): D("0.3")}


@pytest.mark.parametrize("name", ["data.xls", "data.json", "data"])
def test_unsupported_file_types(load, name):
    with pytest.raises(ImportFailed, match=r"\.xlsx|unknown file type"):
        load("x", name=name)


def test_invalid_org_name(load):
    with pytest.raises(ImportFailed, match=r"organization '\.\./etc' is not a valid name"):
        load(SALES_HEADER, org="../etc")


def test_rejects_file_lists_everything(load, tmp_path):
    load(SALES_HEADER + "INV1,1,2024-01-05,,x,X\n")
    text = (tmp_path / "rejects.csv").read_text()
    assert text.splitlines() == [
        "row,column,value,code,message,severity",
        "2,customer_id,,missing_value,required field is empty,error",
        "2,net_amount,x,not_a_number,not a decimal number,error",
    ]


def test_every_reject_code_is_documented():
    from pathlib import Path

    from segmint.imports.options import REJECT_CODES

    doc = (Path(__file__).parents[2] / "docs" / "data-format.md").read_text()
    assert {c for c in REJECT_CODES if f"| `{c}` |" in doc} == set(REJECT_CODES)


def test_parquet_decimal_column_out_of_range(tmp_path, store):
    from segmint.imports.service import import_file

    path = tmp_path / "dec.parquet"
    con = duckdb.connect()
    con.execute(
        f"""COPY (SELECT * FROM (VALUES
              ('INV1', 1, DATE '2024-01-05', 'C1', CAST(12.34 AS DECIMAL(20,2))),
              ('INV2', 1, DATE '2024-01-05', 'C1', CAST(1000000000000000 AS DECIMAL(20,2))))
              t(document_id, line_no, invoice_date, customer_id, net_amount))
            TO '{path}' (FORMAT parquet)"""
    )
    con.close()
    report = import_file(store=store, org="acme", kind="sales", path=path)
    assert [(r.row, r.column, r.code) for r in report.rejects] == [
        (2, "net_amount", "number_out_of_range")
    ]
    assert amounts(store) == {("INV1", 1): D("12.34")}


def test_cp1252_after_a_utf8_looking_start_is_read_again_as_cp1252(load, store, monkeypatch):
    import segmint.imports.sources as sources

    # Detection looks at the first megabyte; here only the first 40 bytes, which are ASCII.
    monkeypatch.setattr(sources, "_SNIFF_BYTES", 40)
    text = "customer_id;name\n" + "".join(f"C{i};Plain\n" for i in range(5)) + "C9;Müller €\n"
    report = load(text.encode("cp1252"), kind="customers")
    assert (report.encoding, report.accepted, report.rejected) == ("cp1252", 6, 0)
    assert dict((r[0], r[1]) for r in store.table_rows("customers", "acme"))["C9"] == "Müller €"


def test_customers_with_a_reject_and_an_invalid_vat(load, store):
    report = load(
        "customer_id,name,vat_number,first_seen\n"
        "C1,Good,DE136695976,2024-01-05\nC2,Bad VAT,DE136695977,2024-01-05\n"
        "C3,Bad date,,someday\n",
        kind="customers",
    )
    assert (report.accepted, report.rejected, report.warnings) == (2, 1, 1)
    assert rejects_of(report) == [(4, "first_seen", "not_a_date")]
