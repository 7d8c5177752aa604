"""docs/cli.md shows the ``--help`` of every command exactly as the CLI prints it (the
datasette way: docs that cannot drift).

Each command's help sits in a fenced block after a marker ``<!-- help: segmint CMD -->``.
After changing a command, refresh the blocks with ``make cli-docs`` (which runs this module:
``python -m tests.cli.test_docs``).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
import typer
import typer.rich_utils
from typer.testing import CliRunner

from segmint.cli import app

DOCS = Path(__file__).parents[2] / "docs" / "cli.md"
WIDTH = 100
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_BLOCK = re.compile(r"(<!-- help: (?P<name>segmint[^>]*?) -->\n)```text\n.*?```\n", re.DOTALL)


def commands() -> list[tuple[str, ...]]:
    """Every command, as the words after ``segmint`` (groups such as ``types`` included)."""
    found: list[tuple[str, ...]] = []

    def walk(command, path: tuple[str, ...]) -> None:
        found.append(path)
        for name, sub in sorted(getattr(command, "commands", {}).items()):
            if not sub.hidden:
                walk(sub, (*path, name))

    walk(typer.main.get_command(app), ())
    return found


def help_text(path: tuple[str, ...]) -> str:
    """``segmint PATH --help`` at a fixed width, without colours or trailing blanks."""
    saved = typer.rich_utils.MAX_WIDTH, typer.rich_utils.FORCE_TERMINAL
    typer.rich_utils.MAX_WIDTH, typer.rich_utils.FORCE_TERMINAL = WIDTH, False
    try:
        result = CliRunner().invoke(app, [*path, "--help"], env={"NO_COLOR": "1"})
    finally:
        typer.rich_utils.MAX_WIDTH, typer.rich_utils.FORCE_TERMINAL = saved
    assert result.exit_code == 0, result.output
    lines = [line.rstrip() for line in _ANSI.sub("", result.output).splitlines()]
    return "\n".join(lines).strip("\n") + "\n"


def documented(text: str) -> dict[str, str]:
    """The help blocks of the docs by command name (``segmint types create``)."""
    return {
        m["name"]: m.group(0)[len(m.group(1)) + len("```text\n") : -len("```\n")]
        for m in _BLOCK.finditer(text)
    }


@pytest.mark.parametrize("path", commands(), ids=lambda p: " ".join(p) or "segmint")
def test_help_is_in_the_docs(path: tuple[str, ...]) -> None:
    name = " ".join(("segmint", *path))
    blocks = documented(DOCS.read_text(encoding="utf-8"))
    assert name in blocks, f"docs/cli.md has no <!-- help: {name} --> block; run make cli-docs"
    assert blocks[name] == help_text(path), f"the help of {name} changed; run make cli-docs"


def test_no_block_documents_a_command_that_does_not_exist() -> None:
    names = {" ".join(("segmint", *p)) for p in commands()}
    assert set(documented(DOCS.read_text(encoding="utf-8"))) <= names


def refresh() -> list[str]:
    """Rewrite every help block of docs/cli.md; returns the commands that have no block."""
    text = DOCS.read_text(encoding="utf-8")
    by_name = {" ".join(("segmint", *p)): p for p in commands()}

    def block(match: re.Match[str]) -> str:
        path = by_name.get(match["name"])
        body = help_text(path) if path is not None else "(no such command)\n"
        return f"{match.group(1)}```text\n{body}```\n"

    DOCS.write_text(_BLOCK.sub(block, text), encoding="utf-8")
    return sorted(set(by_name) - set(documented(text)))


if __name__ == "__main__":
    missing = refresh()
    for name in missing:
        print(f"docs/cli.md: add a block for {name}: <!-- help: {name} --> then ```text ```")
    sys.exit(1 if missing else 0)
