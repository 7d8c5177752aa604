"""Listing and reading customers: records from the sales store, segments from the metadata.

The page of customers is chosen from the organization's customer records as cached in memory
for the current version of the sales store (:mod:`segmint.customers.table`: filters and search
are masks, sorts are cached orders, a page is a slice); only that page's segments are then read
from the metadata database, in one query for every type (:mod:`segmint.customers.segments`). A
filter on a segment first asks the metadata database for the keys in that segment.

**Reps.** When the organization has ``reps_see_own_customers_only``, a rep sees exactly the
customers whose ``sales_rep`` (in the customers table) is the rep's own; a rep without a
``sales_rep`` sees none. Everything that names a customer goes through :func:`check_visible`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

import numpy as np
from sqlalchemy.orm import Session

from segmint.accounts.actor import Actor
from segmint.accounts.models import Organization
from segmint.assignments.service import EffectiveSegment, effective_segment_keys
from segmint.customers.segments import effective_segments_at
from segmint.customers.table import TABLES, CustomerTable
from segmint.errors import NotFound, ValidationError
from segmint.segments.models import SegmentType
from segmint.segments.service import get_type, list_types

SORTS = ("customer_id", "name", "branch", "territory", "sales_rep", "first_seen")
DIMENSIONS = ("branch", "territory", "sales_rep")
#: The segment filter value that means "no effective segment in this type".
NO_SEGMENT = "(none)"
MAX_PAGE = 500


@dataclass(frozen=True)
class Customer:
    customer_id: str
    name: str | None
    vat_number: str | None
    vat_key: str | None
    branch: str | None
    territory: str | None
    sales_rep: str | None
    first_seen: date | None
    #: Effective segment per segment type id (None: the customer has none in that type).
    segments: dict[int, EffectiveSegment | None] = field(default_factory=dict)


@dataclass(frozen=True)
class CustomerPage:
    total: int
    limit: int
    offset: int
    items: list[Customer]
    types: list[SegmentType]


@dataclass(frozen=True)
class CustomerQuery:
    """What the list shows: every field optional."""

    search: str | None = None
    branch: tuple[str, ...] = ()
    territory: tuple[str, ...] = ()
    sales_rep: tuple[str, ...] = ()
    segment_type: int | None = None
    segments: tuple[str, ...] = ()
    #: More segment filters, each ``(segment type id, segment names)``; every one must match
    #: (the list page filters on segments of several types at once).
    segment_filters: tuple[tuple[int, tuple[str, ...]], ...] = ()
    sort: str = "customer_id"
    order: Literal["asc", "desc"] = "asc"
    limit: int = 50
    offset: int = 0


def rep_restriction(session: Session, actor: Actor) -> str | Literal[False] | None:
    """The ``sales_rep`` value the actor is limited to, ``None`` when the actor is limited but
    has none (sees nothing), or ``False`` when the actor sees every customer."""
    if actor.role != "rep":
        return False
    organization = session.get(Organization, actor.organization_id)
    if organization is None or not organization.reps_see_own_customers_only:
        return False
    return actor.sales_rep


def _where(org: str, restriction: str | Literal[False] | None) -> tuple[list[str], list[Any]]:
    clauses, params = ["c.org = ?"], [org]
    if restriction is None:
        clauses.append("FALSE")
    elif restriction is not False:
        clauses.append("c.sales_rep = ?")
        params.append(restriction)
    return clauses, params


def _customers_sql() -> str:
    """The organization's customers: its customer records plus IDs seen only in sales lines."""
    return (
        "SELECT org, customer_id, name, vat_number, vat_key, branch, territory, sales_rep, "
        "first_seen FROM store.customers"
    )


def check_visible(
    *, session: Session, store: Any, actor: Actor, customer_key: str, identity: str = "id"
) -> None:
    """Raise :class:`NotFound` unless the actor may see the customer (by ID, or by VAT key for
    VAT-based types); managers see every key, so nothing is read for them."""
    restriction = rep_restriction(session, actor)
    if restriction is False:
        return
    column = "vat_key" if identity == "vat" else "customer_id"
    clauses, params = _where(actor.org_slug, restriction)
    with store.attached() as con:
        found = con.execute(
            f"SELECT count(*) FROM ({_customers_sql()}) c WHERE {' AND '.join(clauses)} "
            f"AND c.{column} = ?",
            [*params, customer_key],
        ).fetchall()[0][0]
    if not found:
        raise NotFound(f"no customer {customer_key!r} in this organization")


@dataclass(frozen=True)
class SegmentKeys:
    """The keys a segment filter selects: those whose effective segment is wanted, and (when
    ``(none)`` is wanted) every key that has an effective segment, to leave out."""

    wanted: list[str]
    want_none: bool
    with_segment: list[str]


def keys_in_segments(
    *, session: Session, segment_type: SegmentType, names: tuple[str, ...]
) -> SegmentKeys:
    """Resolve a segment filter of ``segment_type`` (names, case-insensitive, or ``(none)``)."""
    by_name = {s.name.casefold(): s.id for s in segment_type.segments}
    wanted: set[int] = set()
    want_none = False
    for name in names:
        if name == NO_SEGMENT:
            want_none = True
        elif name.casefold() in by_name:
            wanted.add(by_name[name.casefold()])
        else:
            known = ", ".join(s.name for s in segment_type.segments)
            raise ValidationError(
                f"segment {name!r} is not a segment of {segment_type.name!r} (its segments: "
                f"{known}, or {NO_SEGMENT})",
                field="segment",
            )
    keys, having = effective_segment_keys(
        session=session, segment_type=segment_type, segment_ids=wanted, with_segment=want_none
    )
    return SegmentKeys(wanted=keys, want_none=want_none, with_segment=having)


