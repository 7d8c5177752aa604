"""``segmint override``, ``segmint clear-manual`` and ``segmint export``: customers' segments.

The services are imported inside the commands (see :mod:`segmint.cli_support`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from segmint.cli_support import (
    OrgOption,
    confirm_or_exit,
    exits_on_domain_errors,
    open_org,
    say,
)
from segmint.progress import progress_bar

TypeArgument = Annotated[str, typer.Argument(metavar="TYPE", help="The segment type's name or id.")]


def _segment_ref(segments: list, given: str) -> int | str:
    """A segment's name, or its id when no segment has that name."""
    names = {s.name.casefold() for s in segments}
    return int(given) if given.isdigit() and given.strip().casefold() not in names else given


@exits_on_domain_errors
def override_command(
    customer: Annotated[
        str,
        typer.Argument(
            metavar="CUSTOMER", help="Customer ID (or VAT number for a VAT-based type)."
        ),
    ],
    type_: TypeArgument,
    segment: Annotated[
        str | None,
        typer.Argument(metavar="SEGMENT", help="The segment to put the customer in (name or id)."),
    ] = None,
    org: OrgOption = None,
    reason: Annotated[
        str | None, typer.Option("--reason", help="Why; kept with the override and history.")
    ] = None,
    clear: Annotated[
        bool,
        typer.Option("--clear", help="Remove the manual segment: the automatic one applies."),
    ] = False,
) -> None:
    """Put a customer in a segment by hand, or --clear that.

    A manual segment wins over the automatic one, and no run changes or removes it.
    """
    from segmint.assignments.service import clear_override, set_override
    from segmint.segments.service import find_type
    from segmint.store import SalesStore

    if clear == (segment is not None):
        raise typer.BadParameter("give either a SEGMENT or --clear")
    context = open_org(org)
    with context.db.session() as session:
        t = find_type(session=session, actor=context.actor, name_or_id=type_)
        if clear:
            clear_override(
                session=session,
                actor=context.actor,
                type_id=t.id,
                customer_key=customer,
                reason=reason,
            )
            message = f"Cleared the manual segment of {customer} in {t.name!r}."
        else:
            override = set_override(
                session=session,
                actor=context.actor,
                type_id=t.id,
                customer_key=customer,
                segment=_segment_ref(t.segments, segment),
                reason=reason,
                store=SalesStore.from_settings(context.settings),
            )
            chosen = next(s.name for s in t.segments if s.id == override.segment_id)
            message = f"{customer} is now in {chosen!r} of {t.name!r} (manual)."
    say(message)


@exits_on_domain_errors
def clear_manual_command(
    type_: TypeArgument,
    org: OrgOption = None,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Remove every manual segment of a type and print how many.

    Each customer's history records the change back to the automatic segment.
    """
    from segmint.assignments.service import clear_all_overrides, override_count
    from segmint.segments.service import find_type

    context = open_org(org)
    with context.db.read_session() as session:
        t = find_type(session=session, actor=context.actor, name_or_id=type_)
        type_id, name = t.id, t.name
        count = override_count(session=session, actor=context.actor, type_id=type_id)
    confirm_or_exit(f"Remove all {count} manual segment(s) of {name!r}?", yes=yes)
    with context.db.session() as session:
        removed = clear_all_overrides(session=session, actor=context.actor, type_id=type_id)
    say(f"Removed {removed} manual segment(s) of {name!r}.")


@exits_on_domain_errors
def export_command(
    type_: TypeArgument,
    output: Annotated[
        Path,
        typer.Option(
            "--output", "-o", metavar="FILE", help="The file to write: FILE.csv or FILE.xlsx."
        ),
    ],
    org: OrgOption = None,
) -> None:
    """Export a type's customers to CSV or Excel, one row each.

    Columns: the customer, its name, the effective, automatic and manual segment, the
    override's reason and the figures behind the automatic segment (docs/cli.md lists them).
    """
    from segmint.assignments.export import export_rows, write_export
    from segmint.segments.service import find_type
    from segmint.store import SalesStore

    context = open_org(org)
    store = SalesStore.from_settings(context.settings)
    with context.db.read_session() as session:
        t = find_type(session=session, actor=context.actor, name_or_id=type_)
    with (
        context.db.read_session() as session,
        progress_bar(Console(stderr=True), f"exporting to {output.name}", transient=True) as bar,
    ):
        header, rows = export_rows(
            session=session,
            actor=context.actor,
            type_id=t.id,
            store=store,
            on_progress=lambda done, total: bar(f"exporting {done:,} of {total:,}", done / total),
        )
        count = write_export(output, header, rows, title=t.name)
    say(f"Wrote {count:,} customer(s) of {t.name!r} to {output}.")
