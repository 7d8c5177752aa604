"""The CLI as a user runs it, in-process with Typer's CliRunner, against a data directory of
its own (``SEGMINT_DATA_DIR``) holding a small demo data set.

The demo data is generated once per session and its sales store copied for every test, so each
test starts with the three demo organizations and an empty metadata database.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from segmint.cli import app
from segmint.settings import Settings

#: The demo data's last invoice day; runs use it as their as-of date so that the RFM recency
#: of the demo customers does not depend on the day the tests run.
AS_OF = date(2025, 6, 30)
ORG = "alpha-wholesale"

Cli = Callable[..., Result]


@pytest.fixture(scope="session")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A sales store with ~20,000 demo lines over the three demo organizations."""
    from segmint.demo.service import load_demo_data

    settings = Settings(data_dir=tmp_path_factory.mktemp("demo") / "data", _env_file=None)
    load_demo_data(settings=settings, lines=20_000, as_of=AS_OF)
    return settings.sales_store_path


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, demo_store: Path) -> Path:
    """A fresh data directory (from the environment, as in production) with the demo data."""
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(demo_store, data / "sales.duckdb")
    monkeypatch.chdir(tmp_path)  # no .env file of the developer's
    monkeypatch.setenv("SEGMINT_DATA_DIR", str(data))
    for name in ("SEGMINT_METADATA_URL", "SEGMINT_SALES_STORE", "SEGMINT_ENVIRONMENT"):
        monkeypatch.delenv(name, raising=False)
    return data


@pytest.fixture
def cli(data_dir: Path) -> Cli:
    """Run ``segmint ARGS...``; ``input`` is standard input."""
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None) -> Result:
        return runner.invoke(app, list(args), input=input, env={"COLUMNS": "200"})

    return invoke


@pytest.fixture
def pareto(cli: Cli) -> str:
    """A computed Pareto type "Sales Performance" (A/B/C 80/15/5) of the demo wholesaler."""
    created = cli("types", "create", "Sales Performance", "--method", "pareto", "--org", ORG)
    assert created.exit_code == 0, created.output
    ran = cli("run", "Sales Performance", "--org", ORG, "--wait", "--as-of", AS_OF.isoformat())
    assert ran.exit_code == 0, ran.output
    return "Sales Performance"
