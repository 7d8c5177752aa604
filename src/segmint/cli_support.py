"""What every command on the metadata database shares: ``--org``, opening (and migrating) the
database, the actor, and turning a domain error into one line and exit code 1.

The CLI acts as :func:`~segmint.accounts.service.system_actor`: it is run by whoever operates
the machine, who can read the database file or URL anyway, so it asks for no login.

SQLAlchemy, Alembic and the services are imported inside the functions, not at the top: they
add about half a second, and ``segmint --help`` or ``segmint import`` should not pay for them.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.measure import Measurement
from rich.table import Table

from segmint.errors import SegmintError
from segmint.settings import Settings

if TYPE_CHECKING:
    from segmint.accounts.actor import Actor
    from segmint.metadata.database import Database

P = ParamSpec("P")
R = TypeVar("R")

OrgOption = Annotated[
    str | None,
    typer.Option(
        "--org",
        metavar="ORG",
        help="Organization. Default: the only one in the metadata database.",
    ),
]


def say(message: str, *, err: bool = False) -> None:
    """Print a line as it is: no markup (names may hold brackets), no wrapping (scripts grep
    it)."""
    Console(stderr=err).print(message, markup=False, highlight=False, soft_wrap=True)


def error_line(error: SegmintError) -> str:
    """The one line the CLI prints for a domain error, naming the field when the message
    does not already.

    >>> from segmint.errors import ValidationError
    >>> error_line(ValidationError("the thresholds add up to 95 %", field="segments.threshold"))
    'error: segments.threshold: the thresholds add up to 95 %'
    >>> error_line(ValidationError("segments[2].name: 'A' is used twice", field="segments[2].name"))
    "error: segments[2].name: 'A' is used twice"
    >>> error_line(ValidationError("organization 'X Y': use lower-case letters", field="org"))
    "error: org: organization 'X Y': use lower-case letters"
    """
    message = str(error)
    field = getattr(error, "field", None)
    # As a word of its own: "org" is not named by "organization", "name" not by "named".
    if field and not re.search(rf"(?<![\w.-]){re.escape(field)}(?![\w\[])", message):
        message = f"{field}: {message}"
    return f"error: {message}"


def exits_on_domain_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Decorate a command: a :class:`SegmintError` becomes one line on stderr and exit code 1
    instead of a traceback."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except SegmintError as error:
            say(error_line(error), err=True)
            raise typer.Exit(1) from None

    return wrapper


def migrate(db: Database) -> tuple[str | None, str | None]:
    """:func:`~segmint.metadata.migrate.upgrade`, with a database that cannot be reached
    reported in one line instead of a driver's traceback."""
    from sqlalchemy import make_url
    from sqlalchemy.exc import OperationalError

    from segmint.errors import ConfigError
    from segmint.metadata.migrate import upgrade

    try:
        return upgrade(db)
    except OperationalError as error:  # a server that is down, a wrong password or path
        where = make_url(db.url).render_as_string(hide_password=True)
        reason = str(error.orig).strip().splitlines()[0] if error.orig else str(error)
        raise ConfigError(f"cannot open the metadata database {where}: {reason}") from None


def open_database(settings: Settings) -> Database:
    """The metadata database, brought to the newest schema (idempotent and quick when it is)."""
    from segmint.metadata.database import Database

    db = Database.from_settings(settings)
    migrate(db)
    return db


@dataclass(frozen=True)
class OrgContext:
    """A command's settings, database and the system actor of its organization."""

    settings: Settings
    db: Database
    actor: Actor

    @property
    def org(self) -> str:
        return self.actor.org_slug


def _store_orgs(settings: Settings) -> list[str]:
    from segmint.store import SalesStore

    store = SalesStore.from_settings(settings)
    if not store.path.exists():
        return []
    return [o.org for o in store.organizations()]


def resolve_org(db: Database, settings: Settings, org: str | None, *, create: bool) -> str:
    """The organization a command acts for.

    Without ``--org``: the only organization of the metadata database (or, before any exists
    there, the only one with data in the sales store). With ``--org``: an organization of the
    metadata database or of the sales store (it is added to the database then), so a typo does
    not quietly create an empty one; ``create`` allows a new one (``users create``).
    """
    from sqlalchemy import select

    from segmint.accounts.models import Organization
    from segmint.errors import NotFound, ValidationError

    with db.read_session() as session:
        known = list(session.scalars(select(Organization.slug).order_by(Organization.slug)))
    if org is not None:
        if create or org in known or org in _store_orgs(settings):
            return org
        everything = sorted({*known, *_store_orgs(settings)})
        raise NotFound(f"no organization {org!r} (known: {', '.join(everything) or 'none yet'})")
    candidates = known or _store_orgs(settings)
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise NotFound(
            "no organization yet: import data with `segmint import ... --org ORG` or create "
            "the demo data with `segmint demo-data`"
        )
    raise ValidationError(
        f"there are several organizations ({', '.join(candidates)}); choose one with --org",
        field="--org",
    )


def open_org(org: str | None, *, create: bool = False) -> OrgContext:
    """Settings, the migrated database and the system actor for ``--org``."""
    from segmint.accounts.service import system_actor

    settings = Settings()
    db = open_database(settings)
    slug = resolve_org(db, settings, org, create=create)
    with db.session() as session:
        actor = system_actor(session=session, org=slug)
    return OrgContext(settings=settings, db=db, actor=actor)


def print_table(table: Table) -> None:
    """Print a table on stdout; when that is not a terminal (a pipe, a file, a test) there is no
    width to respect, so nothing is cut off."""
    console = Console()
    if not console.is_terminal:
        wide = Measurement.get(console, console.options.update_width(10_000), table)
        console.width = max(console.width, wide.maximum)
    console.print(table)


def confirm_or_exit(question: str, *, yes: bool) -> None:
    """Ask before something that cannot be undone, unless ``--yes`` was given; without a
    terminal to answer on, the answer is no."""
    if yes:
        return
    try:
        answer = typer.confirm(question, default=False, err=True)
    except typer.Abort:  # end of input: nobody there to say yes
        answer = False
    if not answer:
        say("Nothing changed (add --yes to skip this question).", err=True)
        raise typer.Exit(1)


def cell(value: Any) -> str:
    """A value for a Rich table cell: empty for None, yes/no for booleans, and brackets
    escaped so that a name is never read as markup."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return escape(str(value))
