"""Fixtures for the web tests. Data goes into the store with plain SQL through the store's own
module, so these tests do not depend on the importer or the demo generator."""

from __future__ import annotations

import pytest

from segmint.settings import Settings
from segmint.store import SalesStore


def seed_store(settings: Settings) -> None:
    """Two organizations: ACME with 1,234 lines (thousands separators), BETA with 3 lines.

    ACME: invoice dates 2024-01-01 + (i mod 365) days, i = 0..1233 -> 2024-01-01..2024-12-30
    (2024 is a leap year); 50 customers C0..C49; 10.5 per line -> net sales 12,957.00.
    BETA: 3 lines, one a credit note: 100 + 250.25 - 50 = 300.25; 2 customers; 1 product.
    """
    with SalesStore.from_settings(settings).connect() as con:
        con.execute(
            """
            INSERT INTO sales_lines (org, document_id, line_no, invoice_date, customer_id,
                                     net_amount, quantity, product_id)
            SELECT 'ACME', 'D' || i, 1, DATE '2024-01-01' + CAST(i % 365 AS INTEGER),
                   'C' || (i % 50), 10.5, 1, 'P' || (i % 7)
            FROM range(1234) t(i)
            """
        )
        con.execute(
            """
            INSERT INTO customers (org, customer_id, name)
            SELECT 'ACME', 'C' || i, 'Customer ' || i FROM range(50) t(i)
            """
        )
        con.execute(
            """
            INSERT INTO sales_lines (org, document_id, line_no, invoice_date, customer_id,
                                     net_amount)
            VALUES ('BETA', 'INV-1', 1, DATE '2025-03-01', 'K1', 100),
                   ('BETA', 'INV-2', 1, DATE '2025-03-02', 'K2', 250.25),
                   ('BETA', 'CN-1', 1, DATE '2025-03-05', 'K1', -50)
            """
        )
        con.execute(
            "INSERT INTO customers (org, customer_id, name) "
            "VALUES ('BETA', 'K1', 'Kappa'), ('BETA', 'K2', 'Kilo')"
        )
        con.execute("INSERT INTO products (org, product_id, name) VALUES ('BETA', 'X1', 'Widget')")


@pytest.fixture
def seeded_settings(settings: Settings) -> Settings:
    """Settings whose sales store holds the data of :func:`seed_store`."""
    seed_store(settings)
    return settings