def _check_query(query: CustomerQuery) -> None:
    if query.sort not in SORTS:
        raise ValidationError(f"sort {query.sort!r}: use one of {', '.join(SORTS)}", field="sort")
    if query.order not in ("asc", "desc"):
        raise ValidationError(f"order {query.order!r}: use asc or desc", field="order")
    if not 1 <= query.limit <= MAX_PAGE:
        raise ValidationError(f"limit must be between 1 and {MAX_PAGE}", field="limit")
    if query.offset < 0:
        raise ValidationError("offset must not be negative", field="offset")
    if query.search is not None and ("\x00" in query.search or len(query.search) > 200):
        raise ValidationError("search: at most 200 characters of text", field="search")


def list_customers(
    *, session: Session, store: Any, actor: Actor, query: CustomerQuery
) -> CustomerPage:
    """One page of the customers the actor may see, with their segments in every type."""
    _check_query(query)
    types = list_types(session=session, actor=actor)
    restriction = rep_restriction(session, actor)
    selected: dict[str, Any] = {}  # filter -> what it keeps, applied below once all are valid
    if restriction is not False:
        selected["rep"] = restriction
    for column in DIMENSIONS:
        if values := getattr(query, column):
            selected[column] = values
    if query.segments and query.segment_type is None:
        raise ValidationError(
            "segment: say which segment type (segment_type)", field="segment_type"
        )
    wanted = [(query.segment_type, query.segments)] if query.segments else []
    segment_keys = []  # (key column, SegmentKeys) per segment filter
    for type_id, names in [*wanted, *query.segment_filters]:
        if not names:
            continue
        segment_type = get_type(session=session, actor=actor, type_id=type_id)
        keys = keys_in_segments(session=session, segment_type=segment_type, names=names)
        segment_keys.append(("vat_key" if segment_type.identity == "vat" else "customer_id", keys))
    if restriction is None:  # a limited rep without a sales rep value sees no customer
        return CustomerPage(total=0, limit=query.limit, offset=query.offset, items=[], types=types)
    table = TABLES.get(store, actor.org_slug)
    mask = None
    for name, value in selected.items():
        found = (
            table.equal_mask("sales_rep", value) if name == "rep" else table.in_mask(name, value)
        )
        mask = found if mask is None else mask & found
    if query.search:
        pattern = (
            "%" + query.search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        )
        found = table.search_mask(
            "(c.customer_id ILIKE ? ESCAPE '\\' OR c.name ILIKE ? ESCAPE '\\' "
            "OR c.vat_number ILIKE ? ESCAPE '\\')",
            [pattern] * 3,
        )
        mask = found if mask is None else mask & found
    for column, keys in segment_keys:
        found = table.in_mask(column, keys.wanted)
        if keys.want_none:
            # a key with no effective segment: NULL, or not among those that have one
            found |= table.null_mask(column) | ~table.in_mask(column, keys.with_segment)
        mask = found if mask is None else mask & found
    order = table.order(query.sort, "descending" if query.order == "desc" else "ascending")
    if mask is not None:
        order = order[mask[order]]
    page = order[query.offset : query.offset + query.limit]
    items = _with_segments(session, types, table, page)
    return CustomerPage(
        total=len(order), limit=query.limit, offset=query.offset, items=items, types=types
    )


def _with_segments(
    session: Session, types: list[SegmentType], table: CustomerTable, positions: np.ndarray
) -> list[Customer]:
    """The customers at ``positions`` of the table, with their effective segment in every
    type."""
    rows = table.rows(positions)
    segments = effective_segments_at(session=session, types=types, table=table, positions=positions)
    return [Customer(*row, segments=found) for row, found in zip(rows, segments, strict=True)]


def dimension_values(*, session: Session, store: Any, actor: Actor) -> dict[str, list[str]]:
    """The branches, territories and sales reps of the customers the actor may see (for filter
    pickers), from the same in-memory table as the list."""
    restriction = rep_restriction(session, actor)
    if restriction is None:
        return {column: [] for column in DIMENSIONS}
    table = TABLES.get(store, actor.org_slug)
    mask = None if restriction is False else table.equal_mask("sales_rep", restriction)
    return {column: table.distinct(column, mask) for column in DIMENSIONS}


def get_customer(*, session: Session, store: Any, actor: Actor, customer_id: str) -> Customer:
    """One customer the actor may see, with its segments in every type."""
    if not customer_id or len(customer_id) > 200 or "\x00" in customer_id:
        raise NotFound(f"no customer {customer_id[:40]!r} in this organization")
    restriction = rep_restriction(session, actor)
    if restriction is not None:
        table = TABLES.get(store, actor.org_slug)
        mask = table.equal_mask("customer_id", customer_id)
        if restriction is not False:
            mask &= table.equal_mask("sales_rep", restriction)
        positions = np.flatnonzero(mask)[:1]
    if restriction is None or not len(positions):
        raise NotFound(f"no customer {customer_id!r} in this organization")
    types = list_types(session=session, actor=actor)
    return _with_segments(session, types, table, positions)[0]
