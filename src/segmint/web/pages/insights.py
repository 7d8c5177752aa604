"""The insights pages: ``/insights`` (the organization's types), ``/insights/{id}`` (an RFM
type's segment chart, cards, table, setup table and filters) and ``/pareto/{id}`` (a Pareto
type's tiers and curve), each with the migration between two runs when the type has two.

The first view is rendered here from the :mod:`segmint.insights` services, so a page shows its
numbers without waiting for a script; ``static/js/insights.js`` and ``pareto.js`` then update it
from the REST API (``/api/v1/segment-types/{id}/insights``, ``.../what-if``, ``.../migration``)
when the period, the filters, the cut points or the runs compared change. The page embeds the
answer in the API's own JSON shape, so the scripts read one shape whichever way it came.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import TypeAdapter
from sqlalchemy import select

from segmint.accounts.access import Identity
from segmint.errors import Conflict, NotFound, PermissionDenied, ValidationError
from segmint.insights import migration_matrix, pareto_overview, rfm_insights
from segmint.insights.access import organization, rep_rule
from segmint.insights.cache import store_version
from segmint.insights.schemas import MigrationMatrix, ParetoOverview, RfmInsights
from segmint.runs.models import Run
from segmint.segments import service as segments
from segmint.segments.models import SegmentType
from segmint.store import SalesStore
from segmint.web.session import PageIdentity, render

router = APIRouter()

TypeId = Annotated[int, Path(ge=1, le=2_147_483_647)]
Values = Annotated[list[Annotated[str, Query(max_length=200)]], Query(max_length=50)]

#: The dimensions a page filters on, in the order the filter picker lists them.
DIMENSIONS: tuple[tuple[str, str], ...] = (
    ("territory", "Territory"),
    ("sales_rep", "Sales rep"),
    ("product_id", "Product"),
    ("brand", "Brand"),
    ("branch", "Branch"),
)
#: The period selector. PRODUCT.md: the insights default to the last 12 months; "type" is the
#: type's own period (e.g. the last completed calendar year of a fixed-year type).
MONTH_CHOICES = ("3", "6", "12", "24", "36", "type")
DEFAULT_MONTHS = "12"
#: At most this many values of one dimension are offered in the filter picker (most used
#: first would need a sort by count; alphabetical is what people scan).
PICKER_LIMIT = 300
#: Runs offered for the migration comparison.
RUNS_LISTED = 20

_json = {
    RfmInsights: TypeAdapter(RfmInsights),
    ParetoOverview: TypeAdapter(ParetoOverview),
    MigrationMatrix: TypeAdapter(MigrationMatrix),
}


def as_json(result: Any) -> Any:
    """A service result as the REST API writes it (Decimal as a string, dates in ISO 8601)."""
    return _json[type(result)].dump_python(result, mode="json")


# -- the type and its runs -----------------------------------------------------------------------


def _load_type(request: Request, identity: Identity, type_id: int) -> SegmentType:
    with request.app.state.db.read_session() as session:
        segment_type = segments.get_type(session=session, actor=identity.actor, type_id=type_id)
        segment_type.segments  # noqa: B018 -- loaded before the session closes
        return segment_type


@dataclass(frozen=True)
class RunChoice:
    id: int
    label: str


def finished_runs(request: Request, type_id: int) -> list[RunChoice]:
    """The type's succeeded runs, newest first (the choices of the migration comparison)."""
    with request.app.state.db.read_session() as session:
        runs = session.scalars(
            select(Run)
            .where(Run.type_id == type_id, Run.status == "succeeded")
            .order_by(Run.id.desc())
            .limit(RUNS_LISTED)
        ).all()
        return [
            RunChoice(
                id=run.id,
                label=f"Run {run.id} · as of {run.as_of.isoformat() if run.as_of else '—'}"
                + (f" · {run.finished_at:%Y-%m-%d %H:%M} UTC" if run.finished_at else ""),
            )
            for run in runs
        ]


@dataclass
class Migration:
    """The migration section: the runs to pick from, the pair shown and its matrix (or why
    there is none)."""

    runs: list[RunChoice]
    from_run: int | None = None
    to_run: int | None = None
    matrix: dict[str, Any] | None = None
    message: str = ""


def migration_section(
    request: Request,
    identity: Identity,
    type_id: int,
    from_run: int | None,
    to_run: int | None,
) -> Migration | None:
    """The matrix between two runs (default: the two newest), or None when there are not two."""
    runs = finished_runs(request, type_id)
    if len(runs) < 2:
        return None
    section = Migration(
        runs=runs,
        from_run=from_run if from_run is not None else runs[1].id,
        to_run=to_run if to_run is not None else runs[0].id,
    )
    try:
        with request.app.state.db.read_session() as session:
            matrix = migration_matrix(
                session=session,
                actor=identity.actor,
                type_id=type_id,
                from_run=section.from_run,
                to_run=section.to_run,
            )
        section.matrix = as_json(matrix)
    except (Conflict, PermissionDenied, NotFound) as exc:
        section.message = str(exc)
    return section


