"""``segmint db upgrade``: bring the metadata database to the newest schema."""

from __future__ import annotations

import typer

from segmint.cli_support import exits_on_domain_errors, migrate, say
from segmint.settings import Settings

db_app = typer.Typer(
    name="db",
    help="The metadata database (segment types, runs, overrides, users).",
    no_args_is_help=True,
)


@db_app.command("upgrade")
@exits_on_domain_errors
def upgrade_command() -> None:
    """Apply every missing migration to the metadata database.

    The database is SEGMINT_METADATA_URL (default: a SQLite file in the data directory). Every
    other command, the web app and the worker do this when they start, so a fresh install
    needs no extra step; run it on its own to upgrade before starting the servers.
    """
    from sqlalchemy import make_url

    from segmint.metadata.database import Database

    settings = Settings()
    db = Database.from_settings(settings)
    before, after = migrate(db)
    say(f"Metadata database: {make_url(db.url).render_as_string(hide_password=True)}")
    if before == after:
        say(f"The metadata database is up to date (revision {after}).")
    else:
        say(f"Upgraded the metadata database from {before or 'empty'} to {after}.")
