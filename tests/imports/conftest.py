from __future__ import annotations

from pathlib import Path

import pytest

from segmint.imports.options import ImportOptions
from segmint.imports.service import ImportReport, import_file
from segmint.store import SalesStore

SALES_HEADER = "document_id,line_no,invoice_date,customer_id,net_amount,brand\n"


@pytest.fixture
def store(tmp_path: Path) -> SalesStore:
    return SalesStore(tmp_path / "store" / "sales.duckdb")


@pytest.fixture
def load(store: SalesStore, tmp_path: Path):
    """Write ``content`` to a file and import it; returns the report."""

    def _load(
        content: str | bytes,
        *,
        kind: str = "sales",
        name: str = "file.csv",
        org: str = "acme",
        strict: bool = False,
        **options,
    ) -> ImportReport:
        path = tmp_path / name
        if isinstance(content, str):
            path.write_text(content, encoding="utf-8", newline="")
        else:
            path.write_bytes(content)
        return import_file(
            store=store,
            org=org,
            kind=kind,
            path=path,
            options=ImportOptions(**options),
            strict=strict,
            rejects_path=tmp_path / "rejects.csv",
        )

    return _load


def rejects_of(report: ImportReport) -> list[tuple[int, str, str]]:
    return [(r.row, r.column, r.code) for r in report.rejects if r.severity == "error"]
