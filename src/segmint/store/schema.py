"""Canonical tables of the sales store, all scoped by organization (``org``).

Amounts are ``DECIMAL(18,4)``: exact, so sums and comparisons give the same answer on every
engine. Keys are enforced by the import (delete-then-insert in one transaction) rather than by a
DuckDB index: an ART index on 50M lines costs more memory than the whole import.
"""

from __future__ import annotations

from dataclasses import dataclass

SCHEMA_VERSION = 1

AMOUNT_TYPE = "DECIMAL(18,4)"


@dataclass(frozen=True)
class Column:
    name: str
    sql_type: str
    required: bool = False
    description: str = ""


@dataclass(frozen=True)
class Table:
    name: str
    key: tuple[str, ...]
    columns: tuple[Column, ...]

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def ddl(self) -> str:
        cols = ",\n  ".join(
            f"{c.name} {c.sql_type}{' NOT NULL' if c.required else ''}" for c in self.columns
        )
        return f"CREATE TABLE IF NOT EXISTS {self.name} (\n  org VARCHAR NOT NULL,\n  {cols}\n)"


SALES_LINES = Table(
    name="sales_lines",
    key=("document_id", "line_no"),
    columns=(
        Column("document_id", "VARCHAR", True, "Invoice or credit note number."),
        Column(
            "line_no",
            "INTEGER",
            False,
            "Line within the document; default: the line's "
            "position among the document's lines in the file.",
        ),
        Column("invoice_date", "DATE", True, "Document date."),
        Column("customer_id", "VARCHAR", True, "The organization's own customer ID."),
        Column("net_amount", AMOUNT_TYPE, True, "Net amount; credit notes are negative."),
        Column("quantity", AMOUNT_TYPE, False, "Quantity sold."),
        Column("product_id", "VARCHAR", False, "Product ID."),
        Column("brand", "VARCHAR", False, "Brand of the product."),
        Column("branch", "VARCHAR", False, "Selling branch."),
        Column("sales_rep", "VARCHAR", False, "Sales rep credited with the line."),
        Column("territory", "VARCHAR", False, "Sales territory."),
    ),
)

CUSTOMERS = Table(
    name="customers",
    key=("customer_id",),
    columns=(
        Column("customer_id", "VARCHAR", True, "The organization's own customer ID."),
        Column("name", "VARCHAR", False, "Customer name."),
        Column("vat_number", "VARCHAR", False, "VAT number as given."),
        Column(
            "vat_key",
            "VARCHAR",
            False,
            "Normalized, validated VAT number (country prefix, "
            "no spaces or punctuation); empty when the VAT number is missing or invalid.",
        ),
        Column("branch", "VARCHAR", False, "Home branch."),
        Column("territory", "VARCHAR", False, "Territory."),
        Column("sales_rep", "VARCHAR", False, "Responsible sales rep."),
        Column("first_seen", "DATE", False, "Date the customer became a customer."),
    ),
)

PRODUCTS = Table(
    name="products",
    key=("product_id",),
    columns=(
        Column("product_id", "VARCHAR", True, "Product ID."),
        Column("name", "VARCHAR", False, "Product name."),
        Column("brand", "VARCHAR", False, "Brand."),
        Column("category", "VARCHAR", False, "Product category."),
    ),
)

TABLES: dict[str, Table] = {t.name: t for t in (SALES_LINES, CUSTOMERS, PRODUCTS)}

IMPORTS_DDL = """
CREATE TABLE IF NOT EXISTS imports (
  import_id VARCHAR NOT NULL,
  org VARCHAR NOT NULL,
  kind VARCHAR NOT NULL,
  source VARCHAR NOT NULL,
  finished_at TIMESTAMP NOT NULL,
  rows_read BIGINT NOT NULL,
  accepted BIGINT NOT NULL,
  rejected BIGINT NOT NULL,
  already_present BIGINT NOT NULL
)
"""

META_DDL = "CREATE TABLE IF NOT EXISTS store_meta (key VARCHAR, value VARCHAR)"
