"""The insights cache: a repeated request is answered from it, and no answer outlives an import,
an edit of the type or a change of manual overrides."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from decimal import Decimal

import pytest

from segmint.insights import cache
from segmint.insights.cache import InsightsCache
from segmint.segments import service as segments
from tests.insights.support import AS_OF, Sale, counts, golden, import_sales, insights
from tests.runs.support import Org

sqlite_only = pytest.mark.parametrize("metadata_url", ["sqlite"], indirect=True)


@sqlite_only
def test_the_same_request_is_answered_from_the_cache(org: Org):
    type_id = golden(org)
    first = insights(org, type_id, filters={"territory": ["North"], "brand": ["X", "Z"]})
    again = insights(org, type_id, filters={"brand": ["Z", "X", "X"], "territory": ["North"]})
    assert again is first  # same filters in another order: the same key
    assert (cache.CACHE.misses, cache.CACHE.hits) == (1, 1)
    assert insights(org, type_id) is not first  # other filters, another entry
    assert insights(org, type_id, months=6) is not insights(org, type_id)
    assert insights(org, type_id, as_of=AS_OF - timedelta(days=1)) is not insights(org, type_id)


@sqlite_only
def test_an_import_makes_the_next_answer_fresh(org: Org):
    type_id = golden(org)
    before = insights(org, type_id)
    assert before.cards.active_customers == 5
    import_sales(org, [Sale("N1", "C6", AS_OF, 80)])  # C6 buys for the first time
    after = insights(org, type_id)
    assert after is not before
    assert after.cards.active_customers == 6
    assert after.cards.total_sales == before.cards.total_sales + Decimal(80)
    assert insights(org, type_id) is after  # and that answer is cached in turn


@sqlite_only
def test_a_write_around_the_import_is_seen_too(org: Org):
    """Benchmarks and repairs write the store directly; the file's change shows."""
    type_id = golden(org)
    before = insights(org, type_id)
    with org.store.connect() as con:
        con.execute(f"DELETE FROM sales_lines WHERE org = '{org.slug}' AND customer_id = 'C7'")
    after = insights(org, type_id)
    assert after.cards.active_customers == before.cards.active_customers - 1


@sqlite_only
def test_editing_the_cut_points_makes_the_next_answer_fresh(org: Org):
    type_id = golden(org)
    before = insights(org, type_id)
    assert counts(before)["Champions"] == 2
    with org.db.session() as session:
        segments.update_type(
            session=session, actor=org.actor, type_id=type_id, r_cuts=["5", "60", "90", "180"]
        )
    after = insights(org, type_id)
    assert counts(after)["Champions"] == 1 and counts(after)["Loyal"] == 1
    assert [str(c) for c in after.cut_points[0].cuts] == ["5", "60", "90", "180"]


@sqlite_only
def test_editing_the_segments_makes_the_next_answer_fresh(org: Org):
    type_id = golden(org)
    insights(org, type_id)
    with org.db.session() as session:
        specs = segments.segment_specs(
            segments.get_type(session=session, actor=org.actor, type_id=type_id)
        )
        specs[0].name = "Best customers"
        specs[0].description = "Renamed"
        segments.set_segments(session=session, actor=org.actor, type_id=type_id, segments=specs)
    after = insights(org, type_id)
    assert (after.segments[0].name, after.segments[0].description) == ("Best customers", "Renamed")
    assert counts(after)["Best customers"] == 2
    assert next(c for c in after.cells if c.cell == "55").segment == "Best customers"


@sqlite_only
def test_manual_overrides_make_the_next_answer_fresh(org: Org):
    type_id = golden(org)
    assert counts(insights(org, type_id))["Champions"] == 2
    org.set_override(type_id, "C4", "Champions")
    assert counts(insights(org, type_id))["Champions"] == 3
    org.set_override(type_id, "C4", "Loyal")
    assert counts(insights(org, type_id))["Loyal"] == 1
    from segmint.assignments import service as assignments

    with org.db.session() as session:
        assignments.clear_override(
            session=session, actor=org.actor, type_id=type_id, customer_key="C4"
        )
    assert counts(insights(org, type_id))["Champions"] == 2
    assert "Loyal" not in counts(insights(org, type_id))


def test_lru_keeps_the_most_recent_entries():
    lru = InsightsCache(maxsize=2)
    assert lru.get_or_compute("a", lambda: 1) == 1
    assert lru.get_or_compute("b", lambda: 2) == 2
    assert lru.get_or_compute("a", lambda: 99) == 1  # hit, and now the most recent
    lru.get_or_compute("c", lambda: 3)  # evicts "b"
    assert len(lru) == 2
    assert lru.get_or_compute("b", lambda: 22) == 22
    assert lru.get_or_compute("a", lambda: 11) == 11  # "a" went when "b" came back


def test_an_error_is_not_cached():
    lru = InsightsCache()

    def fail():
        raise RuntimeError("store busy")

    with pytest.raises(RuntimeError):
        lru.get_or_compute("k", fail)
    assert lru.get_or_compute("k", lambda: "fine") == "fine"


def test_concurrent_requests_for_one_key_compute_it_once():
    lru = InsightsCache()
    calls = []
    started = threading.Event()

    def slow():
        calls.append(1)
        started.set()
        time.sleep(0.2)
        return object()

    results = []
    threads = [
        threading.Thread(target=lambda: results.append(lru.get_or_compute("k", slow)))
        for _ in range(5)
    ]
    threads[0].start()
    started.wait(5)
    for thread in threads[1:]:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert len(calls) == 1
    assert len(results) == 5 and all(r is results[0] for r in results)


def test_at_most_two_answers_are_computed_at_once():
    lru = InsightsCache(computing=2)
    running, most = [0], [0]
    guard = threading.Lock()

    def work():
        with guard:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.05)
        with guard:
            running[0] -= 1
        return 1

    threads = [threading.Thread(target=lru.get_or_compute, args=(key, work)) for key in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert most[0] == 2 and len(lru) == 6
