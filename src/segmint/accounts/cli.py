"""``segmint users create``: add a user to an organization."""

from __future__ import annotations

import sys
from typing import Annotated, Literal

import typer

from segmint.cli_support import OrgOption, exits_on_domain_errors, open_org, say

users_app = typer.Typer(name="users", help="User accounts.", no_args_is_help=True)


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        # One line; the newline that `echo` or a here-string adds is not part of it.
        return sys.stdin.readline().rstrip("\r\n")
    return typer.prompt("Password", hide_input=True, confirmation_prompt=True, err=True)


@users_app.command("create")
@exits_on_domain_errors
def create_user_command(
    email: Annotated[str, typer.Argument(metavar="EMAIL", help="E-mail address, the login.")],
    role: Annotated[
        Literal["admin", "manager", "rep"],
        typer.Option(
            "--role",
            help="admin (everything, users too), manager (segment types, runs, overrides) "
            "or rep (own customers).",
        ),
    ],
    org: OrgOption = None,
    name: Annotated[str, typer.Option("--name", help="Full name.")] = "",
    sales_rep: Annotated[
        str | None,
        typer.Option(
            "--sales-rep",
            help="The sales_rep value of this user's lines in the sales data (for reps).",
        ),
    ] = None,
    password_stdin: Annotated[
        bool,
        typer.Option(
            "--password-stdin", help="Read the password from the first line of standard input."
        ),
    ] = False,
) -> None:
    """Create a user of an organization.

    The password (at least 10 characters) is asked for twice, hidden, or read from standard
    input with --password-stdin. An --org that does not exist yet is created.
    """
    from segmint.accounts.service import create_user

    context = open_org(org, create=True)
    password = _read_password(password_stdin)
    with context.db.session() as session:
        user = create_user(
            session=session,
            actor=context.actor,
            email=email,
            role=role,
            password=password,
            name=name,
            sales_rep=sales_rep,
        )
        user_id, user_email = user.id, user.email
    say(f"Created {role} {user_email} (user {user_id}) in {context.org}.")
