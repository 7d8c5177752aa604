"""Customers with their segments, one customer's timeline, and exports of the list."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, BackgroundTasks, Query, Request
from fastapi.responses import FileResponse, Response

from segmint.api.problems import error_responses
from segmint.api.schemas import CustomerOut, HistoryOut, OptionalIdQuery, Page
from segmint.api.security import ActorDep, DbDep
from segmint.assignments import service as assignments
from segmint.assignments.export import neutralize, write_export
from segmint.customers import service as customers
from segmint.customers.service import MAX_PAGE, SORTS, Customer, CustomerQuery
from segmint.errors import ValidationError
from segmint.segments.models import SegmentType
from segmint.segments.service import get_type
from segmint.sharing.service import SharedSegment, shared_segments, shared_types

router = APIRouter(tags=["customers"])

Values = Annotated[list[Annotated[str, Query(max_length=200)]], Query(max_length=50)]
Search = Annotated[str | None, Query(max_length=200)]


def _customer_out(
    customer: Customer, types: list[SegmentType], shared: dict[str, list[SharedSegment]]
) -> CustomerOut:
    return CustomerOut.model_validate(_customers_out([customer], types, shared)[0])


def _customers_out(
    customers: list[Customer],
    types: list[SegmentType],
    shared: dict[str, list[SharedSegment]] | None = None,
) -> list[dict[str, Any]]:
    """The customers as :class:`CustomerOut` data, for one validation of the whole page (a
    model built per customer and per segment cost more than the rest of the request)."""
    named = [(t.id, t.name) for t in types]  # ORM attributes read once for the page
    default = next((t.id for t in types if t.is_default), None)
    result = []
    for customer in customers:
        values = {
            type_id: {"type_id": type_id, "type_name": name, **found.__dict__}
            for type_id, name in named
            if (found := customer.segments.get(type_id)) is not None
        }
        result.append(
            {
                "customer_id": customer.customer_id,
                "name": customer.name,
                "vat_number": customer.vat_number,
                "vat_key": customer.vat_key,
                "branch": customer.branch,
                "territory": customer.territory,
                "sales_rep": customer.sales_rep,
                "first_seen": customer.first_seen,
                "segment": values.get(default) if default is not None else None,
                "segments": list(values.values()),
                # connected organizations' segments by VAT number (segmint.sharing)
                "shared_segments": [
                    s.__dict__ for s in (shared or {}).get(customer.vat_key or "", ())
                ],
            }
        )
    return result


SegmentFilters = Annotated[
    list[Annotated[str, Query(max_length=220)]],
    Query(
        max_length=50,
        description="A segment of one type to keep, as `<type id>:<segment name>` "
        "(`(none)`: no segment in that type); repeatable: segments of one type are alternatives, "
        "and every type named must match.",
    ),
]


def _segment_filters(values: list[str]) -> tuple[tuple[int, tuple[str, ...]], ...]:
    """``["12:Champions", "12:Loyal", "15:A"]`` as ``((12, ("Champions", "Loyal")), (15,
    ("A",)))``."""
    found: dict[int, list[str]] = {}
    for value in values:
        type_id, _, name = value.partition(":")
        if not type_id.isdigit() or not name or not 1 <= int(type_id) <= 2_147_483_647:
            raise ValidationError(
                f"segment_filter {value[:60]!r}: write <segment type id>:<segment name>",
                field="segment_filter",
            )
        found.setdefault(int(type_id), []).append(name)
    return tuple((type_id, tuple(names)) for type_id, names in found.items())


def _query(
    *,
    search: str | None,
    branch: list[str],
    territory: list[str],
    sales_rep: list[str],
    segment_type: int | None,
    segment: list[str],
    segment_filter: list[str],
    sort: str,
    order: str,
    limit: int,
    offset: int,
) -> CustomerQuery:
    return CustomerQuery(
        search=search or None,
        branch=tuple(branch),
        territory=tuple(territory),
        sales_rep=tuple(sales_rep),
        segment_type=segment_type,
        segments=tuple(segment),
        segment_filters=_segment_filters(segment_filter),
        sort=sort,
        order=order,  # type: ignore[arg-type]
        limit=limit,
        offset=offset,
    )


@router.get(
    "/customers", response_model=Page[CustomerOut], responses=error_responses(401, 404, 422, 503)
)
def list_customers(
    request: Request,
    actor: ActorDep,
    db: DbDep,
    search: Search = None,
    branch: Values = [],  # noqa: B006 - FastAPI copies defaults
    territory: Values = [],  # noqa: B006
    sales_rep: Values = [],  # noqa: B006
    segment_type: OptionalIdQuery = None,
    segment: Values = [],  # noqa: B006
    segment_filter: SegmentFilters = [],  # noqa: B006
    sort: Literal[SORTS] = "customer_id",  # type: ignore[valid-type]
    order: Literal["asc", "desc"] = "asc",
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    offset: Annotated[int, Query(ge=0, le=2_147_483_647)] = 0,
) -> Response:
    """Customers the caller may see, with their segments in every type (``segment`` is the
    default type's). Filter by branch, territory and sales rep (each repeatable), by segment of
    one type (``segment_type`` and one or more ``segment`` names; ``(none)`` for customers with
    no segment) or of several (``segment_filter=<type id>:<name>``, repeatable), search ID, name
    and VAT number; sort by a customer field (ties by ID)."""
    query = _query(
        search=search,
        branch=branch,
        territory=territory,
        sales_rep=sales_rep,
        segment_type=segment_type,
        segment=segment,
        segment_filter=segment_filter,
        sort=sort,
        order=order,
        limit=limit,
        offset=offset,
    )
    with db.read_session() as session:
        page = customers.list_customers(
            session=session, store=request.app.state.store, actor=actor, query=query
        )
        shared = shared_segments(
            session=session, actor=actor, vat_keys=[c.vat_key for c in page.items]
        )
    checked = Page[CustomerOut].model_validate(
        {
            "items": _customers_out(page.items, page.types, shared),
            "total": page.total,
            "limit": page.limit,
            "offset": page.offset,
        }
    )
    # Validated once, written as JSON straight away: returning the model would make FastAPI
    # dump, validate and serialize the page again (a fifth of the request's time).
    return Response(checked.model_dump_json(), media_type="application/json")


EXPORT_RESPONSES = {
    200: {
        "description": "The file.",
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {
                "schema": {"type": "string", "format": "binary"}
            },
        },
    },
    **error_responses(401, 404, 422, 503),
}


@router.get("/customers/export", response_class=FileResponse, responses=EXPORT_RESPONSES)
def export_customers(
    request: Request,
    actor: ActorDep,
    db: DbDep,
    background: BackgroundTasks,
    format: Literal["csv", "xlsx"] = "csv",
    search: Search = None,
    branch: Values = [],  # noqa: B006
    territory: Values = [],  # noqa: B006
    sales_rep: Values = [],  # noqa: B006
    segment_type: OptionalIdQuery = None,
    segment: Values = [],  # noqa: B006
    segment_filter: SegmentFilters = [],  # noqa: B006
    sort: Literal[SORTS] = "customer_id",  # type: ignore[valid-type]
    order: Literal["asc", "desc"] = "asc",
) -> FileResponse:
    """The current view of the customer list (same filters, search and sort; every page) as
    CSV or Excel: customer fields, then effective, automatic and manual segment, reason and
    eligible sales for each segment type, then the segment in each type a connected organization
    shares (by VAT number). Text cells that start with = + - @ are neutralized."""
    store = request.app.state.store
    first_query = _query(
        search=search,
        branch=branch,
        territory=territory,
        sales_rep=sales_rep,
        segment_type=segment_type,
        segment=segment,
        segment_filter=segment_filter,
        sort=sort,
        order=order,
        limit=MAX_PAGE,
        offset=0,
    )
    with db.read_session() as session:
        first = customers.list_customers(
            session=session, store=store, actor=actor, query=first_query
        )
        types = first.types
        # Types connected organizations share with this one: their segment of each customer
        # (matched by VAT number), one column per type, after the organization's own.
        shared_with_us = [
            (t.id, f"{t.name} ({t.owner_name}, shared)")
            for t in shared_types(session=session, actor=actor)
        ]
        header = ["customer_id", "name", "vat_number", "branch", "territory", "sales_rep"]
        for t in types:
            header += [
                f"{t.name}: {column}"
                for column in ("effective", "automatic", "manual", "reason", "eligible_sales")
            ]
        header += [name for _, name in shared_with_us]

        def rows() -> Iterator[list[Any]]:
            page, offset = first, 0
            while page.items:
                shared = (
                    shared_segments(
                        session=session, actor=actor, vat_keys=[c.vat_key for c in page.items]
                    )
                    if shared_with_us
                    else {}
                )
                for c in page.items:
                    row = [c.customer_id, c.name, c.vat_number, c.branch, c.territory, c.sales_rep]
                    for t in types:
                        s = c.segments.get(t.id)
                        row += (
                            [s.effective, s.automatic, s.manual, s.reason, s.eligible_sales]
                            if s
                            else [None] * 5
                        )
                    theirs = {x.type_id: x.segment for x in shared.get(c.vat_key or "", ())}
                    row += [theirs.get(type_id) for type_id, _ in shared_with_us]
                    yield [neutralize(v) for v in row]
                offset += MAX_PAGE
                if offset >= page.total:
                    break
                page = customers.list_customers(
                    session=session,
                    store=store,
                    actor=actor,
                    query=CustomerQuery(**{**first_query.__dict__, "offset": offset}),
                )

        folder = Path(tempfile.mkdtemp(prefix="segmint-export-"))
        path = folder / f"customers.{format}"
        write_export(path, header, rows(), title="customers")
    background.add_task(_remove, folder)
    media = (
        "text/csv"
        if format == "csv"
        else "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    return FileResponse(path, media_type=media, filename=path.name)


def _remove(folder: Path) -> None:
    for child in folder.iterdir():
        child.unlink(missing_ok=True)
    folder.rmdir()


# Customer IDs may hold "/" (ERP numbers like "CUST/0042", sent as %2F): both routes take the
# rest of the path, the timeline's first so that ".../timeline" is not read as part of an ID.
@router.get(
    "/customers/{customer_id:path}/timeline",
    response_model=list[HistoryOut],
    responses=error_responses(401, 404, 422, 503),
)
def customer_timeline(
    customer_id: str,
    request: Request,
    actor: ActorDep,
    db: DbDep,
    segment_type: OptionalIdQuery = None,
) -> list[HistoryOut]:
    """The customer's segment changes, oldest first: automatic (by a run) and manual (who, when,
    why), in one type or (without ``segment_type``) in every type."""
    with db.read_session() as session:
        found = customers.get_customer(
            session=session, store=request.app.state.store, actor=actor, customer_id=customer_id
        )
        types = (
            [get_type(session=session, actor=actor, type_id=segment_type)]
            if segment_type is not None
            else customers.list_types(session=session, actor=actor)
        )
        rows = []
        for t in types:
            key = found.vat_key if t.identity == "vat" else found.customer_id
            if key:
                rows += assignments.timeline(
                    session=session, actor=actor, type_id=t.id, customer_key=key
                )
    rows.sort(key=lambda r: (r.at, r.id))
    return [HistoryOut.model_validate(r) for r in rows]


@router.get(
    "/customers/{customer_id:path}",
    response_model=CustomerOut,
    responses=error_responses(401, 404, 503),
)
def get_customer(customer_id: str, request: Request, actor: ActorDep, db: DbDep) -> CustomerOut:
    """One customer with its segments in every type."""
    with db.read_session() as session:
        found = customers.get_customer(
            session=session, store=request.app.state.store, actor=actor, customer_id=customer_id
        )
        types = customers.list_types(session=session, actor=actor)
        shared = shared_segments(session=session, actor=actor, vat_keys=[found.vat_key])
    return _customer_out(found, types, shared)
