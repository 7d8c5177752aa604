"""The insights cache's shared level: what one server process computed, the others of the
machine answer from disk; it never fails a request and never mixes two databases."""

from __future__ import annotations

import logging
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from segmint.insights import cache
from segmint.insights.cache import InsightsCache
from tests.insights.support import golden, insights
from tests.runs.support import Org


def _never() -> object:
    raise AssertionError("computed although another process had the answer")


@pytest.fixture
def shared(tmp_path: Path):
    made: list[InsightsCache] = []

    def make(scope: str = "db-1") -> InsightsCache:
        found = InsightsCache()
        found.share(tmp_path / "shared", scope=scope)
        made.append(found)
        return found

    yield make
    for found in made:
        found.share(None)


def test_another_process_answers_from_what_one_computed(tmp_path: Path, shared) -> None:
    """A second Python process computes and stores; this one finds the answer without
    computing it."""
    code = (
        "import sys\n"
        "from segmint.insights.cache import InsightsCache\n"
        "c = InsightsCache()\n"
        "c.share(__import__('pathlib').Path(sys.argv[1]), scope='db-1')\n"
        "c.get_or_compute(('rfm', 1, 'filters'), lambda: {'customers': 42})\n"
        "c.share(None)\n"
    )
    subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "shared")],
        check=True,
        env={**os.environ},
        timeout=120,
    )
    mine = shared()
    assert mine.get_or_compute(("rfm", 1, "filters"), _never) == {"customers": 42}
    assert (mine.misses, mine.shared_hits) == (1, 1)
    assert mine.get(("rfm", 1, "filters")) == {"customers": 42}  # now in memory too
    assert mine.hits == 1
    assert mine.get(("rfm", 1, "other")) is None


def test_a_real_answer_survives_the_trip_through_disk(org: Org, shared) -> None:
    type_id = golden(org)
    cache.CACHE.share(org.workdir / "shared", scope="db-1")
    try:
        first = insights(org, type_id, filters={"territory": ["North"], "brand": ["X", "Z"]})
        (key,) = list(cache.CACHE._entries)
    finally:
        cache.CACHE.share(None)
    other = InsightsCache()
    other.share(org.workdir / "shared", scope="db-1")
    try:
        again = other.get_or_compute(key, _never)
    finally:
        other.share(None)
    assert again is not first and again == first


def test_two_databases_never_share_answers(shared) -> None:
    one, two = shared("sqlite:///a.sqlite"), shared("postgresql://b")
    assert one.get_or_compute("same key", lambda: "from a") == "from a"
    assert two.get_or_compute("same key", lambda: "from b") == "from b"
    assert shared("sqlite:///a.sqlite").get("same key") == "from a"


def test_a_damaged_entry_or_an_answer_that_cannot_be_stored_only_costs_the_computation(
    tmp_path: Path, shared, caplog: pytest.LogCaptureFixture
) -> None:
    mine = shared()
    assert mine.get_or_compute("k", lambda: {"answer": 1}) == {"answer": 1}
    # Damage the stored answer from outside, as disk trouble would.
    db = sqlite3.connect(tmp_path / "shared" / "cache.db")
    try:
        with db:
            assert db.execute("UPDATE Cache SET value = ?", (b"not a pickle",)).rowcount == 1
    finally:
        db.close()
    with caplog.at_level(logging.WARNING, logger="segmint.insights.cache"):
        assert shared().get_or_compute("k", lambda: {"answer": 2}) == {"answer": 2}
        assert "could not read the shared insights cache" in caplog.text
        # An answer that cannot be written to disk is still given (and kept in memory).
        unpicklable = shared()
        answer = unpicklable.get_or_compute("lambda", lambda: lambda: "answer")
        assert answer() == "answer" and unpicklable.get("lambda") is answer
        assert "could not write the shared insights cache" in caplog.text


def test_a_directory_that_cannot_be_used_leaves_the_cache_in_memory(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where the directory should be")
    mine = InsightsCache()
    with caplog.at_level(logging.WARNING, logger="segmint.insights.cache"):
        mine.share(blocker / "shared", scope="db-1")
    assert "shared insights cache" in caplog.text
    assert mine.get_or_compute("k", lambda: 1) == 1 and mine.get("k") == 1