# -- filters and the filter picker ---------------------------------------------------------------


def collect_filters(**values: list[str]) -> dict[str, list[str]]:
    """The non-empty filters, each value once, in the order given.

    >>> collect_filters(territory=["North", "North", " "], brand=[], branch=["B1"])
    {'territory': ['North'], 'branch': ['B1']}
    """
    found: dict[str, list[str]] = {}
    for name, given in values.items():
        kept = list(dict.fromkeys(v.strip() for v in given if v.strip()))
        if kept:
            found[name] = kept
    return found


class _PickerCache:
    """The filter picker's values per (organization, rep, store version): a new import gives a
    new version, so the values are never stale; a few dozen entries are plenty."""

    def __init__(self, size: int = 64) -> None:
        self.size = size
        self.entries: OrderedDict[tuple, dict[str, list[dict[str, str]]]] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: tuple) -> dict[str, list[dict[str, str]]] | None:
        with self.lock:
            if key in self.entries:
                self.entries.move_to_end(key)
                return self.entries[key]
        return None

    def put(self, key: tuple, value: dict[str, list[dict[str, str]]]) -> None:
        with self.lock:
            self.entries[key] = value
            self.entries.move_to_end(key)
            while len(self.entries) > self.size:
                self.entries.popitem(last=False)


PICKER_CACHE = _PickerCache()


def dimension_values(
    store: SalesStore, org: str, sales_rep: str | None, restricted: bool
) -> dict[str, list[dict[str, str]]]:
    """``{dimension: [{"value", "label"}]}``: the distinct values in the organization's sales
    lines (a restricted rep's own lines only, so it is not shown other reps' names), at most
    :data:`PICKER_LIMIT` each; products are labelled with their name."""
    if restricted and sales_rep is None:
        return {name: [] for name, _ in DIMENSIONS}
    where, args = "org = ?", [org]
    if restricted:
        where, args = "org = ? AND sales_rep = ?", [org, sales_rep]
    key = (org, restricted, sales_rep, store_version(store))
    cached = PICKER_CACHE.get(key)
    if cached is not None:
        return cached
    with store.attached() as con:
        found: dict[str, list[dict[str, str]]] = {}
        for name, _ in DIMENSIONS:
            rows = con.execute(
                # {name} is one of DIMENSIONS, never user input.
                f"SELECT DISTINCT {name} FROM store.sales_lines "
                f"WHERE {where} AND {name} IS NOT NULL ORDER BY 1 LIMIT {PICKER_LIMIT}",
                args,
            ).fetchall()
            found[name] = [{"value": str(r[0]), "label": str(r[0])} for r in rows]
        if found["product_id"]:
            names = dict(
                con.execute(
                    "SELECT product_id, name FROM store.products "
                    "WHERE org = ? AND name IS NOT NULL",
                    [org],
                ).fetchall()
            )
            for item in found["product_id"]:
                if names.get(item["value"]):
                    item["label"] = f"{item['value']} · {names[item['value']]}"
    PICKER_CACHE.put(key, found)
    return found


def last_invoice_date(store: SalesStore, org: str) -> date | None:
    with store.attached() as con:
        row = con.execute(
            "SELECT max(invoice_date) FROM store.sales_lines WHERE org = ?", [org]
        ).fetchone()
    return row[0] if row else None


# -- the RFM chart's geometry --------------------------------------------------------------------

CELL = 100  # SVG units per cell; the chart is 5 x 5 cells, R to the right, FM upwards
GAP = 3  # the white line inside a segment's outer edges, so blocks read as blocks


@dataclass
class Block:
    """One segment of the chart: its cells, the edges around them and where its label goes."""

    name: str
    index: int
    cells: list[dict[str, int | str]] = field(default_factory=list)
    edges: list[tuple[float, float, float, float]] = field(default_factory=list)
    label_x: float = 0
    label_y: float = 0
    lines: list[str] = field(default_factory=list)


def _largest_rectangle(cells: set[tuple[int, int]]) -> tuple[int, int, int, int]:
    """(col0, row0, col1, row1) of the biggest all-owned rectangle (the label goes there)."""
    best, best_area = (0, 0, 0, 0), -1
    for c0 in range(5):
        for r0 in range(5):
            for c1 in range(c0, 5):
                for r1 in range(r0, 5):
                    area = (c1 - c0 + 1) * (r1 - r0 + 1)
                    if area <= best_area:
                        continue
                    if all((c, r) in cells for c in range(c0, c1 + 1) for r in range(r0, r1 + 1)):
                        best, best_area = (c0, r0, c1, r1), area
    return best


