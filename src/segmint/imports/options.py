"""What the user can tell the import about a file, and the reject codes it can report."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Kind = Literal["sales", "customers", "products"]
KIND_TABLES: dict[str, str] = {
    "sales": "sales_lines",
    "customers": "customers",
    "products": "products",
}

#: Every code a reject or warning can carry, with the sentence the docs and reports use.
REJECT_CODES: dict[str, str] = {
    "malformed_row": "the row does not have the header's number of fields",
    "missing_value": "required field is empty",
    "not_a_date": "not a date (yyyy-mm-dd, dd.mm.yyyy, Excel serial, or --date-format)",
    "date_out_of_range": "date before 1900-01-01 or after 2099-12-31",
    "not_a_number": "not a decimal number",
    "too_many_decimals": "more than 4 decimal places",
    "number_out_of_range": "10^14 or more in absolute value",
    "not_an_integer": "not a whole number from 0 to 2,147,483,647",
    "too_long": "text longer than 1,000 characters",
    "duplicate_key": "the same key is on an earlier row of this file; that row is kept",
    "invalid_vat": "warning: not a valid VAT number; kept as given, vat_key left empty",
}

MAX_TEXT = 1000
MAX_ABS_AMOUNT = 10**14


@dataclass(frozen=True)
class ImportOptions:
    """How to read a file. ``None`` means detect."""

    delimiter: str | None = None
    decimal: Literal["auto", "point", "comma"] = "auto"
    encoding: str | None = None
    date_format: str | None = None
    sheet: str | None = None
    mapping: dict[str, str] = field(default_factory=dict)
