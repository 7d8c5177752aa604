"""SQL fragments both methods share: filtered and keyed sales lines, known customers, manual
assignments. All DuckDB dialect with ``{sales}``/``{customers}``/``{manual}`` placeholders."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from segmint.engine._backend import in_list, lit
from segmint.errors import ValidationError

Manual = Mapping[str, str] | Any | None


def filters_sql(filters: tuple[tuple[str, tuple[str, ...]], ...], prefix: str = "") -> str:
    parts = [in_list(f"CAST({prefix}{col} AS VARCHAR)", vals) for col, vals in filters]
    return " AND ".join(parts) if parts else "TRUE"


def keyed_ctes(
    *, identity: str, filters: tuple, extra: tuple[str, ...], has_customers: bool
) -> str:
    """CTE ``lines``: the sales lines after the report filters, with ``customer_key``."""
    if identity == "vat" and not has_customers:
        raise ValidationError(
            "VAT identity needs the customers frame (its vat_key column)", field="identity"
        )
    cols = ", ".join(f"s.{c}" for c in extra)
    cols = f", {cols}" if cols else ""
    where = filters_sql(filters, "s.")
    if identity == "vat":
        # customers without a valid VAT key (NULL or empty) are left out (and counted elsewhere)
        key = "NULLIF(TRIM(CAST(c.vat_key AS VARCHAR)), '')"
        source = (
            "{sales} AS s JOIN {customers} AS c "
            "ON CAST(s.customer_id AS VARCHAR) = CAST(c.customer_id AS VARCHAR)"
        )
    else:
        key = "CAST(s.customer_id AS VARCHAR)"
        source = "{sales} AS s"
    return f"""
lines AS (
  SELECT {key} AS customer_key, CAST(s.invoice_date AS DATE) AS invoice_date,
         CAST(s.net_amount AS DECIMAL(18, 4)) AS net_amount{cols}
  FROM {source}
  WHERE {where}
)"""


def known_cte(
    *, source: str, columns: tuple[str, ...], identity: str, filters: tuple, has_customers: bool
) -> str:
    """CTE ``known(customer_key, *columns)``: every customer the organization knows, with its
    figures from ``source`` (a CTE with one row per customer that has lines in the period).

    Known customers are those with lines in the period plus, when a customers frame is given
    and no report filter is set, every key of the customers frame (which then get NULL figures).
    Customers whose only lines are outside the period are known through the customers frame:
    reading all history only to list them would make every run scan every line.
    """
    if not has_customers or filters:
        cols = ", ".join(("customer_key", *columns))
        return f"known AS (SELECT {cols} FROM {source} WHERE customer_key IS NOT NULL)"
    column = (
        "NULLIF(TRIM(CAST(vat_key AS VARCHAR)), '')"
        if identity == "vat"
        else "CAST(customer_id AS VARCHAR)"
    )
    cols = "".join(f", x.{c}" for c in columns)
    return f"""known AS (
  SELECT COALESCE(x.customer_key, c.customer_key) AS customer_key{cols}
  FROM (SELECT * FROM {source} WHERE customer_key IS NOT NULL) AS x
  FULL OUTER JOIN (SELECT DISTINCT {column} AS customer_key FROM {{customers}}
                   WHERE {column} IS NOT NULL) AS c ON c.customer_key = x.customer_key
)"""


def manual_cte(manual: Manual) -> tuple[str, Any]:
    """The ``manual(customer_key, segment)`` CTE and the frame to register for it (or None)."""
    if manual is None or (isinstance(manual, Mapping) and not manual):
        return (
            "manual AS (SELECT CAST(NULL AS VARCHAR) AS customer_key, "
            "CAST(NULL AS VARCHAR) AS segment WHERE 1 = 0)",
            None,
        )
    if isinstance(manual, Mapping):
        rows = ", ".join(f"({lit(str(k))}, {lit(str(v))})" for k, v in sorted(manual.items()))
        return (
            f"manual AS (SELECT customer_key, segment FROM (VALUES {rows}) "
            "AS m(customer_key, segment))",
            None,
        )
    return (
        "manual AS (SELECT DISTINCT CAST(customer_key AS VARCHAR) AS customer_key, "
        "CAST(segment AS VARCHAR) AS segment FROM {manual})",
        manual,
    )


def period_sql(column: str, period: Any) -> str:
    return f"{column} BETWEEN {lit(period.start)} AND {lit(period.end)}"
