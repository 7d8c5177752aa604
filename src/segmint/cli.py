"""The ``segmint`` command line. Each domain keeps its commands in its own ``cli.py``; this
module only assembles them."""

from __future__ import annotations

import typer

from segmint.accounts.cli import users_app
from segmint.analysis.cli import abc_command, rfm_command
from segmint.assignments.cli import clear_manual_command, export_command, override_command
from segmint.demo.cli import demo_data_command
from segmint.imports.cli import import_command
from segmint.metadata.cli import db_app
from segmint.runs.cli import run_command, worker_command
from segmint.segments.cli import types_app
from segmint.sharing.cli import connections_app
from segmint.web.cli import demo_command, serve_command

app = typer.Typer(
    name="segmint",
    help="Customer segmentation for B2B sales teams: ABC tiers and RFM segments.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("import")(import_command)
app.command("serve")(serve_command)
app.command("demo")(demo_command)
app.command("demo-data")(demo_data_command)
app.command("abc")(abc_command)
app.command("rfm")(rfm_command)
app.add_typer(types_app)
app.command("run")(run_command)
app.command("override")(override_command)
app.command("clear-manual")(clear_manual_command)
app.command("export")(export_command)
app.command("worker")(worker_command)
app.add_typer(users_app)
app.add_typer(connections_app)
app.add_typer(db_app)


def main() -> None:
    app()


if __name__ == "__main__":  # `python -m segmint.cli`, used by tests that kill an import
    main()
