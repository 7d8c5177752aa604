"""A cached insight is found without opening the sales store (no DuckDB connection, no wait for
an import), and the store's version token changes with every write, checkpointed or not."""

from __future__ import annotations

import pytest

from segmint.insights import cache
from tests.insights.support import AS_OF, Sale, golden, import_sales, insights
from tests.runs.support import Org

sqlite_only = pytest.mark.parametrize("metadata_url", ["sqlite"], indirect=True)


@sqlite_only
def test_a_hit_opens_no_store(org: Org, monkeypatch):
    type_id = golden(org)
    first = insights(org, type_id, filters={"territory": ["North"]})

    def refuse():
        raise AssertionError("the store was opened")

    monkeypatch.setattr(org.store, "attached", refuse)
    assert insights(org, type_id, filters={"territory": ["North"]}) is first
    assert (cache.CACHE.misses, cache.CACHE.hits) == (1, 1)
    monkeypatch.undo()
    import_sales(org, [Sale("N1", "C6", AS_OF, 80, territory="North")])
    after = insights(org, type_id, filters={"territory": ["North"]})
    assert after.cards.active_customers == first.cards.active_customers + 1


@sqlite_only
def test_the_store_version_changes_with_every_write(org: Org):
    assert org.store.version() is None  # no file yet
    golden(org)
    seen = {org.store.version()}
    for i in range(5):  # several writes in quick succession: size and timestamp may not change
        with org.store.connect() as con:
            con.execute(
                "UPDATE sales_lines SET net_amount = net_amount + 1 WHERE org = ?", [org.slug]
            )
        seen.add(org.store.version())
        assert len(seen) == i + 2
    with org.store.connect() as con:
        con.execute("UPDATE sales_lines SET net_amount = net_amount + 1 WHERE org = ?", [org.slug])
        uncheckpointed = org.store.version()  # the change is in the write-ahead log only
        assert uncheckpointed not in seen
    assert org.store.version() not in seen | {uncheckpointed}
