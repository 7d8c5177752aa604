"""``segmint run`` (with and without --wait), ``segmint worker --once`` and the runs an import
queues."""

from __future__ import annotations

from pathlib import Path

import pytest

from segmint.errors import SegmintError
from segmint.metadata.database import Database
from segmint.metadata.migrate import head_revision
from segmint.settings import Settings
from tests.cli.conftest import AS_OF, ORG, Cli


def test_run_wait_computes_it_here(cli: Cli, pareto: str) -> None:
    listed = cli("types", "list", "--org", ORG)
    assert "succeeded" in listed.output
    shown = cli("types", "show", pareto, "--org", ORG)
    assert f"Current result: run 1 as of {AS_OF}" in shown.output
    # 723 customers in the demo wholesaler's data, of which 248 bought in the period.
    assert "723 customers (A 85, B 86, C 77, (none) 475)" in shown.output


def test_run_without_wait_queues_and_a_worker_computes_it(cli: Cli, pareto: str) -> None:
    queued = cli("run", pareto, "--org", ORG)
    assert queued.exit_code == 0, queued.output
    assert queued.output.strip() == "Run 2 of 'Sales Performance' queued."
    joined = cli("run", pareto, "--org", ORG)
    assert joined.output.startswith("Run 2 of 'Sales Performance' was already queued; joined it.")
    assert "queued" in cli("types", "list", "--org", ORG).output

    worked = cli("worker", "--once")
    assert worked.exit_code == 0, worked.output
    shown = cli("types", "show", pareto, "--org", ORG)
    assert "Current result: run 2 as of" in shown.output


def test_a_failed_run_exits_1_with_its_error(
    cli: Cli, pareto: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args, **kwargs):
        raise SegmintError("the engine is out of coffee")

    monkeypatch.setattr("segmint.runs.worker.compute", broken)
    result = cli("run", pareto, "--org", ORG, "--wait")
    assert result.exit_code == 1
    assert result.output.splitlines()[-1] == "error: run 2 failed: the engine is out of coffee"
    shown = cli("types", "show", pareto, "--org", ORG)
    assert "Current result: run 1" in shown.output  # the previous result stays
    assert "Latest run 2: failed" in shown.output


def test_bad_as_of_is_a_usage_error(cli: Cli, pareto: str) -> None:
    result = cli("run", pareto, "--org", ORG, "--as-of", "30.06.2025")
    assert result.exit_code == 2
    assert "write the date as YYYY-MM-DD" in result.output


def test_import_queues_the_types_that_follow_the_data(cli: Cli, tmp_path: Path) -> None:
    created = cli("types", "create", "Follows", "--method", "pareto", "--org", ORG,
                  "--run-after-import")  # fmt: skip
    assert created.exit_code == 0
    assert cli("types", "create", "Manual", "--method", "pareto", "--org", ORG).exit_code == 0
    sales = tmp_path / "sales.csv"
    sales.write_text("document_id,invoice_date,customer_id,net_amount\nX-1,2025-06-01,100001,50\n")
    imported = cli("import", "sales", str(sales), "--org", ORG)
    assert imported.exit_code == 0, imported.output
    assert "Queued run 1 of 'Follows' (it runs after imports)." in imported.output
    assert "'Manual'" not in imported.output


def test_import_into_a_new_organization_adds_it(cli: Cli, tmp_path: Path) -> None:
    sales = tmp_path / "sales.csv"
    sales.write_text("document_id,invoice_date,customer_id,net_amount\nX-1,2025-06-01,K1,50\n")
    assert cli("import", "sales", str(sales), "--org", "gamma").exit_code == 0
    created = cli("types", "create", "ABC", "--method", "pareto", "--org", "gamma")
    assert created.exit_code == 0, created.output
    ran = cli("run", "ABC", "--org", "gamma", "--wait", "--as-of", "2025-06-30")
    assert ran.exit_code == 0, ran.output
    assert "1 customers" in ran.output


def test_db_upgrade_is_idempotent(cli: Cli) -> None:
    head = head_revision(Database.from_settings(Settings()))
    first = cli("db", "upgrade")
    assert first.exit_code == 0, first.output
    assert f"Upgraded the metadata database from empty to {head}." in first.output
    second = cli("db", "upgrade")
    assert f"up to date (revision {head})" in second.output
