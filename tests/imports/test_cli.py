"""``segmint import`` as a user runs it: summary, rejects file, exit codes."""

from __future__ import annotations

from typer.testing import CliRunner

from segmint.cli import app
from tests.imports.conftest import SALES_HEADER

runner = CliRunner()


def _env(tmp_path):
    return {"SEGMINT_DATA_DIR": str(tmp_path / "data")}


def test_import_prints_the_summary_and_writes_rejects(tmp_path):
    f = tmp_path / "sales.csv"
    f.write_text(SALES_HEADER + "INV1,1,2024-01-05,C1,5,X\nINV2,1,2024-01-05,C2,oops,X\n")
    result = runner.invoke(app, ["import", "sales", str(f), "--org", "acme"], env=_env(tmp_path))
    assert result.exit_code == 0, result.output
    assert "not_a_number" in result.output
    assert "│    2 │        1 │        1 │" in result.output
    (rejects,) = (tmp_path / "data" / "rejects").iterdir()
    assert "3,net_amount,oops,not_a_number" in rejects.read_text()


def test_strict_exits_1_and_missing_column_exits_2(tmp_path):
    f = tmp_path / "sales.csv"
    f.write_text(SALES_HEADER + "INV2,1,2024-01-05,C2,oops,X\n")
    strict = runner.invoke(
        app, ["import", "sales", str(f), "--org", "acme", "--strict"], env=_env(tmp_path)
    )
    assert strict.exit_code == 1
    assert "--strict imports nothing" in strict.output
    g = tmp_path / "bad.csv"
    g.write_text("a,b\n1,2\n")
    missing = runner.invoke(app, ["import", "sales", str(g), "--org", "acme"], env=_env(tmp_path))
    assert missing.exit_code == 2
    assert "missing required column(s) document_id" in missing.output


def test_bad_map_and_decimal_options(tmp_path):
    f = tmp_path / "sales.csv"
    f.write_text(SALES_HEADER)
    bad_map = runner.invoke(
        app, ["import", "sales", str(f), "--org", "acme", "--map", "nonsense"], env=_env(tmp_path)
    )
    assert bad_map.exit_code == 2 and "SOURCE=CANONICAL" in bad_map.output
    bad_decimal = runner.invoke(
        app, ["import", "sales", str(f), "--org", "acme", "--decimal", "x"], env=_env(tmp_path)
    )
    assert bad_decimal.exit_code == 2 and "auto, point or comma" in bad_decimal.output
