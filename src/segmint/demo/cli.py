"""``segmint demo-data``: generate the demo data set and import it into the sales store."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from segmint.demo import DEFAULT_LINES, DEFAULT_SEED
from segmint.errors import SegmintError
from segmint.progress import progress_bar
from segmint.settings import Settings


def _parse_as_of(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter(
            f"{value!r}: write the date as YYYY-MM-DD", param_hint="--as-of"
        ) from exc


def demo_data_command(
    lines: Annotated[
        int,
        typer.Option(
            min=0,
            help="Sales lines in total over the three organizations "
            "(e.g. 50000000 for benchmark data).",
        ),
    ] = DEFAULT_LINES,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same data.")] = (
        DEFAULT_SEED
    ),
    as_of: Annotated[
        str | None,
        typer.Option(help="Last invoice day, YYYY-MM-DD (default: today)."),
    ] = None,
) -> None:
    """Create deterministic demo data (a manufacturer and two wholesalers) and import it."""
    # Imported here: the generator pulls in numpy, which other commands do not need.
    from segmint.demo.service import load_demo_data

    day = _parse_as_of(as_of)
    console = Console()
    settings = Settings()
    with progress_bar(console, "creating demo data", transient=True) as progress:
        try:
            summary = load_demo_data(
                settings=settings, lines=lines, seed=seed, as_of=day, progress=progress
            )
        except SegmintError as exc:
            console.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(2) from exc

    table = Table(title=f"Demo data (seed {summary.seed}) in {settings.sales_store_path}")
    for name, justify in (
        ("org", "left"),
        ("customers", "right"),
        ("products", "right"),
        ("lines", "right"),
        ("date range", "left"),
    ):
        table.add_column(name, justify=justify)
    for org in summary.orgs:
        span = f"{org.first_invoice} – {org.last_invoice}" if org.first_invoice else "–"
        table.add_row(org.org, f"{org.customers:,}", f"{org.products:,}", f"{org.lines:,}", span)
    console.print(table)
    console.print(
        f"generated in {summary.generate_seconds:.1f} s, imported in "
        f"{summary.import_seconds:.1f} s; files in {settings.demo_dir}"
    )
    rejected = sum(org.rejected for org in summary.orgs)
    if rejected:  # pragma: no cover - would be a bug in the generator
        console.print(f"[red]{rejected} demo rows were rejected by the import[/red]")
        raise typer.Exit(1)
