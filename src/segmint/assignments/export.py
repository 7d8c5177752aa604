"""Exporting a type's effective segments to CSV or Excel, one row per customer.

Rows are read in pages of :data:`PAGE_ROWS` inside one read transaction (a consistent view even
when a run swaps in meanwhile) and written as they come, so memory does not grow with the
number of customers; Excel files are written with openpyxl's write-only mode. The file appears
under its name only when complete.

Spreadsheet programs run a cell that starts with ``=``, ``+``, ``-`` or ``@`` as a formula, so
a customer name or override reason like ``=HYPERLINK(...)`` would be live in the export (CSV
injection). Such text cells, and those starting with a tab or carriage return, get a leading
single quote; numbers are written as numbers and are not touched.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from segmint.accounts.actor import Actor
from segmint.assignments.service import EffectiveSegment, effective_count, effective_segments
from segmint.errors import ValidationError
from segmint.segments.service import get_type

PAGE_ROWS = 5_000
FORMATS = (".csv", ".xlsx")
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

Progress = Callable[[int, int], None]


def neutralize(value: Any) -> Any:
    """Text a spreadsheet would run as a formula, made inert; anything else as it is.

    >>> neutralize("=1+1"), neutralize("-5 %"), neutralize("ACME"), neutralize(-5)
    ("'=1+1", "'-5 %", 'ACME', -5)
    """
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def columns(method: str, identity: str) -> list[str]:
    """The export's header. For an RFM type the eligible sales are its monetary value."""
    key = "vat_number" if identity == "vat" else "customer_id"
    common = [key, "customer_name", "effective_segment", "automatic_segment"]
    common += ["manual_segment", "reason"]
    if method == "rfm":
        return [*common, "recency_days", "frequency", "monetary", "r_score", "f_score", "m_score"]
    return [*common, "eligible_sales", "rank"]


def _row(method: str, e: EffectiveSegment, name: str | None) -> list[Any]:
    common = [e.customer_key, name, e.effective, e.automatic, e.manual, e.reason]
    if method == "rfm":
        return [
            *common,
            e.recency_days,
            e.frequency,
            e.eligible_sales,
            e.r_score,
            e.f_score,
            e.m_score,
        ]
    return [*common, e.eligible_sales, e.rank]


def _names(con: Any, org: str, identity: str, keys: list[str]) -> dict[str, str]:
    """Customer names from the sales store (by ID, or any name of a VAT number)."""
    if con is None or not keys:
        return {}
    column = "vat_key" if identity == "vat" else "customer_id"
    rows = con.execute(
        f"SELECT {column}, min(name) FROM store.customers "
        f"WHERE org = ? AND {column} IN (SELECT unnest(?::VARCHAR[])) GROUP BY 1",
        [org, keys],
    ).fetchall()
    return {key: name for key, name in rows if name is not None}


def export_rows(
    *,
    session: Session,
    actor: Actor,
    type_id: int,
    store: Any = None,
    on_progress: Progress | None = None,
) -> tuple[list[str], Iterator[list[Any]]]:
    """The header and a lazy iterator over the rows, page by page; names come from ``store``
    when one is given."""
    if session.get_bind().dialect.name == "postgresql" and not session.in_transaction():
        # Every page from the same snapshot, even if a run is swapped in meanwhile (SQLite's
        # read transaction already is one).
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
    segment_type = get_type(session=session, actor=actor, type_id=type_id)
    method, identity = segment_type.method, segment_type.identity
    total = effective_count(session=session, actor=actor, type_id=type_id)

    def rows() -> Iterator[list[Any]]:
        opened: AbstractContextManager[Any] = store.attached() if store else nullcontext()
        with opened as con:
            done = 0
            while True:
                page = effective_segments(
                    session=session, actor=actor, type_id=type_id, limit=PAGE_ROWS, offset=done
                )
                if not page:
                    break
                names = _names(con, actor.org_slug, identity, [e.customer_key for e in page])
                for e in page:
                    yield [neutralize(v) for v in _row(method, e, names.get(e.customer_key))]
                done += len(page)
                if on_progress:
                    on_progress(done, max(total, done))
                if len(page) < PAGE_ROWS:
                    break

    return columns(method, identity), rows()


def _write_csv(path: Path, header: list[str], rows: Iterable[list[Any]]) -> int:
    count = 0
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        for row in rows:
            writer.writerow(["" if v is None else v for v in row])
            count += 1
    return count


def _write_xlsx(path: Path, header: list[str], rows: Iterable[list[Any]], title: str) -> int:
    from openpyxl import Workbook
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=_sheet_title(title))
    sheet.append(header)
    count = 0
    for row in rows:
        # Control characters are not allowed in the file format; they carry no meaning here.
        sheet.append([ILLEGAL_CHARACTERS_RE.sub("", v) if isinstance(v, str) else v for v in row])
        count += 1
    workbook.save(path)
    return count


def _sheet_title(name: str) -> str:
    """An Excel sheet name: at most 31 characters, none of ``[]:*?/\\``."""
    cleaned = "".join("_" if c in "[]:*?/\\" else c for c in name).strip("'") or "segments"
    return cleaned[:31]


def write_export(
    path: Path, header: list[str], rows: Iterable[list[Any]], *, title: str = "segments"
) -> int:
    """Write the rows to ``path`` (``.csv`` or ``.xlsx``); returns how many were written. The
    file is written beside its name and renamed when complete."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise ValidationError(f"{path.name}: export to a .csv or an .xlsx file", field="output")
    partial = path.with_name(f".{path.name}.partial")
    try:
        if suffix == ".csv":
            count = _write_csv(partial, header, rows)
        else:
            count = _write_xlsx(partial, header, rows, title)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return count
