"""``segmint connections ...``: list, invite, accept, decline and end connections between
organizations (see :mod:`segmint.sharing.service`).

The CLI acts as Segmint itself for ``--org`` (whoever runs it operates the machine), so it may
do what an admin of that organization may; the rows record no user. The services are imported
inside the commands (see :mod:`segmint.cli_support`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer
from rich.table import Table

from segmint.cli_support import OrgOption, cell, exits_on_domain_errors, open_org, print_table, say

connections_app = typer.Typer(
    name="connections",
    help="Connections between organizations, which share VAT-based segment types.",
    no_args_is_help=True,
)

Partner = Annotated[
    str,
    typer.Argument(
        metavar="ORG_OR_ID",
        help="The other organization's slug (its pending or active connection) or a connection id.",
    ),
]


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value is not None else ""


@connections_app.command("list")
@exits_on_domain_errors
def list_command(org: OrgOption = None) -> None:
    """The organization's connections and invitations, newest first, and the segment types
    each connected organization shares with it."""
    from segmint.sharing.service import list_connections, shared_types, shares

    context = open_org(org)
    table = Table(title=f"Connections of {context.org}")
    for name in ("id", "organization", "status", "direction", "invited (UTC)", "answered (UTC)"):
        table.add_column(name, justify="right" if name == "id" else "left", no_wrap=True)
    table.add_column("they share")
    with context.db.read_session() as session:
        received: dict[str, list[str]] = {}
        for t in shared_types(session=session, actor=context.actor):
            received.setdefault(t.owner_slug, []).append(t.name)
        ours = [t.name for t in shares(session=session, actor=context.actor)]
        for c in list_connections(session=session, actor=context.actor):
            table.add_row(
                str(c.id),
                cell(c.partner_slug),
                c.status,
                c.direction,
                _when(c.invited_at),
                _when(c.responded_at),
                cell(", ".join(received.get(c.partner_slug, [])) if c.status == "active" else ""),
            )
    if table.row_count:
        print_table(table)
    else:
        say(
            f"{context.org} has no connections yet; invite an organization with "
            "`segmint connections invite ORG`."
        )
    say(f"{context.org} shares: {', '.join(ours) if ours else 'no segment type'}.")


@connections_app.command("invite")
@exits_on_domain_errors
def invite_command(
    slug: Annotated[str, typer.Argument(metavar="ORG", help="The organization to invite.")],
    org: OrgOption = None,
) -> None:
    """Invite another organization to connect; its admins accept or decline."""
    from segmint.accounts.service import ensure_organization
    from segmint.cli_support import resolve_org
    from segmint.errors import NotFound
    from segmint.sharing.service import invite

    context = open_org(org)
    try:  # an organization with data in the sales store but nothing else yet joins the database
        known = resolve_org(context.db, context.settings, slug.strip().lower(), create=False)
    except NotFound:
        known = None  # the service says so, naming the field
    with context.db.session() as session:
        if known is not None:
            ensure_organization(session=session, slug=known)
        found = invite(session=session, actor=context.actor, slug=slug)
    say(f"Invited {found.partner_slug} (connection {found.id}); waiting for it to accept.")


def _answer(action: str, partner: str, org: str | None) -> None:
    from segmint.sharing import service

    context = open_org(org)
    with context.db.session() as session:
        found = service.find_connection(session=session, actor=context.actor, slug_or_id=partner)
        done = getattr(service, action)(
            session=session, actor=context.actor, connection_id=found.id
        )
    say(f"Connection {done.id} with {done.partner_slug}: {done.status}.")


@connections_app.command("accept")
@exits_on_domain_errors
def accept_command(partner: Partner, org: OrgOption = None) -> None:
    """Accept an invitation: from then on both organizations see each other's shared
    VAT-based segment types."""
    _answer("accept", partner, org)


@connections_app.command("decline")
@exits_on_domain_errors
def decline_command(partner: Partner, org: OrgOption = None) -> None:
    """Decline an invitation."""
    _answer("decline", partner, org)


@connections_app.command("end")
@exits_on_domain_errors
def end_command(partner: Partner, org: OrgOption = None) -> None:
    """End a connection (or withdraw an invitation): sharing stops at once, both ways."""
    _answer("end", partner, org)
