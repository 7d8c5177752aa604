"""``segmint serve`` and ``segmint demo`` without starting a server (``_run`` is replaced)."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from segmint.settings import Settings
from segmint.store import SalesStore
from segmint.web import cli


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A data directory from the environment, no .env file, and a server that does not start."""
    monkeypatch.chdir(tmp_path)
    data_dir = tmp_path / "data"
    monkeypatch.setenv("SEGMINT_DATA_DIR", str(data_dir))
    for name in ("SEGMINT_HOST", "SEGMINT_PORT", "SEGMINT_SALES_STORE"):
        monkeypatch.delenv(name, raising=False)
    return data_dir


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[Settings]:
    calls: list[Settings] = []
    monkeypatch.setattr(cli, "_run", calls.append)
    return calls


@pytest.fixture
def fake_demo(monkeypatch: pytest.MonkeyPatch) -> list[list[tuple[str, float]]]:
    """A stand-in for ``segmint.demo.service`` that writes one org and reports progress."""
    calls: list[list[tuple[str, float]]] = []

    def load_demo_data(*, settings: Settings, progress) -> None:
        seen: list[tuple[str, float]] = []
        calls.append(seen)
        for stage, fraction in [("customers", 0.2), ("invoices", 0.9)]:
            seen.append((stage, fraction))
            progress(stage, fraction)
        with SalesStore.from_settings(settings).connect() as con:
            con.execute(
                "INSERT INTO sales_lines (org, document_id, invoice_date, customer_id, "
                "net_amount) VALUES ('demo-maker', 'D1', DATE '2025-01-02', 'C1', 10)"
            )

    from segmint.demo import service

    monkeypatch.setattr(service, "load_demo_data", load_demo_data)
    return calls


def _demo_types(settings: Settings) -> dict[str, list[tuple[str, str, bool]]]:
    """Per organization: (type name, method, has a current result)."""
    from sqlalchemy import select

    from segmint.accounts.models import Organization
    from segmint.metadata.database import Database
    from segmint.segments.models import SegmentType

    db = Database.from_settings(settings)
    try:
        with db.read_session() as session:
            rows = session.execute(
                select(Organization.slug, SegmentType.name, SegmentType.method,
                       SegmentType.current_run_id)
                .join(SegmentType, SegmentType.organization_id == Organization.id)
                .order_by(SegmentType.id)
            ).all()  # fmt: skip
    finally:
        db.dispose()
    found: dict[str, list[tuple[str, str, bool]]] = {}
    for slug, name, method, run_id in rows:
        found.setdefault(slug, []).append((name, method, run_id is not None))
    return found


def test_serve_uses_settings_and_options(env: Path, served: list[Settings], capsys) -> None:
    cli.serve_command(host=None, port=None)
    cli.serve_command(host="0.0.0.0", port=8123)
    assert [(s.host, s.port) for s in served] == [("127.0.0.1", 8000), ("0.0.0.0", 8123)]
    assert served[0].data_dir == env
    out = capsys.readouterr().out
    assert "http://127.0.0.1:8000" in out
    assert "http://127.0.0.1:8123" in out  # a wildcard address is shown as one a browser opens


def test_demo_fills_an_empty_store_then_serves(
    env: Path,
    served: list[Settings],
    fake_demo: list,
    capsys,
) -> None:
    cli.demo_command()
    assert len(fake_demo) == 1
    assert len(served) == 1
    assert not SalesStore.from_settings(served[0]).is_empty()
    out = capsys.readouterr().out
    assert "http://127.0.0.1:8000" in out
    assert "admin@demo-maker.example.com" in out
    assert "manager@demo-maker.example.com" in out
    assert "segmint-demo" in out
    # Every page has something to show: the types exist and have run.
    assert _demo_types(served[0]) == {
        "demo-maker": [("ABC by sales", "pareto", True), ("Buying behaviour", "rfm", True)]
    }
    # A second start changes nothing and creates no second set of types.
    cli.demo_command()
    assert len(_demo_types(served[1])["demo-maker"]) == 2


def test_demo_keeps_existing_data(
    env: Path,
    served: list[Settings],
    fake_demo: list,
    capsys,
) -> None:
    with SalesStore(env / "sales.duckdb").connect() as con:
        con.execute("INSERT INTO customers (org, customer_id) VALUES ('mine', 'C1')")
        con.execute(
            "INSERT INTO sales_lines (org, document_id, invoice_date, customer_id, net_amount) "
            "VALUES ('mine', 'D1', DATE '2025-01-02', 'C1', 10)"
        )
    cli.demo_command(port=8124)
    assert fake_demo == []
    assert served[0].port == 8124
    out = capsys.readouterr().out
    assert "existing data" in out
    assert "rep@mine.example.com" in out
    assert "http://127.0.0.1:8124" in out


def test_commands_and_options_are_documented() -> None:
    doc = (Path(__file__).parents[2] / "docs" / "web.md").read_text(encoding="utf-8")
    for name, command in [("serve", cli.serve_command), ("demo", cli.demo_command)]:
        assert f"segmint {name}" in doc
        for param in inspect.signature(command).parameters:
            assert f"--{param.replace('_', '-')}" in doc, (name, param)
