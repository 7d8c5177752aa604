"""``segmint types ...``: list, show, create, edit and delete segment types.

The services are imported inside the commands (see :mod:`segmint.cli_support`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer
from rich.table import Table

from segmint.cli_support import (
    OrgOption,
    cell,
    confirm_or_exit,
    exits_on_domain_errors,
    open_org,
    print_table,
    say,
)
from segmint.segments.cli_display import (
    fields_table,
    latest_run,
    run_lines,
    run_state,
    segment_names,
    segments_table,
)

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from segmint.accounts.actor import Actor
    from segmint.segments.models import SegmentType
    from segmint.segments.schemas import SegmentSpec

types_app = typer.Typer(
    name="types", help="Segment types and their segments.", no_args_is_help=True
)

TypeArgument = Annotated[str, typer.Argument(metavar="TYPE", help="The segment type's name or id.")]
SegmentsFileOption = Annotated[
    Path | None,
    typer.Option(
        "--segments",
        metavar="FILE.json",
        help="The type's segments: a JSON list of segment objects (see docs/cli.md).",
    ),
]
IdentityOption = Annotated[
    Literal["id", "vat"] | None,
    typer.Option("--identity", help="Match customers by customer ID or by VAT number."),
]
BranchOption = Annotated[
    list[str] | None,
    typer.Option("--branch", metavar="BRANCH", help="Count only sales of this branch; repeat."),
]
BrandOption = Annotated[
    list[str] | None,
    typer.Option("--brand", metavar="BRAND", help="Count only sales of this brand; repeat."),
]
MinSalesOption = Annotated[
    str | None,
    typer.Option(
        "--min-sales", metavar="AMOUNT", help="Minimum eligible net sales to be in the pool."
    ),
]
MonthsOption = Annotated[
    int | None, typer.Option("--months", help="Timespan of the period in months.")
]
IntervalOption = Annotated[
    Literal["rolling", "fixed_year"] | None,
    typer.Option(
        "--interval",
        help="rolling: the N months up to the as-of date; fixed_year: the last "
        "N/12 completed calendar years.",
    ),
]
ScheduleOption = Annotated[
    str | None,
    typer.Option(
        "--schedule",
        metavar="CRON",
        help="Run on this cron schedule, in UTC (e.g. '0 6 1 * *': monthly on day 1 at 06:00).",
    ),
]


def _find(session: Session, actor: Actor, name_or_id: str) -> SegmentType:
    from segmint.segments.service import find_type

    return find_type(session=session, actor=actor, name_or_id=name_or_id)


@types_app.command("list")
@exits_on_domain_errors
def list_command(org: OrgOption = None) -> None:
    """The organization's segment types with their segments and last run."""
    from segmint.segments.service import list_types

    context = open_org(org)
    table = Table(title=f"Segment types of {context.org}")
    for name in ("id", "name", "method", "identity", "default", "shared"):
        table.add_column(name, justify="right" if name == "id" else "left", no_wrap=True)
    table.add_column("segments")
    table.add_column("last run (UTC)", no_wrap=True)
    with context.db.read_session() as session:
        for t in list_types(session=session, actor=context.actor):
            table.add_row(
                str(t.id),
                cell(t.name),
                t.method,
                t.identity,
                cell(t.is_default),
                cell(t.shared),
                cell(segment_names(t)),
                run_state(latest_run(session, context.actor, t.id), utc_suffix=False),
            )
    if table.row_count:
        print_table(table)
    else:
        say(
            f"{context.org} has no segment types yet; create one with "
            "`segmint types create NAME --method pareto`."
        )


@types_app.command("show")
@exits_on_domain_errors
def show_command(
    type_: TypeArgument,
    org: OrgOption = None,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print only the segments, as a --segments file (with ids) to edit and load "
            "back with `types edit`.",
        ),
    ] = False,
) -> None:
    """A segment type's fields, segments and current result."""
    from segmint.assignments.service import override_count
    from segmint.segments.service import segment_specs
    from segmint.segments.spec_file import segments_json

    context = open_org(org)
    with context.db.read_session() as session:
        t = _find(session, context.actor, type_)
        if as_json:
            print(segments_json(segment_specs(t)))
            return
        overrides = override_count(session=session, actor=context.actor, type_id=t.id)
        print_table(fields_table(t, overrides))
        print_table(segments_table(t))
        for line in run_lines(session, context.actor, t):
            say(line)


