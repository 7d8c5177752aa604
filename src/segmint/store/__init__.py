"""The sales store: one DuckDB file with the canonical tables. Only ``sales_store.py`` opens it."""

from segmint.store.sales_store import OrgSummary, SalesStore, StoreBusy

__all__ = ["OrgSummary", "SalesStore", "StoreBusy"]
