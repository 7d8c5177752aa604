"""``segmint connections list|invite|accept|decline|end``, in-process with Typer's CliRunner,
against a data directory of its own with three organizations in the sales store."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from segmint.cli import app
from segmint.settings import Settings
from segmint.store import SalesStore


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    data = tmp_path / "data"
    monkeypatch.chdir(tmp_path)  # no .env file of the developer's
    monkeypatch.setenv("SEGMINT_DATA_DIR", str(data))
    for name in ("SEGMINT_METADATA_URL", "SEGMINT_SALES_STORE", "SEGMINT_ENVIRONMENT"):
        monkeypatch.delenv(name, raising=False)
    with SalesStore.from_settings(Settings(_env_file=None)).connect() as con:
        con.execute(
            "INSERT INTO customers (org, customer_id) "
            "VALUES ('maker', 'M1'), ('shop', 'S1'), ('other', 'O1')"
        )
    runner = CliRunner()

    def invoke(*args: str) -> Result:
        return runner.invoke(app, list(args), env={"COLUMNS": "200"})

    return invoke


def test_invite_accept_list_and_end(cli) -> None:
    empty = cli("connections", "list", "--org", "maker")
    assert empty.exit_code == 0, empty.output
    assert "maker has no connections yet" in empty.output
    assert "maker shares: no segment type." in empty.output

    invited = cli("connections", "invite", "shop", "--org", "maker")
    assert invited.exit_code == 0, invited.output
    assert invited.output.strip() == "Invited shop (connection 1); waiting for it to accept."
    created = cli(
        "types", "create", "Key accounts", "--method", "pareto", "--identity", "vat",
        "--shared", "--org", "maker",
    )  # fmt: skip
    assert created.exit_code == 0, created.output

    accepted = cli("connections", "accept", "maker", "--org", "shop")
    assert accepted.exit_code == 0, accepted.output
    assert accepted.output.strip() == "Connection 1 with maker: active."
    listed = cli("connections", "list", "--org", "shop")
    assert listed.exit_code == 0, listed.output
    row = next(line for line in listed.output.splitlines() if "maker" in line and "active" in line)
    assert "incoming" in row and "Key accounts" in row
    assert "shop shares: no segment type." in listed.output
    assert "maker shares: Key accounts." in cli("connections", "list", "--org", "maker").output

    ended = cli("connections", "end", "1", "--org", "maker")
    assert ended.exit_code == 0, ended.output
    assert ended.output.strip() == "Connection 1 with shop: ended."


def test_decline_and_errors(cli) -> None:
    assert cli("connections", "invite", "shop", "--org", "maker").exit_code == 0
    declined = cli("connections", "decline", "maker", "--org", "shop")
    assert declined.output.strip() == "Connection 1 with maker: declined."
    for args, message in (
        (("invite", "maker", "--org", "maker"), "error: slug: that is your own organization"),
        (("invite", "nobody", "--org", "maker"), "error: slug: no organization 'nobody'"),
        (
            ("accept", "shop", "--org", "maker"),
            "error: no pending or active connection with 'shop'",
        ),
        (("accept", "1", "--org", "other"), "error: no connection 1"),
        (("end", "1", "--org", "maker"), "error: connection 1 is already declined"),
    ):
        result = cli("connections", *args)
        assert result.exit_code == 1, (args, result.output)
        assert result.output.strip().startswith(message), (args, result.output)
    assert cli("connections", "invite", "shop", "--org", "maker").exit_code == 0
    twice = cli("connections", "invite", "maker", "--org", "shop")
    assert twice.exit_code == 1
    assert "accept their invitation (connection 2) instead" in twice.output
    own = cli("connections", "accept", "shop", "--org", "maker")
    assert own.exit_code == 1 and "you sent this invitation" in own.output
