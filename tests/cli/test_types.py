"""``segmint types``: create, list, show, edit, delete; and how ``--org`` is chosen."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.conftest import ORG, Cli


def _write(path: Path, segments: list[dict]) -> str:
    path.write_text(json.dumps(segments))
    return str(path)


def test_org_is_required_while_there_are_several(cli: Cli) -> None:
    result = cli("types", "list")
    assert result.exit_code == 1
    assert "error: there are several organizations" in result.output
    assert "alpha-wholesale, beta-distribution, northwind-mfg" in result.output
    typo = cli("types", "list", "--org", "alpha")
    assert typo.exit_code == 1
    assert "no organization 'alpha' (known: alpha-wholesale" in typo.output


def test_the_only_organization_is_the_default(cli: Cli, data_dir: Path) -> None:
    (data_dir / "sales.duckdb").unlink()  # no store: only what the metadata database knows
    created = cli(
        "users",
        "create",
        "ann@example.com",
        "--role",
        "admin",
        "--org",
        "solo",
        "--password-stdin",
        input="a-long-password\n",
    )
    assert created.exit_code == 0, created.output
    result = cli("types", "list")
    assert result.exit_code == 0, result.output
    assert "solo has no segment types yet" in result.output


def test_create_list_show(cli: Cli, tmp_path: Path) -> None:
    segments = _write(
        tmp_path / "abc.json",
        [
            {"name": "A", "threshold": 70, "visit_every_days": 14, "priority": 1},
            {"name": "B", "threshold": 20.5, "visit_every_days": 30},
            {"name": "C", "threshold": 9.5, "is_default": True},
            {"name": "Dormant", "excluded": True, "description": "No longer buying"},
        ],
    )
    created = cli(
        "types", "create", "Key accounts", "--method", "pareto", "--org", ORG,
        "--segments", segments, "--min-sales", "100", "--months", "24",
        "--interval", "fixed_year", "--branch", "North", "--branch", "South",
        "--schedule", "0 6 1 * *", "--run-after-import", "--no-notify",
    )  # fmt: skip
    assert created.exit_code == 0, created.output
    assert "Created pareto type 'Key accounts' (id 1): A, B, C, Dormant" in created.output

    listed = cli("types", "list", "--org", ORG)
    assert listed.exit_code == 0, listed.output
    row = next(line for line in listed.output.splitlines() if "Key accounts" in line)
    assert "pareto" in row and "A, B, C, Dormant" in row and "never run" in row
    assert "yes" in row  # the first type of an organization is its default

    shown = cli("types", "show", "key accounts", "--org", ORG)
    assert shown.exit_code == 0, shown.output
    for expected in (
        "24 months, fixed year",
        "North, South",
        "minimum net sales  100",
        "0 6 1 * * (next ",
        "run after import   yes",
        "notify             no",
        "20.5",
        "No result yet",
    ):
        assert expected in shown.output, expected


def test_edit_fields_and_segments_keeps_segment_ids(cli: Cli, tmp_path: Path) -> None:
    assert cli("types", "create", "ABC", "--method", "pareto", "--org", ORG).exit_code == 0
    before = json.loads(cli("types", "show", "ABC", "--org", ORG, "--json").stdout)
    ids = {s["name"]: s["id"] for s in before}

    # By name, without ids: A, B and C are edited in place, "New" is added.
    segments = _write(
        tmp_path / "s.json",
        [
            {"name": "A", "threshold": 60},
            {"name": "B", "threshold": 30},
            {"name": "C", "threshold": 10},
            {"name": "New", "excluded": True},
        ],
    )
    edited = cli(
        "types", "edit", "ABC", "--org", ORG, "--segments", segments, "--name", "ABC 2",
        "--months", "6", "--shared", "--identity", "vat",
    )  # fmt: skip
    assert edited.exit_code == 0, edited.output
    assert "Changed name, identity, shared, timespan_months, segments of 'ABC 2'" in edited.output
    after = json.loads(cli("types", "show", "ABC 2", "--org", ORG, "--json").stdout)
    assert [(s["name"], s["threshold"]) for s in after] == [
        ("A", 60),
        ("B", 30),
        ("C", 10),
        ("New", 0),
    ]
    assert {s["name"]: s["id"] for s in after if s["name"] != "New"} == ids

    # The --json output is itself a valid segments file.
    (tmp_path / "back.json").write_text(json.dumps(after))
    again = cli("types", "edit", "ABC 2", "--org", ORG, "--segments", str(tmp_path / "back.json"))
    assert again.exit_code == 0, again.output


def test_thresholds_that_do_not_add_up_name_the_field(cli: Cli, tmp_path: Path) -> None:
    assert cli("types", "create", "ABC", "--method", "pareto", "--org", ORG).exit_code == 0
    segments = _write(tmp_path / "s.json", [{"name": "A", "threshold": 70}, {"name": "B"}])
    result = cli("types", "edit", "ABC", "--org", ORG, "--segments", segments)
    assert result.exit_code == 1
    assert result.output.strip() == (
        "error: segments.threshold: the thresholds of the non-excluded segments add up to 70 %, "
        "they must add up to 100 %"
    )
    assert "Traceback" not in result.output


def test_bad_segments_and_fields_exit_1_naming_them(cli: Cli, tmp_path: Path) -> None:
    cases = [
        ([{"name": "A", "threshold": 100, "colour": "red"}], "error: segments[0].colour: unknown"),
        ([{"threshold": 100}], "error: segments[0].name is missing"),
        ({"name": "A"}, "must hold a JSON list of segment objects"),
        (
            [{"name": "A", "threshold": 100}, {"name": "a", "threshold": 0}],
            "error: segments[1].name: 'a' is used twice",
        ),
    ]
    for i, (segments, message) in enumerate(cases):
        path = tmp_path / f"s{i}.json"
        path.write_text(json.dumps(segments))
        result = cli("types", "create", f"T{i}", "--method", "pareto", "--org", ORG,
                     "--segments", str(path))  # fmt: skip
        assert result.exit_code == 1, result.output
        assert message in result.output
    (tmp_path / "broken.json").write_text("[{")
    broken = cli("types", "create", "T", "--method", "pareto", "--org", ORG,
                 "--segments", str(tmp_path / "broken.json"))  # fmt: skip
    assert broken.exit_code == 1 and "is not valid JSON" in broken.output
    rfm = cli("types", "create", "R", "--method", "rfm", "--org", ORG, "--min-sales", "5")
    assert rfm.exit_code == 1
    assert rfm.output.startswith("error: min_sales: RFM types use all sales")
    cron = cli("types", "create", "S", "--method", "pareto", "--org", ORG, "--schedule", "soon")
    assert cron.exit_code == 1 and "error: schedule 'soon' is not a cron expression" in cron.output
    clash = cli("types", "create", "T0", "--method", "pareto", "--org", ORG)
    assert clash.exit_code == 0
    again = cli("types", "create", "t0", "--method", "pareto", "--org", ORG)
    assert again.exit_code == 1
    assert "error: name: a segment type named 't0' already exists" in again.output


def test_unknown_type_exits_1(cli: Cli) -> None:
    for args in (
        ("types", "show", "Nope"),
        ("types", "edit", "Nope", "--months", "3"),
        ("types", "delete", "Nope", "--yes"),
        ("run", "Nope"),
        ("export", "Nope", "-o", "x.csv"),
        ("override", "100001", "Nope", "A"),
        ("clear-manual", "Nope", "--yes"),
    ):
        result = cli(*args, "--org", ORG)
        assert result.exit_code == 1, args
        assert result.output.strip() == "error: no segment type named 'Nope'", args


def test_edit_needs_something_to_change(cli: Cli) -> None:
    assert cli("types", "create", "ABC", "--method", "pareto", "--org", ORG).exit_code == 0
    assert cli("types", "edit", "ABC", "--org", ORG).exit_code == 2
    both = cli("types", "edit", "ABC", "--org", ORG, "--branch", "X", "--no-branches")
    assert both.exit_code == 2 and "contradict" in both.output


def test_delete_asks_unless_yes(cli: Cli) -> None:
    assert cli("types", "create", "ABC", "--method", "pareto", "--org", ORG).exit_code == 0
    refused = cli("types", "delete", "ABC", "--org", ORG, input="n\n")
    assert refused.exit_code == 1 and "Nothing changed" in refused.output
    assert "ABC" in cli("types", "list", "--org", ORG).output
    deleted = cli("types", "delete", "ABC", "--org", ORG, "--yes")
    assert deleted.exit_code == 0, deleted.output
    assert "Deleted 'ABC' (id 1) and 0 manual override(s)." in deleted.output
    assert "has no segment types yet" in cli("types", "list", "--org", ORG).output