def _segments_from(path: Path | None) -> list[SegmentSpec] | None:
    from segmint.segments.spec_file import read_segments

    return None if path is None else read_segments(path)


@types_app.command("create")
@exits_on_domain_errors
def create_command(
    name: Annotated[
        str, typer.Argument(metavar="NAME", help="Name of the new type, e.g. 'Sales Performance'.")
    ],
    method: Annotated[
        Literal["pareto", "rfm"],
        typer.Option("--method", help="pareto (ABC tiers by share of sales) or rfm."),
    ],
    org: OrgOption = None,
    identity: IdentityOption = None,
    default: Annotated[
        bool, typer.Option("--default", help="Make it the organization's default type.")
    ] = False,
    shared: Annotated[
        bool,
        typer.Option("--shared", help="Share it with connected organizations (VAT types)."),
    ] = False,
    branch: BranchOption = None,
    brand: BrandOption = None,
    min_sales: MinSalesOption = None,
    months: MonthsOption = None,
    interval: IntervalOption = None,
    no_notify: Annotated[
        bool, typer.Option("--no-notify", help="Do not notify anyone when a run finishes.")
    ] = False,
    schedule: ScheduleOption = None,
    run_after_import: Annotated[
        bool,
        typer.Option("--run-after-import", help="Run it after every import of the org's data."),
    ] = False,
    segments: SegmentsFileOption = None,
) -> None:
    """Create a segment type.

    Without --segments a Pareto type gets A/B/C with 80/15/5 % and an RFM type the default
    RFM map; the first run suggests the RFM cut points.
    """
    from segmint.segments.service import create_type

    specs = _segments_from(segments)
    fields: dict[str, Any] = {
        "identity": identity,
        "branches": branch,
        "brands": brand,
        "min_sales": min_sales,
        "timespan_months": months,
        "interval": interval,
        "schedule": schedule,
    }
    fields = {k: v for k, v in fields.items() if v is not None}
    fields.update(
        is_default=default, shared=shared, notify=not no_notify, run_after_import=run_after_import
    )
    context = open_org(org)
    with context.db.session() as session:
        t = create_type(
            session=session,
            actor=context.actor,
            name=name,
            method=method,
            segments=specs,
            **fields,
        )
        summary = f"{t.method} type {t.name!r} (id {t.id}): " + ", ".join(
            s.name for s in t.segments
        )
    say(f"Created {summary}")
    say(f"Compute it with: segmint run {t.id} --wait")


def _edit_changes(**options: Any) -> dict[str, Any]:
    """The ``update_type`` changes the options of ``types edit`` ask for."""
    changes: dict[str, Any] = {}
    pairs = (("branch", "no_branches", "branches"), ("brand", "no_brands", "brands"))
    for values, clear, field in pairs:
        if options[values] and options[clear]:
            raise typer.BadParameter(
                f"--{values} and --{clear.replace('_', '-')} contradict each other"
            )
        if options[values]:
            changes[field] = options[values]
        elif options[clear]:
            changes[field] = []
    if options["schedule"] is not None and options["no_schedule"]:
        raise typer.BadParameter("--schedule and --no-schedule contradict each other")
    if options["no_schedule"]:
        changes["schedule"] = None
    if options["suggested_cuts"]:
        changes.update(r_cuts=None, f_cuts=None, m_cuts=None)
    for metric in ("r", "f", "m"):
        value = options[f"{metric}_cuts"]
        if value is not None:
            changes[f"{metric}_cuts"] = [v.strip() for v in value.split(",")]
    for option, field in (
        ("name", "name"),
        ("identity", "identity"),
        ("default", "is_default"),
        ("shared", "shared"),
        ("min_sales", "min_sales"),
        ("months", "timespan_months"),
        ("interval", "interval"),
        ("notify", "notify"),
        ("schedule", "schedule"),
        ("run_after_import", "run_after_import"),
    ):
        if options[option] is not None:
            changes[field] = options[option]
    return changes


def _match_by_name(specs: list[SegmentSpec], t: SegmentType) -> list[SegmentSpec]:
    """Specs without an id edit the existing segment of the same name (so its overrides stay)."""
    existing = {s.name.casefold(): s.id for s in t.segments}
    for spec in specs:
        if spec.id is None and isinstance(spec.name, str):
            spec.id = existing.get(spec.name.strip().casefold())
    return specs