def wrap(name: str, width: int) -> list[str]:
    """``name`` in lines of at most ``width`` characters (words are not split).

    >>> wrap("Potential Loyalist", 12), wrap("Lost", 12)
    (['Potential', 'Loyalist'], ['Lost'])
    """
    lines: list[str] = []
    for word in name.split():
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines or [name]


def chart_blocks(insights: RfmInsights) -> list[Block]:
    """The segment blocks of the 5 x 5 chart from the insights' cells (the type's map)."""
    owner: dict[tuple[int, int], str | None] = {}
    for cell in insights.cells:
        owner[(cell.r - 1, 5 - cell.fm)] = cell.segment  # (column, row), row 0 on top
    order = {row.name: i for i, row in enumerate(insights.segments)}
    blocks: dict[str, Block] = {}
    for cell in insights.cells:
        if cell.segment is None:
            continue
        block = blocks.setdefault(
            cell.segment, Block(name=cell.segment, index=order.get(cell.segment, 0))
        )
        col, row = cell.r - 1, 5 - cell.fm
        x, y = col * CELL, row * CELL
        block.cells.append({"x": x, "y": y, "cell": cell.cell, "r": cell.r, "fm": cell.fm})
        # An edge where the neighbour is another segment (or outside), drawn just inside.
        half = GAP / 2
        if owner.get((col - 1, row)) != cell.segment:
            block.edges.append((x + half, y, x + half, y + CELL))
        if owner.get((col + 1, row)) != cell.segment:
            block.edges.append((x + CELL - half, y, x + CELL - half, y + CELL))
        if owner.get((col, row - 1)) != cell.segment:
            block.edges.append((x, y + half, x + CELL, y + half))
        if owner.get((col, row + 1)) != cell.segment:
            block.edges.append((x, y + CELL - half, x + CELL, y + CELL - half))
    for block in blocks.values():
        mine = {(int(c["x"]) // CELL, int(c["y"]) // CELL) for c in block.cells}
        c0, r0, c1, r1 = _largest_rectangle(mine)
        block.label_x = (c0 + c1 + 1) * CELL / 2
        block.label_y = (r0 + r1 + 1) * CELL / 2
        block.lines = wrap(block.name, 12 * (c1 - c0 + 1))
    return sorted(blocks.values(), key=lambda b: b.index)


# -- pages ---------------------------------------------------------------------------------------


@router.get("/insights", response_class=HTMLResponse, name="insights_index")
def insights_index(request: Request, identity: PageIdentity) -> HTMLResponse:
    """The organization's segment types, each with its insights page."""
    with request.app.state.db.read_session() as session:
        types = segments.list_types(session=session, actor=identity.actor)
        rows = []
        for segment_type in types:
            run = (
                session.get(Run, segment_type.current_run_id)
                if segment_type.current_run_id
                else None
            )
            rows.append({"type": segment_type, "run": run})
    return render(
        request,
        "insights_index.html",
        identity=identity,
        title="Insights",
        active="insights",
        rows=rows,
    )


def _months(value: str | None) -> str:
    if value is None or value == "":
        return DEFAULT_MONTHS
    if value == "type" or (value.isdigit() and 1 <= int(value) <= 240):
        return value
    raise ValidationError(
        f"months must be a whole number from 1 to 240 or 'type', got {value!r}", field="months"
    )


@router.get("/insights/{type_id}", response_class=HTMLResponse, name="rfm_insights")
def rfm_page(
    request: Request,
    identity: PageIdentity,
    type_id: TypeId,
    as_of: date | None = None,
    months: Annotated[str | None, Query(max_length=5)] = None,
    segment: Annotated[str | None, Query(max_length=200)] = None,
    from_run: Annotated[int | None, Query(ge=1, le=2_147_483_647)] = None,
    to_run: Annotated[int | None, Query(ge=1, le=2_147_483_647)] = None,
    territory: Values = [],  # noqa: B006 - FastAPI copies defaults
    sales_rep: Values = [],  # noqa: B006
    product_id: Values = [],  # noqa: B006
    brand: Values = [],  # noqa: B006
    branch: Values = [],  # noqa: B006
) -> Response:
    """Insights of an RFM type; a Pareto type's id goes to its Pareto overview."""
    segment_type = _load_type(request, identity, type_id)
    if segment_type.method != "rfm":
        return RedirectResponse(f"/pareto/{type_id}", status_code=303)
    period = _months(months)
    filters = collect_filters(
        territory=territory,
        sales_rep=sales_rep,
        product_id=product_id,
        brand=brand,
        branch=branch,
    )
    store: SalesStore = request.app.state.store
    with request.app.state.db.read_session() as session:
        result = rfm_insights(
            session=session,
            store=store,
            actor=identity.actor,
            type_id=type_id,
            as_of=as_of,
            months=None if period == "type" else int(period),
            filters=filters,
        )
        org = organization(session, identity.actor)
    rule = rep_rule(org, identity.actor)
    picker = dimension_values(store, org.slug, rule.sales_rep, rule.restricted)
    # Only when nobody bought: say where the data ends (e.g. demo data of past years).
    last_invoice = last_invoice_date(store, org.slug) if not result.cards.active_customers else None
    selected = next((s for s in result.segments if s.name == segment), None)
    state = {
        "type_id": type_id,
        "as_of": result.cards.as_of.isoformat(),
        "as_of_given": as_of is not None,
        "months": period,
        "filters": filters,
        "segment": selected.name if selected else None,
        "can_manage": identity.actor.can_manage,
    }
    return render(
        request,
        "insights.html",
        identity=identity,
        title=f"Insights · {segment_type.name}",
        active="insights",
        segment_type=segment_type,
        insights=result,
        data=as_json(result),
        blocks=chart_blocks(result),
        selected=selected,
        state=state,
        dimensions=DIMENSIONS,
        dimension_labels=dict(DIMENSIONS),
        picker=picker,
        month_choices=MONTH_CHOICES,
        period=period,
        last_invoice=last_invoice,
        stale=bool(last_invoice and last_invoice < result.cards.period_start),
        remove_links=_remove_links(type_id, as_of, period, filters),
        base_pairs=_query(as_of, period, filters),
        base_query=urlencode(_query(as_of, period, filters)),
        plain=plain,
        migration=migration_section(request, identity, type_id, from_run, to_run),
    )


def plain(value: Decimal) -> str:
    """A cut point as a number input takes it: no exponent, no trailing zeros.

    >>> plain(Decimal("30.0000")), plain(Decimal("1250.5000")), plain(Decimal("0.0000"))
    ('30', '1250.5', '0')
    """
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


def _query(as_of: date | None, period: str, filters: dict[str, list[str]]) -> list[tuple[str, str]]:
    """The page's state as query pairs (without the selected segment)."""
    pairs = [("as_of", as_of.isoformat())] if as_of is not None else []
    pairs.append(("months", period))
    return pairs + [(name, v) for name, values in filters.items() for v in values]


def _remove_links(
    type_id: int, as_of: date | None, period: str, filters: dict[str, list[str]]
) -> dict[tuple[str, str], str]:
    """For each applied filter value, the page's URL without it (the chips work without JS)."""
    links = {}
    everything = _query(as_of, period, filters)
    for name, values in filters.items():
        for value in values:
            query = [pair for pair in everything if pair != (name, value)]
            links[(name, value)] = f"/insights/{type_id}?{urlencode(query)}"
    return links


@router.get("/pareto/{type_id}", response_class=HTMLResponse, name="pareto_overview")
def pareto_page(
    request: Request,
    identity: PageIdentity,
    type_id: TypeId,
    run_id: Annotated[int | None, Query(ge=1, le=2_147_483_647)] = None,
    from_run: Annotated[int | None, Query(ge=1, le=2_147_483_647)] = None,
    to_run: Annotated[int | None, Query(ge=1, le=2_147_483_647)] = None,
) -> Response:
    """Customers and sales per tier and the Pareto curve; an RFM type's id goes to its insights."""
    segment_type = _load_type(request, identity, type_id)
    if segment_type.method != "pareto":
        return RedirectResponse(f"/insights/{type_id}", status_code=303)
    context: dict[str, Any] = {"segment_type": segment_type, "runs": [], "run_id": run_id}
    try:
        with request.app.state.db.read_session() as session:
            overview = pareto_overview(
                session=session, actor=identity.actor, type_id=type_id, run_id=run_id
            )
    except PermissionDenied as exc:
        return render(
            request,
            "pareto.html",
            identity=identity,
            title=f"Pareto overview · {segment_type.name}",
            active="insights",
            status_code=403,
            overview=None,
            refused=str(exc),
            migration=None,
            **context,
        )
    context["runs"] = finished_runs(request, type_id)
    return render(
        request,
        "pareto.html",
        identity=identity,
        title=f"Pareto overview · {segment_type.name}",
        active="insights",
        overview=overview,
        data=as_json(overview),
        refused="",
        migration=migration_section(request, identity, type_id, from_run, to_run),
        **context,
    )
