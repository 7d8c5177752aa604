"""``segmint override``, ``clear-manual`` and ``export`` (CSV and Excel)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from openpyxl import load_workbook

from segmint.assignments import export
from tests.cli.conftest import AS_OF, ORG, Cli

# A formula a spreadsheet would run, as a customer name and as an override reason.
EVIL = '=HYPERLINK("http://evil.example","click")'


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _first_in(rows: list[dict[str, str]], segment: str) -> str:
    return next(r["customer_id"] for r in rows if r["automatic_segment"] == segment)


@pytest.fixture
def exported(cli: Cli, pareto: str, tmp_path: Path) -> list[dict[str, str]]:
    result = cli("export", pareto, "--org", ORG, "-o", str(tmp_path / "before.csv"))
    assert result.exit_code == 0, result.output
    return _csv(tmp_path / "before.csv")


def test_override_then_clear(cli: Cli, pareto: str, exported, tmp_path: Path) -> None:
    customer = _first_in(exported, "A")
    result = cli("override", customer, pareto, "c", "--org", ORG, "--reason", "Key account lost")
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"{customer} is now in 'C' of 'Sales Performance' (manual)."

    cli("export", pareto, "--org", ORG, "-o", str(tmp_path / "after.csv"))
    row = next(r for r in _csv(tmp_path / "after.csv") if r["customer_id"] == customer)
    assert (row["effective_segment"], row["automatic_segment"], row["manual_segment"]) == (
        "C",
        "A",
        "C",
    )
    assert row["reason"] == "Key account lost"
    assert "1" in cli("types", "show", pareto, "--org", ORG).output.split("manual overrides")[1]

    # A run keeps the override.
    assert cli("run", pareto, "--org", ORG, "--wait", "--as-of", str(AS_OF)).exit_code == 0
    cli("export", pareto, "--org", ORG, "-o", str(tmp_path / "rerun.csv"))
    row = next(r for r in _csv(tmp_path / "rerun.csv") if r["customer_id"] == customer)
    assert row["effective_segment"] == "C"

    cleared = cli("override", customer, pareto, "--clear", "--org", ORG)
    assert cleared.exit_code == 0, cleared.output
    cli("export", pareto, "--org", ORG, "-o", str(tmp_path / "cleared.csv"))
    row = next(r for r in _csv(tmp_path / "cleared.csv") if r["customer_id"] == customer)
    assert (row["effective_segment"], row["manual_segment"], row["reason"]) == ("A", "", "")

    again = cli("override", customer, pareto, "--clear", "--org", ORG)
    assert again.exit_code == 1
    assert again.output.strip() == (
        f"error: customer '{customer}' has no manual segment in 'Sales Performance'"
    )


def test_override_errors(cli: Cli, pareto: str, exported) -> None:
    customer = exported[0]["customer_id"]
    bad_segment = cli("override", customer, pareto, "Z", "--org", ORG)
    assert bad_segment.exit_code == 1
    assert bad_segment.output.strip() == (
        "error: segment 'Z' is not a segment of 'Sales Performance' (its segments: A, B, C)"
    )
    unknown = cli("override", "NO-SUCH-CUSTOMER", pareto, "A", "--org", ORG)
    assert unknown.exit_code == 1
    assert "error: no customer 'NO-SUCH-CUSTOMER' in this organization" in unknown.output
    neither = cli("override", customer, pareto, "--org", ORG)
    assert neither.exit_code == 2 and "give either a SEGMENT or --clear" in neither.output
    both = cli("override", customer, pareto, "A", "--clear", "--org", ORG)
    assert both.exit_code == 2


def test_a_customer_imported_after_the_run_can_be_overridden(
    cli: Cli, pareto: str, tmp_path: Path
) -> None:
    """Not in the type's result yet, but known to the sales store."""
    _rename_customer(cli, tmp_path, "NEW-1", "Newcomer Ltd")
    result = cli("override", "NEW-1", pareto, "A", "--org", ORG, "--reason", "strategic")
    assert result.exit_code == 0, result.output
    cli("export", pareto, "--org", ORG, "-o", str(tmp_path / "out.csv"))
    row = next(r for r in _csv(tmp_path / "out.csv") if r["customer_id"] == "NEW-1")
    assert row["customer_name"] == "Newcomer Ltd"
    assert (row["effective_segment"], row["automatic_segment"], row["manual_segment"]) == (
        "A",
        "",
        "A",
    )


