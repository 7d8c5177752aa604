"""Shared fixtures, and the guard that makes required parts of the suite really run.

``SEGMINT_REQUIRE=browser,spark,postgres`` (set by ``.ci/run``) turns the session red when a test
with one of those markers was skipped, or when none with that marker ran at all.
"""

from __future__ import annotations

import os
import shutil
from collections import Counter
from pathlib import Path

import pytest

from segmint.settings import Settings

_outcomes: dict[str, Counter] = {}


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call" or report.skipped:
        for marker in ("browser", "spark", "postgres"):
            if item.get_closest_marker(marker):
                _outcomes.setdefault(marker, Counter())[report.outcome] += 1
    return report


def _required() -> list[str]:
    raw = os.environ.get("SEGMINT_REQUIRE", "")
    return [m.strip() for m in raw.split(",") if m.strip()]


def pytest_sessionfinish(session, exitstatus):
    problems = []
    for marker in _required():
        seen = _outcomes.get(marker, Counter())
        if seen["skipped"]:
            problems.append(f"{seen['skipped']} required '{marker}' test(s) were skipped")
        if not seen["passed"] and not seen["failed"]:
            problems.append(f"no required '{marker}' test ran")
    if problems:
        session.config._segmint_required_problems = problems  # read by the summary below
        if session.exitstatus == 0:
            session.exitstatus = 1


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    for problem in getattr(config, "_segmint_required_problems", []):
        terminalreporter.write_line(f"SEGMINT_REQUIRE: {problem}", red=True, bold=True)
    for marker, seen in sorted(_outcomes.items()):
        terminalreporter.write_line(f"segmint: {marker} tests {dict(seen)}")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings pointing at a fresh data directory."""
    return Settings(data_dir=tmp_path / "data", _env_file=None)


def chromium_path() -> str | None:
    return os.environ.get("SEGMINT_CHROMIUM") or shutil.which("chromium")
