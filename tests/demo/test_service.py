"""``segmint demo-data`` and ``load_demo_data``: the demo files go through the import into the
store, and loading them again changes nothing."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from segmint.demo.cli import demo_data_command
from segmint.demo.generator import FILES, ORGS
from segmint.demo.service import load_demo_data
from segmint.settings import Settings
from segmint.store import SalesStore

AS_OF = date(2026, 11, 22)
LINES = 3_000


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command("demo-data")(demo_data_command)
    return app


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("demo-data")


@pytest.fixture(scope="module")
def cli_output(data_dir: Path) -> str:
    mp = pytest.MonkeyPatch()
    mp.setenv("SEGMINT_DATA_DIR", str(data_dir))
    mp.chdir(data_dir)  # no stray .env
    try:
        result = CliRunner().invoke(
            _app(), ["--lines", str(LINES), "--seed", "7", "--as-of", AS_OF.isoformat()]
        )
    finally:
        mp.undo()
    assert result.exit_code == 0, result.output
    return result.output


def test_cli_fills_the_store_and_prints_a_summary(cli_output: str, data_dir: Path) -> None:
    for org in ORGS:
        assert org in cli_output
        for name in FILES.values():
            assert (data_dir / "demo" / org / name).is_file()
    assert "2023-11-23" in cli_output
    store = SalesStore.from_settings(Settings(data_dir=data_dir, _env_file=None))
    orgs = {o.org: o for o in store.organizations()}
    assert set(orgs) == set(ORGS)
    assert sum(o.sales_lines for o in orgs.values()) == LINES
    for o in orgs.values():
        assert o.customers > 0 and o.products > 0 and o.net_sales > 0
        assert o.first_invoice >= date(2023, 11, 23) and o.last_invoice <= AS_OF
        assert f"{o.customers:,}" in cli_output


def test_loading_again_is_idempotent(cli_output: str, data_dir: Path) -> None:
    settings = Settings(data_dir=data_dir, _env_file=None)
    store = SalesStore.from_settings(settings)
    before = store.organizations()
    seen: list[tuple[str, float]] = []
    summary = load_demo_data(
        settings=settings,
        lines=LINES,
        seed=7,
        as_of=AS_OF,
        progress=lambda stage, fraction: seen.append((stage, fraction)),
    )
    assert store.organizations() == before
    assert sum(o.lines for o in summary.orgs) == LINES
    assert (summary.start, summary.as_of) == (date(2023, 11, 23), AS_OF)
    for org in summary.orgs:
        assert set(org.imports) == {"customers", "products", "sales"}
        assert org.rejected == 0
        sales = org.imports["sales"]
        assert (sales.accepted, sales.already_present) == (0, org.lines)
        # invalid VAT numbers are kept and reported as warnings, not rejects
        assert org.imports["customers"].warnings > 0
    fractions = [f for _, f in seen]
    assert fractions == sorted(fractions)
    assert fractions[-1] == 1.0
    assert any(stage.startswith("importing") for stage, _ in seen)


def test_cli_refuses_a_bad_date(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEGMINT_DATA_DIR", str(tmp_path))
    result = CliRunner().invoke(_app(), ["--lines", "10", "--as-of", "22.11.2026"])
    assert result.exit_code == 2
    assert "YYYY-MM-DD" in result.output
    assert not (tmp_path / "demo").exists()