CutsOption = Annotated[
    str | None, typer.Option(metavar="A,B,C,D", help="Four cut points, comma-separated.")
]


@types_app.command("edit")
@exits_on_domain_errors
def edit_command(
    type_: TypeArgument,
    org: OrgOption = None,
    name: Annotated[str | None, typer.Option("--name", help="Rename the type.")] = None,
    identity: IdentityOption = None,
    default: Annotated[
        bool | None,
        typer.Option("--default/--no-default", help="Whether it is the default type."),
    ] = None,
    shared: Annotated[
        bool | None, typer.Option("--shared/--no-shared", help="Whether it is shared.")
    ] = None,
    branch: BranchOption = None,
    no_branches: Annotated[
        bool, typer.Option("--no-branches", help="Count sales of every branch.")
    ] = False,
    brand: BrandOption = None,
    no_brands: Annotated[
        bool, typer.Option("--no-brands", help="Count sales of every brand.")
    ] = False,
    min_sales: MinSalesOption = None,
    months: MonthsOption = None,
    interval: IntervalOption = None,
    notify: Annotated[
        bool | None,
        typer.Option("--notify/--no-notify", help="Whether finished runs notify people."),
    ] = None,
    schedule: ScheduleOption = None,
    no_schedule: Annotated[
        bool, typer.Option("--no-schedule", help="Remove the schedule.")
    ] = False,
    run_after_import: Annotated[
        bool | None,
        typer.Option(
            "--run-after-import/--no-run-after-import",
            help="Whether it runs after every import.",
        ),
    ] = None,
    r_cuts: CutsOption = None,
    f_cuts: CutsOption = None,
    m_cuts: CutsOption = None,
    suggested_cuts: Annotated[
        bool,
        typer.Option(
            "--suggested-cuts", help="Forget the RFM cut points; the next run suggests them."
        ),
    ] = False,
    segments: SegmentsFileOption = None,
) -> None:
    """Change a segment type; options not given stay as they are.

    --branch and --brand replace the whole list. In a --segments file, a segment with the id
    or the name of an existing segment edits it (its manual overrides stay), other segments
    are added, and segments left out are removed.
    """
    from segmint.segments.service import set_segments, update_type

    changes = _edit_changes(
        name=name,
        identity=identity,
        default=default,
        shared=shared,
        branch=branch,
        no_branches=no_branches,
        brand=brand,
        no_brands=no_brands,
        min_sales=min_sales,
        months=months,
        interval=interval,
        notify=notify,
        schedule=schedule,
        no_schedule=no_schedule,
        run_after_import=run_after_import,
        r_cuts=r_cuts,
        f_cuts=f_cuts,
        m_cuts=m_cuts,
        suggested_cuts=suggested_cuts,
    )
    specs = _segments_from(segments)
    if not changes and specs is None:
        raise typer.BadParameter("nothing to change: give at least one option")
    context = open_org(org)
    with context.db.session() as session:
        t = _find(session, context.actor, type_)
        if changes:
            update_type(session=session, actor=context.actor, type_id=t.id, **changes)
        if specs is not None:
            set_segments(
                session=session,
                actor=context.actor,
                type_id=t.id,
                segments=_match_by_name(specs, t),
            )
        what = ", ".join([*changes, *(["segments"] if specs is not None else [])])
        say(f"Changed {what} of {t.name!r} (id {t.id}).")


@types_app.command("delete")
@exits_on_domain_errors
def delete_command(
    type_: TypeArgument,
    org: OrgOption = None,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete a segment type with its segments, runs, manual overrides and history."""
    from segmint.assignments.service import override_count
    from segmint.segments.service import delete_type

    context = open_org(org)
    with context.db.read_session() as session:
        t = _find(session, context.actor, type_)
        type_id, type_name = t.id, t.name
        overrides = override_count(session=session, actor=context.actor, type_id=type_id)
    confirm_or_exit(
        f"Delete {type_name!r} with its runs, history and {overrides} manual override(s)?",
        yes=yes,
    )
    with context.db.session() as session:
        delete_type(session=session, actor=context.actor, type_id=type_id)
    say(f"Deleted {type_name!r} (id {type_id}) and {overrides} manual override(s).")
