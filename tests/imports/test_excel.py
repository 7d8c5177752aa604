"""Excel workbooks: real date cells, serial numbers in General cells, float amounts."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import openpyxl
import pytest

from segmint.errors import ImportFailed
from segmint.imports.options import ImportOptions
from segmint.imports.service import import_file


def _workbook(path, rows, *, title="Sales", leading_blank=False):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = title
    if leading_blank:
        ws.append([])
    for row in rows:
        ws.append(row)
    wb.save(path)


def test_excel_dates_serials_and_floats(tmp_path, store):
    path = tmp_path / "sales.xlsx"
    _workbook(
        path,
        [
            ["Document ID", "Line No", "Invoice Date", "Customer ID", "Net Amount"],
            ["INV1", 1, dt.datetime(2024, 1, 5), "C1", 0.1 + 0.2],
            ["INV1", 2, 45296, "C1", 19.99],
            [None, None, None, None, None],
            ["INV2", 1, "not a date", "C2", "12,5"],
            ["INV3", 1, dt.date(2024, 1, 7), 4711, -5],
        ],
        leading_blank=True,
    )
    report = import_file(store=store, org="acme", kind="sales", path=path)
    # Row numbers are the sheet's: row 1 is blank, the header is row 2, data rows 3 and 4, the
    # empty row 5 is skipped (layout, not data), so "not a date" is on row 6.
    assert [(r.row, r.column, r.code) for r in report.rejects] == [
        (6, "invoice_date", "not_a_date"),
        (6, "net_amount", "not_a_number"),
    ]
    rows = store.table_rows("sales_lines", "acme")
    assert [(r[0], r[1], r[2], r[3], r[4]) for r in rows] == [
        ("INV1", 1, dt.date(2024, 1, 5), "C1", Decimal("0.3")),
        ("INV1", 2, dt.date(2024, 1, 5), "C1", Decimal("19.99")),
        ("INV3", 1, dt.date(2024, 1, 7), "4711", Decimal("-5")),
    ]


def test_excel_sheet_choice(tmp_path, store):
    path = tmp_path / "book.xlsx"
    wb = openpyxl.Workbook()
    wb.active.title = "Notes"
    wb.active.append(["nothing here"])
    data = wb.create_sheet("Products")
    data.append(["product_id", "name"])
    data.append(["P1", "Bolt"])
    wb.save(path)
    report = import_file(
        store=store,
        org="acme",
        kind="products",
        path=path,
        options=ImportOptions(sheet="Products"),
    )
    assert report.accepted == 1
    with pytest.raises(ImportFailed, match="no sheet 'Missing'; sheets: Notes, Products"):
        import_file(
            store=store,
            org="acme",
            kind="products",
            path=path,
            options=ImportOptions(sheet="Missing"),
        )


def test_empty_workbook(tmp_path, store):
    path = tmp_path / "empty.xlsx"
    _workbook(path, [])
    with pytest.raises(ImportFailed, match="empty"):
        import_file(store=store, org="acme", kind="sales", path=path)


def test_not_a_workbook(tmp_path, store):
    path = tmp_path / "fake.xlsx"
    path.write_text("this is not a zip file")
    with pytest.raises(ImportFailed, match=r"not a readable \.xlsx workbook"):
        import_file(store=store, org="acme", kind="sales", path=path)
