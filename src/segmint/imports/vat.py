"""VAT numbers: normalized to a key (country prefix, no spaces or punctuation) and validated
with python-stdnum, which knows the check digits of every EU member state and more."""

from __future__ import annotations

from stdnum import vatin
from stdnum.exceptions import ValidationError


def vat_key(number: str | None) -> str | None:
    """The normalized VAT number, or ``None`` when it is missing or not valid.

    >>> vat_key("de 136,695,976")
    'DE136695976'
    >>> vat_key("DE136695977") is None
    True
    """
    if number is None or not number.strip():
        return None
    try:
        return vatin.validate(number).upper()
    except (ValidationError, KeyError, ValueError):
        return None
