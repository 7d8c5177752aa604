"""``segmint serve`` and ``segmint demo``."""

from __future__ import annotations

import os
import shutil
import sys
from typing import Annotated

import typer
from rich.console import Console

from segmint.errors import SegmintError
from segmint.progress import progress_bar
from segmint.settings import Settings
from segmint.store import SalesStore

HostOption = Annotated[
    str | None, typer.Option(help="Address to listen on. Default: SEGMINT_HOST or 127.0.0.1.")
]
PortOption = Annotated[
    int | None, typer.Option(help="Port to listen on. Default: SEGMINT_PORT or 8000.")
]
WorkersOption = Annotated[
    int | None,
    typer.Option(
        min=1,
        max=64,
        help="Processes serving requests (one per core for a busy server). "
        "Default: SEGMINT_WEB_WORKERS or 1.",
    ),
]


def _settings(host: str | None, port: int | None, workers: int | None = None) -> Settings:
    given = {"host": host, "port": port, "web_workers": workers}
    return Settings(**{k: v for k, v in given.items() if v is not None})


def _url(settings: Settings) -> str:
    # A wildcard address is not something a browser can open; point at this machine instead.
    host = {"0.0.0.0": "127.0.0.1", "::": "[::1]"}.get(settings.host, settings.host)
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{settings.port}"


def _run(settings: Settings) -> None:
    import uvicorn

    from segmint.web.app import create_app

    if settings.web_workers == 1:
        uvicorn.run(create_app(settings), host=settings.host, port=settings.port)
        return
    # Several processes: each builds its app from the environment, so what the command line
    # changed goes there first. The database is migrated once, here,
    # before any of them starts.
    from segmint.metadata.database import Database
    from segmint.metadata.migrate import upgrade

    db = Database.from_settings(settings)
    try:
        upgrade(db)
    finally:
        db.dispose()
    # What the processes of an earlier server shared may come from another version of Segmint.
    shutil.rmtree(settings.shared_cache_dir, ignore_errors=True)
    os.environ.update(
        SEGMINT_HOST=settings.host,
        SEGMINT_PORT=str(settings.port),
        SEGMINT_WEB_WORKERS=str(settings.web_workers),
    )
    from segmint.web import processes

    if processes.supported():  # a listening socket per process: connections spread evenly
        processes.serve(host=settings.host, port=settings.port, count=settings.web_workers)
        return
    uvicorn.run(
        "segmint.web.app:app_from_environment",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.web_workers,
    )


def serve_command(
    host: HostOption = None, port: PortOption = None, workers: WorkersOption = None
) -> None:
    """Start the web app."""
    settings = _settings(host, port, workers)
    Console().print(f"Segmint at [bold]{_url(settings)}[/bold]  (Ctrl-C to stop)")
    try:
        _run(settings)
    except SegmintError as exc:
        Console(stderr=True).print(f"[red]Error:[/red] {exc}")
        raise typer.Exit(1) from exc


def _load_demo_data(settings: Settings, console: Console) -> None:
    # Imported here: the demo generator pulls in numpy and is only needed by this command.
    from segmint.demo.service import load_demo_data

    with progress_bar(console, "Creating demo data") as progress:
        load_demo_data(settings=settings, progress=progress)
        progress("Demo data ready", 1.0)


def _prepare_accounts(settings: Settings, console: Console) -> list:
    # Imported here: SQLAlchemy and the run worker are only needed by this command.
    from segmint.demo.accounts import prepare_demo
    from segmint.metadata.database import Database
    from segmint.metadata.migrate import upgrade

    db = Database.from_settings(settings)
    try:
        upgrade(db)
        with progress_bar(console, "Preparing accounts and segment types") as progress:
            logins = prepare_demo(settings=settings, db=db, progress=progress)
    finally:
        db.dispose()
    return logins


def demo_command(host: HostOption = None, port: PortOption = None) -> None:
    """Create the demo data, accounts and segment types when missing, then start the web app."""
    console = Console()
    settings = _settings(host, port)
    store = SalesStore.from_settings(settings)
    try:
        if store.is_empty():
            console.print(f"The sales store {store.path} is empty: creating the demo data.")
            _load_demo_data(settings, console)
        else:
            console.print(f"Using the existing data in {store.path}.")
        logins = _prepare_accounts(settings, console)
    except SegmintError as exc:
        Console(stderr=True).print(f"[red]Error:[/red] {exc}")
        raise typer.Exit(1) from exc

    from segmint.demo.accounts import DEMO_PASSWORD

    console.print()
    console.print(f"Open [bold]{_url(settings)}[/bold] in your browser and log in as:")
    for login in logins:
        console.print(f"  {login.email:<40} {login.role}", soft_wrap=True)
    if logins:
        console.print(f"Password for every demo account: [bold]{DEMO_PASSWORD}[/bold]")
    console.print("Press Ctrl-C to stop.", style="dim")
    sys.stdout.flush()
    _run(settings)
