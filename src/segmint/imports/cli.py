"""``segmint import``: load a CSV, Excel or Parquet file into the sales store."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from segmint.errors import ImportFailed, SegmintError, StrictImportRejected
from segmint.imports.options import ImportOptions
from segmint.imports.service import ImportReport, import_file
from segmint.progress import progress_bar
from segmint.settings import Settings
from segmint.store import SalesStore


def parse_mapping(pairs: list[str]) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for pair in pairs:
        source, sep, canonical = pair.partition("=")
        if not sep or not source.strip() or not canonical.strip():
            raise typer.BadParameter(
                f"{pair!r}: write SOURCE=CANONICAL, e.g. --map Belegnr=document_id",
                param_hint="--map",
            )
        mapping[source.strip()] = canonical.strip()
    return mapping


def import_command(
    kind: Annotated[str, typer.Argument(help="What the file holds: sales, customers or products.")],
    file: Annotated[Path, typer.Argument(help="A .csv/.txt/.tsv, .xlsx or .parquet file.")],
    org: Annotated[str, typer.Option("--org", help="Organization the data belongs to.")],
    map_: Annotated[
        list[str] | None,
        typer.Option("--map", help="SOURCE=CANONICAL column mapping; repeat for several."),
    ] = None,
    strict: Annotated[
        bool, typer.Option("--strict", help="Import nothing when any row is rejected.")
    ] = False,
    delimiter: Annotated[
        str | None, typer.Option(help="CSV delimiter (default: detected).")
    ] = None,
    decimal: Annotated[
        str, typer.Option(help="Decimal separator in amounts: auto, point or comma.")
    ] = "auto",
    encoding: Annotated[
        str | None, typer.Option(help="CSV encoding (default: UTF-8, else cp1252).")
    ] = None,
    date_format: Annotated[
        str | None, typer.Option(help="strptime format of dates, e.g. %d/%m/%Y.")
    ] = None,
    sheet: Annotated[str | None, typer.Option(help="Excel sheet (default: the first).")] = None,
    rejects: Annotated[
        Path | None,
        typer.Option(help="Where to write the rejects CSV (default: the data directory)."),
    ] = None,
) -> None:
    """Import a file; every rejected row is reported with row, column, value and reason."""
    console = Console(stderr=True)
    if decimal not in ("auto", "point", "comma"):
        raise typer.BadParameter(f"{decimal!r}: use auto, point or comma", param_hint="--decimal")
    settings = Settings()
    options = ImportOptions(
        delimiter=delimiter,
        decimal=decimal,
        encoding=encoding,
        date_format=date_format,
        sheet=sheet,
        mapping=parse_mapping(map_ or []),
    )
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    rejects_path = rejects or settings.rejects_dir / f"{stamp}-{org}-{kind}-{file.stem}.csv"
    with progress_bar(console, f"importing {file.name}", transient=True) as bar:

        def on_progress(stage: str, fraction: float) -> None:
            bar(f"{stage} {file.name}", fraction)
            # The "writing" stage starts the transaction on the store; tests wait for it.
            if stage == "writing" and not console.is_terminal:
                console.print(f"stage: {stage}")

        try:
            report = import_file(
                store=SalesStore.from_settings(settings),
                org=org,
                kind=kind,
                path=file,
                options=options,
                strict=strict,
                rejects_path=rejects_path,
                on_progress=on_progress,
            )
        except StrictImportRejected as exc:
            console.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(1) from exc
        except (ImportFailed, SegmintError) as exc:
            console.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(2) from exc
    print_report(report, Console())
    _start_runs_after_import(settings, org, console)


def _start_runs_after_import(settings: Settings, org: str, console: Console) -> None:
    """Queue a run of every type of ``org`` that follows its data, and say which."""
    # Imported here: the metadata database is not needed for --help or a failed import.
    from segmint.accounts.service import ensure_organization
    from segmint.cli_support import open_database, say
    from segmint.runs.schedule import start_runs_after_import

    try:
        db = open_database(settings)
        with db.session() as session:
            ensure_organization(session=session, slug=org)
        runs = start_runs_after_import(db, org=org)
    except SegmintError as exc:
        # The data is in; only the follow-up runs could not be queued.
        say(f"warning: the data is in, but no runs were queued: {exc}", err=True)
        return
    if not runs:
        return
    from sqlalchemy import select

    from segmint.segments.models import SegmentType

    with db.read_session() as session:
        names = dict(
            session.execute(
                select(SegmentType.id, SegmentType.name).where(
                    SegmentType.id.in_([r.type_id for r in runs])
                )
            ).all()
        )
    for run in runs:
        say(f"Queued run {run.id} of {names.get(run.type_id)!r} (it runs after imports).")
    say(
        "The web app's worker or `segmint worker` computes them; "
        "`segmint run TYPE --wait` waits for one."
    )


def print_report(report: ImportReport, console: Console) -> None:
    summary = Table(title=f"{report.kind} from {report.source.name} into {report.org}")
    for name in ("read", "accepted", "rejected", "already present", "warnings"):
        summary.add_column(name, justify="right")
    summary.add_row(
        f"{report.rows_read:,}",
        f"{report.accepted:,}",
        f"{report.rejected:,}",
        f"{report.already_present:,}",
        f"{report.warnings:,}",
    )
    console.print(summary)
    if report.rejects:
        shown = Table(title="first rejects" if report.rejected > len(report.rejects) else "rejects")
        for name in ("row", "column", "value", "code", "message"):
            shown.add_column(name)
        for r in report.rejects:
            shown.add_row(str(r.row), r.column, r.value or "", r.code, r.message)
        console.print(shown)
    if report.codes:
        console.print(
            "by reason: " + ", ".join(f"{code} {n:,}" for code, n in sorted(report.codes.items()))
        )
    if report.rejects_file:
        console.print(f"all rejects and warnings: {report.rejects_file}")