def test_clear_manual(cli: Cli, pareto: str, exported) -> None:
    for row in exported[:3]:
        assert cli("override", row["customer_id"], pareto, "B", "--org", ORG).exit_code == 0
    refused = cli("clear-manual", pareto, "--org", ORG)  # no terminal to say yes on
    assert refused.exit_code == 1
    result = cli("clear-manual", pareto, "--org", ORG, "--yes")
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "Removed 3 manual segment(s) of 'Sales Performance'."
    assert "Removed 0" in cli("clear-manual", pareto, "--org", ORG, "--yes").output


def _rename_customer(cli: Cli, tmp_path: Path, customer: str, name: str) -> None:
    customers = tmp_path / "customers.csv"
    with customers.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([["customer_id", "name"], [customer, name]])
    result = cli("import", "customers", str(customers), "--org", ORG)
    assert result.exit_code == 0, result.output


def test_export_csv_neutralizes_formulas(cli: Cli, pareto: str, exported, tmp_path) -> None:
    assert len(exported) == 723
    assert list(exported[0]) == [
        "customer_id",
        "customer_name",
        "effective_segment",
        "automatic_segment",
        "manual_segment",
        "reason",
        "eligible_sales",
        "rank",
    ]
    keys = [r["customer_id"] for r in exported]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    top = next(r for r in exported if r["rank"] == "1")
    assert top["automatic_segment"] == "A" and top["customer_name"]

    evil_name, evil_reason = _first_in(exported, "A"), _first_in(exported, "B")
    _rename_customer(cli, tmp_path, evil_name, EVIL)
    assert cli("override", evil_reason, pareto, "A", "--org", ORG, "--reason", EVIL).exit_code == 0
    assert cli("override", evil_name, pareto, "C", "--org", ORG, "--reason", "-1").exit_code == 0

    result = cli("export", pareto, "--org", ORG, "-o", str(tmp_path / "out.csv"))
    assert result.exit_code == 0, result.output
    assert "Wrote 723 customer(s) of 'Sales Performance'" in result.output
    rows = {r["customer_id"]: r for r in _csv(tmp_path / "out.csv")}
    assert rows[evil_name]["customer_name"] == "'" + EVIL
    assert rows[evil_name]["reason"] == "'-1"
    assert rows[evil_reason]["reason"] == "'" + EVIL
    assert not any(v.startswith(("=", "+", "@")) for r in rows.values() for v in r.values())


def test_export_xlsx(cli: Cli, pareto: str, exported, tmp_path: Path) -> None:
    customer = _first_in(exported, "A")
    assert cli("override", customer, pareto, "B", "--org", ORG, "--reason", EVIL).exit_code == 0
    path = tmp_path / "out.xlsx"
    result = cli("export", pareto, "--org", ORG, "-o", str(path))
    assert result.exit_code == 0, result.output
    book = load_workbook(path, read_only=True)
    rows = list(book.active.iter_rows(values_only=True))
    book.close()  # read-only workbooks keep the file open until closed
    header, body = rows[0], [list(r) for r in rows[1:]]
    assert header[:6] == ("customer_id", "customer_name", "effective_segment",
                          "automatic_segment", "manual_segment", "reason")  # fmt: skip
    assert len(body) == 723
    row = next(r for r in body if r[0] == customer)
    assert row[2:6] == ["B", "A", "B", "'" + EVIL]
    assert isinstance(row[6], float | int) and row[6] > 0  # eligible sales as a number
    assert sum(1 for r in body if r[3] == "A") == 85


def test_export_rfm_columns_and_pages(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(export, "PAGE_ROWS", 100)  # 723 customers: 8 pages
    assert cli("types", "create", "RFM", "--method", "rfm", "--org", ORG).exit_code == 0
    assert cli("run", "RFM", "--org", ORG, "--wait", "--as-of", str(AS_OF)).exit_code == 0
    result = cli("export", "RFM", "--org", ORG, "-o", str(tmp_path / "rfm.csv"))
    assert result.exit_code == 0, result.output
    rows = _csv(tmp_path / "rfm.csv")
    assert list(rows[0])[6:] == [
        "recency_days",
        "frequency",
        "monetary",
        "r_score",
        "f_score",
        "m_score",
    ]
    keys = [r["customer_id"] for r in rows]
    assert len(keys) == 723 and keys == sorted(set(keys))
    scored = [r for r in rows if r["r_score"]]
    assert scored and all(1 <= int(r[m]) <= 5 for r in scored for m in ("r_score", "f_score"))


def test_export_to_another_format_is_refused(cli: Cli, pareto: str, tmp_path: Path) -> None:
    result = cli("export", pareto, "--org", ORG, "-o", str(tmp_path / "out.json"))
    assert result.exit_code == 1
    assert result.output.strip() == "error: output: out.json: export to a .csv or an .xlsx file"
    assert not list(tmp_path.glob("*out.json*"))
