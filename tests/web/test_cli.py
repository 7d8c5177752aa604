"""``segmint serve`` and ``segmint demo`` without starting a server (``_run`` is replaced)."""

from __future__ import annotations

import inspect
import sys
import types
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

    service = types.ModuleType("segmint.demo.service")
    service.load_demo_data = load_demo_data  # type: ignore[attr-defined]
    package = types.ModuleType("segmint.demo")
    package.service = service  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "segmint.demo", package)
    monkeypatch.setitem(sys.modules, "segmint.demo.service", service)
    return calls


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
    assert "No login is needed yet" in out
    assert "demo-maker" in out


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
    assert "mine" in out
    assert "http://127.0.0.1:8124" in out


def test_commands_and_options_are_documented() -> None:
    doc = (Path(__file__).parents[2] / "docs" / "web.md").read_text(encoding="utf-8")
    for name, command in [("serve", cli.serve_command), ("demo", cli.demo_command)]:
        assert f"segmint {name}" in doc
        for param in inspect.signature(command).parameters:
            assert f"--{param.replace('_', '-')}" in doc, (name, param)
