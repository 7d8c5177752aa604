"""The Customers pages: the list and one customer's page.

**The list** (``GET /customers``) shows one segment type's effective segment per customer (the
organization's default type unless ``type`` says otherwise). Hovering or focusing the segment
shows the type, the automatic and manual segment and the eligible sales; a row expands to every
segment type; clicking the segment opens a dialog to choose another segment (with an optional
reason) or the blank option, which clears the manual segment. Filters: segment of the shown type
(``segment``, repeatable) and of any other type (``seg_<type id>``), ``branch``, ``territory``,
``sales_rep``; search ``q``; ``sort`` (a customer field, ``-`` in front for descending);
``page`` and ``page_size``. The export buttons link to the REST API's export of the same view.

**The customer page** (``GET /customers/{customer_key}``) shows the customer's segment in every
type, why its automatic segment is what it is (Pareto rank and share of sales ahead of it, or its
R/F/M values, scores and the cut points), and its segment timeline (runs and people, who, when,
why).

Reads go through the services; writes (overrides) are made by the page's script through the
REST API, which checks the same rules.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from segmint.accounts.models import Organization, User
from segmint.assignments import service as assignments
from segmint.assignments.models import SegmentHistory
from segmint.assignments.service import EffectiveSegment
from segmint.customers import service as customers
from segmint.customers.service import MAX_PAGE, NO_SEGMENT, SORTS, Customer, CustomerQuery
from segmint.errors import NotFound, ValidationError
from segmint.runs.models import Run
from segmint.segments.models import SegmentType
from segmint.segments.service import get_type, list_types
from segmint.sharing import service as sharing
from segmint.web.deps import StoreDep
from segmint.web.session import PageIdentity, render

router = APIRouter()

PAGE_SIZES = (25, 50, 100, 200)
DEFAULT_PAGE_SIZE = 50
#: Beyond this page number a request is refused before anything is read.
MAX_PAGE_NUMBER = 1_000_000
MAX_VALUES = 50
MAX_TEXT = 200
COLUMNS = (
    ("customer_id", "Customer ID"),
    ("name", "Name"),
    ("branch", "Branch"),
    ("territory", "Territory"),
    ("sales_rep", "Sales rep"),
)


# --- the query string -----------------------------------------------------------------------


@dataclass(frozen=True)
class ListParams:
    """What the list shows, parsed from the query string."""

    type_id: int | None = None
    q: str = ""
    #: Segment names wanted per type id (the shown type's ``segment`` included).
    segments: Mapping[int, tuple[str, ...]] = field(default_factory=dict)
    branch: tuple[str, ...] = ()
    territory: tuple[str, ...] = ()
    sales_rep: tuple[str, ...] = ()
    sort: str = "customer_id"
    order: str = "asc"
    page: int = 1
    page_size: int = DEFAULT_PAGE_SIZE


def _positive_int(name: str, raw: str, *, upper: int) -> int:
    """A whole number from 1 to ``upper``, or a :class:`ValidationError` naming the parameter.

    >>> _positive_int("page", "3", upper=10)
    3
    >>> _positive_int("page", "-1", upper=10)
    Traceback (most recent call last):
    ...
    segmint.errors.ValidationError: page: a whole number from 1 to 10
    """
    text = raw.strip()
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= upper:
        raise ValidationError(f"{name}: a whole number from 1 to {upper}", field=name)
    return int(text)


def parse_params(items: list[tuple[str, str]]) -> ListParams:
    """Parse the list's query string; unknown parameters are ignored, bad values refused."""
    values: dict[str, list[str]] = {}
    for name, value in items:
        if "\x00" in name or "\x00" in value or len(value) > MAX_TEXT:
            raise ValidationError(
                f"{name[:40]}: at most {MAX_TEXT} characters of text", field=name[:40]
            )
        values.setdefault(name, []).append(value)
    for name, found in values.items():
        if len(found) > MAX_VALUES:
            raise ValidationError(f"{name}: at most {MAX_VALUES} values", field=name)

    def one(name: str) -> str | None:
        found = [v for v in values.get(name, []) if v.strip()]
        return found[-1] if found else None

    def many(name: str) -> tuple[str, ...]:
        return tuple(dict.fromkeys(v for v in values.get(name, []) if v.strip()))

    type_raw = one("type")
    type_id = _positive_int("type", type_raw, upper=2_147_483_647) if type_raw else None
    segments: dict[int, tuple[str, ...]] = {}
    for name in values:
        if name.startswith("seg_") and many(name):
            other = _positive_int(name, name[4:], upper=2_147_483_647)
            segments[other] = tuple(dict.fromkeys((*segments.get(other, ()), *many(name))))
    if many("segment"):
        if type_id is None:
            type_id = 0  # the default type, resolved once the types are read
        segments[type_id] = tuple(dict.fromkeys((*many("segment"), *segments.get(type_id, ()))))
    sort, order = one("sort") or "customer_id", "asc"
    if sort.startswith("-"):
        sort, order = sort[1:], "desc"
    if sort not in SORTS:
        raise ValidationError(
            f"sort: one of {', '.join(SORTS)} (- in front: descending)", field="sort"
        )
    page_size = one("page_size")
    return ListParams(
        type_id=type_id,
        q=(one("q") or "").strip(),
        segments=segments,
        branch=many("branch"),
        territory=many("territory"),
        sales_rep=many("sales_rep"),
        sort=sort,
        order=order,
        page=_positive_int("page", one("page") or "1", upper=MAX_PAGE_NUMBER),
        page_size=_positive_int("page_size", page_size, upper=MAX_PAGE)
        if page_size
        else DEFAULT_PAGE_SIZE,
    )


def query_items(params: ListParams, **changes: Any) -> list[tuple[str, str]]:
    """The query string of ``params`` with ``changes`` (None drops a parameter), defaults left
    out, in a stable order: what every link on the page is built from."""
    merged = {
        "type": params.type_id or None,
        "q": params.q or None,
        "branch": params.branch,
        "territory": params.territory,
        "sales_rep": params.sales_rep,
        "sort": None
        if (params.sort, params.order) == ("customer_id", "asc")
        else ("-" if params.order == "desc" else "") + params.sort,
        "page": params.page if params.page > 1 else None,
        "page_size": params.page_size if params.page_size != DEFAULT_PAGE_SIZE else None,
    }
    merged.update(changes)
    items: list[tuple[str, str]] = []
    for name, value in merged.items():
        if name == "branch":  # segment filters go right after the type
            items += _segment_items(params)
        if isinstance(value, tuple):
            items += [(name, v) for v in value]
        elif value is not None:
            items.append((name, str(value)))
    return items


def _segment_items(params: ListParams) -> list[tuple[str, str]]:
    items = [("segment", s) for s in params.segments.get(params.type_id or 0, ())]
    for type_id, names in sorted(params.segments.items()):
        if type_id != (params.type_id or 0):
            items += [(f"seg_{type_id}", s) for s in names]
    return items


def url_for_list(params: ListParams, **changes: Any) -> str:
    query = urlencode(query_items(params, **changes))
    return "/customers" + (f"?{query}" if query else "")


# --- reading ----------------------------------------------------------------------------------


def fetch_page(
    *,
    session: Session,
    store: Any,
    identity: Any,
    params: ListParams,
) -> tuple[int, list[Customer]]:
    """(total, the page's customers): the service filters on the segments of every type."""
    query = CustomerQuery(
        search=params.q or None,
        branch=params.branch,
        territory=params.territory,
        sales_rep=params.sales_rep,
        segment_filters=tuple((t, names) for t, names in params.segments.items() if names),
        sort=params.sort,
        order=params.order,  # type: ignore[arg-type]
        limit=params.page_size,
        offset=(params.page - 1) * params.page_size,
    )
    page = customers.list_customers(session=session, store=store, actor=identity.actor, query=query)
    return page.total, page.items


def _with_selected(options: list[str], selected: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """Options plus any selected value they lack, and the selection spelled as the options
    spell it (segment names match case-insensitively)."""
    by_folded = {o.casefold(): o for o in options}
    chosen = [by_folded.get(s.casefold(), s) for s in selected]
    return options + [c for c in chosen if c not in options], chosen


def filter_menus(
    shown: SegmentType | None,
    types: list[SegmentType],
    segments: Mapping[int, tuple[str, ...]],
    params: ListParams,
    dimensions: Mapping[str, list[str]],
) -> list[dict[str, Any]]:
    """The filter disclosures in page order: the shown type's segment, branch, territory,
    sales rep, then the other types' segments. Segment checkboxes are named ``seg_<type id>``
    so that changing the type shown in the same form keeps each filter on its own type."""

    def menu(param: str, label: str, options: list[str], selected: tuple[str, ...]) -> dict:
        options, chosen = _with_selected(options, selected)
        return {"param": param, "label": label, "options": options, "selected": chosen}

    def segment_menu(t: SegmentType, label: str) -> dict:
        names = [s.name for s in t.segments] + [NO_SEGMENT]
        return menu(f"seg_{t.id}", label, names, segments.get(t.id, ()))

    menus = [segment_menu(shown, "Segment")] if shown else []
    menus += [
        menu("branch", "Branch", dimensions["branch"], params.branch),
        menu("territory", "Territory", dimensions["territory"], params.territory),
        menu("sales_rep", "Sales rep", dimensions["sales_rep"], params.sales_rep),
    ]
    menus += [segment_menu(t, t.name) for t in types if shown is None or t.id != shown.id]
    return menus


def can_override(session: Session, identity: Any) -> bool:
    """The rule of :func:`segmint.assignments.service.set_override`, to show the dropdown only
    to those the API will let change a segment."""
    actor = identity.actor
    if actor.can_manage:
        return True
    organization = session.get(Organization, actor.organization_id)
    return actor.role == "rep" and organization is not None and organization.reps_can_override


def user_names(session: Session, identity: Any, ids: set[int]) -> dict[int, str]:
    """Names (or e-mail addresses) of the organization's users with these ids."""
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = session.execute(
        select(User.id, User.name, User.email).where(
            User.organization_id == identity.actor.organization_id, User.id.in_(wanted)
        )
    )
    return {row.id: row.name or row.email for row in rows}


def shared_for(
    session: Session, identity: Any, items: list[Customer]
) -> tuple[list[sharing.SharedType], dict[str, list[sharing.SharedSegment]]]:
    """The segment types connected organizations share with the user's, and their segments
    of these customers by VAT key (read-only; see :mod:`segmint.sharing`)."""
    types = sharing.shared_types(session=session, actor=identity.actor)
    if not types:
        return [], {}
    found = sharing.shared_segments(
        session=session, actor=identity.actor, vat_keys=[c.vat_key for c in items]
    )
    return types, found


# --- what the templates show ------------------------------------------------------------------


def money(value: Decimal | None) -> str:
    """An amount with thousands separators and two decimals, or a dash.

    >>> money(Decimal("1234.5000")), money(None), money(Decimal("-50"))
    ('1,234.50', '—', '-50.00')
    """
    return "—" if value is None else f"{value:,.2f}"


@dataclass(frozen=True)
class Cell:
    """One customer's segment in one type, as the list and the customer page show it."""

    type_id: int
    type_name: str
    #: The key overrides are stored under (customer ID, or VAT key for VAT types); None when
    #: the customer has none (no VAT number), so its segment cannot be changed.
    key: str | None
    effective: str | None
    automatic: str | None
    manual: str | None
    reason: str | None
    eligible_sales: str
    set_by: str | None
    set_at: str | None


def cell(segment_type: SegmentType, customer: Customer, names: Mapping[int, str]) -> Cell:
    found: EffectiveSegment | None = customer.segments.get(segment_type.id)
    key = customer.vat_key if segment_type.identity == "vat" else customer.customer_id
    return Cell(
        type_id=segment_type.id,
        type_name=segment_type.name,
        key=key,
        effective=found.effective if found else None,
        automatic=found.automatic if found else None,
        manual=found.manual if found else None,
        reason=found.reason if found else None,
        eligible_sales=money(found.eligible_sales if found else None),
        set_by=names.get(found.set_by) if found and found.set_by is not None else None,
        set_at=found.set_at.strftime("%Y-%m-%d %H:%M") if found and found.set_at else None,
    )


def types_json(types: list[SegmentType]) -> list[dict[str, Any]]:
    """The types and their segments, for the segment dialog's options."""
    return [
        {
            "id": t.id,
            "name": t.name,
            "segments": [s.name for s in t.segments],
        }
        for t in types
    ]


# --- why a customer is in its segment, and what changed when --------------------------------


@dataclass(frozen=True)
class Explanation:
    """``title`` ("Why is this customer B?"), ``summary`` (one sentence), ``steps`` (the
    reasoning, each a sentence) and ``manual`` (who set a manual segment, when and why)."""

    title: str
    summary: str
    steps: list[str] = field(default_factory=list)
    manual: str | None = None


def below(value: Decimal | int, cuts: list[str]) -> int:
    """How many cut points are strictly below ``value`` (the score rule of PRODUCT.md).

    >>> below(135, ["30", "75", "135", "210"]), below(6, ["2", "3", "4", "5"])
    (2, 4)
    """
    return sum(1 for c in cuts if Decimal(c) < Decimal(value))


def _number(value: str | Decimal) -> str:
    """A cut point without trailing zeros: ``Decimal("280.0000")`` -> ``280``."""
    text = f"{Decimal(value).normalize():,f}"
    return "0" if text in ("-0", "0") else text


def _pareto_steps(found: EffectiveSegment, run: Run, pool: int | None) -> tuple[str, list[str]]:
    params = run.params or {}
    tiers, cumulative = [], Decimal(0)
    for s in params.get("segments", []):
        if Decimal(s["threshold"]) > 0:
            cumulative += Decimal(s["threshold"])
            tiers.append((s["name"], cumulative))
    share = found.share_before or Decimal(0)
    chosen = next((name for name, limit in tiers if limit > share), None)
    ahead = (found.rank or 1) - 1
    steps = [
        f"Rank {found.rank:,} of {pool or 0:,} customers in the pool (by eligible sales, "
        "highest first).",
        f"The {ahead:,} customer{'' if ahead == 1 else 's'} ahead of it account for "
        f"{share:.2f} % of the pool's sales.",
        "Tiers by cumulative share of sales: "
        + ", ".join(f"{name} below {_number(limit)} %" for name, limit in tiers)
        + ".",
        f"The first tier whose limit is above {share:.2f} % is {chosen or found.automatic}.",
    ]
    limit = next((lim for name, lim in tiers if name == chosen), None)
    summary = (
        f"The customers ahead of it cover {share:.2f} % of the pool's sales; the first tier "
        f"whose cumulative limit is above that is {chosen or found.automatic}"
        + (f" ({_number(limit)} %)." if limit is not None else ".")
    )
    return summary, steps


def _rfm_steps(found: EffectiveSegment, run: Run) -> tuple[str, list[str]]:
    cuts = (run.params or {}).get("cuts") or {}
    r, f, m = found.r_score or 0, found.f_score or 0, found.m_score or 0
    fm = math.ceil((f + m) / 2)
    steps = []
    for label, value, shown, metric, score, rule in (
        (
            "R (recency)",
            found.recency_days,
            f"{found.recency_days:,} days since the last purchase (as of {run.as_of})",
            "r",
            r,
            "5 − {k}",
        ),
        ("F (frequency)", found.frequency, f"{found.frequency:,} purchases", "f", f, "1 + {k}"),
        (
            "M (monetary)",
            found.eligible_sales,
            f"net sales of {money(found.eligible_sales)}",
            "m",
            m,
            "1 + {k}",
        ),
    ):
        metric_cuts = cuts.get(metric) or []
        if metric_cuts and value is not None:
            k = below(value, metric_cuts)
            listed = " / ".join(_number(c) for c in metric_cuts)
            steps.append(
                f"{label}: {shown}; {k} of the cut points {listed} "
                f"{'is' if k == 1 else 'are'} below it, so "
                f"{metric.upper()} = {rule.format(k=k)} = {score}."
            )
        else:
            steps.append(f"{label}: {shown}; score {score}.")
    cell_name = f"{r}{fm}"
    steps.append(f"FM = ceil((F + M) / 2) = ceil(({f} + {m}) / 2) = {fm}.")
    steps.append(f'The cell R {r}, FM {fm} ("{cell_name}") belongs to {found.automatic}.')
    return f"{found.automatic}: R {r}, F {f}, M {m} put it in the cell {cell_name}.", steps


def explain(
    segment_type: SegmentType, found: EffectiveSegment | None, run: Run | None
) -> Explanation:
    """Why the customer has its segment in ``segment_type``, from the current run's snapshot
    row (rank and share before, or R/F/M) and the run's parameters (thresholds, cut points)."""
    effective = found.effective if found else None
    title = f"Why is this customer {effective}?" if effective else "Why no segment?"
    manual = None
    if found and found.manual is not None:
        manual = (
            f"Set by hand to {found.manual}"
            + (f": \u201c{found.reason}\u201d" if found.reason else "")
            + (
                f". Without it the customer would be {found.automatic}."
                if found.automatic
                else ". The run gave it no segment."
            )
        )
    if run is None:
        return Explanation(title, "This segment type has not run yet.", manual=manual)
    period = " to ".join((run.params or {}).get("period") or []) or "the period"
    if found is None or (found.automatic is None and found.eligible_sales is None):
        return Explanation(
            title,
            f"The run of {run.as_of} did not know this customer (no sales in {period}).",
            manual=manual,
        )
    in_pool = found.rank is not None if segment_type.method == "pareto" else bool(found.r_score)
    if not in_pool:
        why = (
            "no purchase in the period"
            if segment_type.method == "rfm"
            else "no positive eligible sales in the period"
            if (found.eligible_sales or 0) <= 0
            else f"eligible sales below the minimum of {money(segment_type.min_sales)}"
        )
        outcome = (
            f"so it gets the default segment {found.automatic}"
            if found.automatic
            else "and the type has no default segment, so it gets none"
        )
        return Explanation(
            title,
            f"Not in the pool ({why}), {outcome}.",
            [f"Eligible sales {period}: {money(found.eligible_sales)}."],
            manual,
        )
    pool = (run.summary or {}).get("pool")
    if segment_type.method == "pareto":
        summary, steps = _pareto_steps(found, run, pool)
    else:
        summary, steps = _rfm_steps(found, run)
    steps.insert(0, f"Eligible sales {period}: {money(found.eligible_sales)}.")
    return Explanation(title, summary, steps, manual)


SOURCES = {"run": "Automatic (run)", "manual": "Manual", "clear_all": "All manual cleared"}


def timeline_entry(
    segment_type: SegmentType, row: SegmentHistory, names: Mapping[int, str]
) -> dict[str, Any]:
    """One line of the customer's timeline, ready to show."""

    def change(old: str | None, new: str | None) -> str:
        return f"{old or '(none)'} \u2192 {new or '(none)'}"

    return {
        "at": row.at.strftime("%Y-%m-%d %H:%M"),
        "type": segment_type.name,
        "source": SOURCES.get(row.source, row.source)
        + (f" #{row.run_id}" if row.source == "run" and row.run_id else ""),
        "kind": row.source,
        "effective": change(row.effective_from, row.effective_to),
        "automatic": change(row.auto_from, row.auto_to) if row.auto_from != row.auto_to else "",
        "who": names.get(row.user_id, "") if row.user_id is not None else "Segmint",
        "why": row.reason or "",
    }


# --- the pages --------------------------------------------------------------------------------


@router.get("/customers", response_class=HTMLResponse, name="customers")
def customer_list(request: Request, identity: PageIdentity, store: StoreDep) -> HTMLResponse:
    params = parse_params(request.query_params.multi_items())
    actor = identity.actor
    with request.app.state.db.read_session() as session:
        all_types = list_types(session=session, actor=actor)
        by_id = {t.id: t for t in all_types}
        default = next((t for t in all_types if t.is_default), all_types[0] if all_types else None)
        if params.type_id:
            shown: SegmentType | None = get_type(
                session=session, actor=actor, type_id=params.type_id
            )
        else:
            shown = default
        segments = dict(params.segments)
        if 0 in segments:  # ``segment`` without ``type``: the default type's
            if shown is None:
                raise ValidationError(
                    "segment: the organization has no segment type yet", field="segment"
                )
            segments[shown.id] = tuple(
                dict.fromkeys((*segments.pop(0), *segments.get(shown.id, ())))
            )
        for type_id in segments:
            if type_id not in by_id:
                raise NotFound(f"no segment type {type_id}")
        params = ListParams(**{**params.__dict__, "segments": segments, "type_id": params.type_id})
        total, items = fetch_page(session=session, store=store, identity=identity, params=params)
        pages = max(1, -(-total // params.page_size))
        if params.page > pages:
            raise NotFound(f"page {params.page} does not exist: the list has {pages} page(s)")
        ids = {s.set_by for c in items for s in c.segments.values() if s and s.set_by is not None}
        names = user_names(session, identity, ids)
        shared_types, shared = shared_for(session, identity, items)
        rows = [
            {
                "customer": c,
                "href": "/customers/" + quote(c.customer_id, safe=""),
                "shown": cell(shown, c, names) if shown else None,
                "cells": [cell(t, c, names) for t in all_types],
                "shared": shared.get(c.vat_key or "", []),
            }
            for c in items
        ]
        dimensions = customers.dimension_values(session=session, store=store, actor=actor)
        editable = can_override(session, identity)
        type_data = types_json(all_types)
        filters = filter_menus(shown, all_types, segments, params, dimensions)
    shown_id = shown.id if shown else None
    view = ListParams(**{**params.__dict__, "type_id": shown_id if params.type_id else None})
    return render(
        request,
        "customers.html",
        identity=identity,
        title="Customers",
        active="customers",
        params=view,
        shown=shown,
        types=all_types,
        shared_types=shared_types,
        rows=rows,
        total=total,
        page=params.page,
        pages=pages,
        first=(params.page - 1) * params.page_size + 1 if total else 0,
        last=min(total, params.page * params.page_size),
        page_sizes=sorted({*PAGE_SIZES, params.page_size}),
        filters=filters,
        columns=COLUMNS,
        editable=editable,
        type_data={"types": type_data, "editable": editable, "reload": False},
        list_url=lambda **changes: url_for_list(view, **changes),
        sort_link=lambda column: _sort_link(view, column),
        export_url=_export_url(view, segments),
        clear_url=url_for_list(
            ListParams(type_id=view.type_id, sort=view.sort, order=view.order),
            page_size=view.page_size if view.page_size != DEFAULT_PAGE_SIZE else None,
        ),
        filtered=bool(
            segments or params.q or params.branch or params.territory or params.sales_rep
        ),
    )


def _sort_link(params: ListParams, column: str) -> dict[str, str]:
    """The link of a column header and its ``aria-sort``: a click sorts by the column, again
    reverses it."""
    current = params.sort == column
    descending = current and params.order == "asc"
    return {
        "href": url_for_list(params, sort=("-" if descending else "") + column, page=None),
        "aria": ("ascending" if params.order == "asc" else "descending") if current else "none",
    }


def _export_url(params: ListParams, segments: Mapping[int, tuple[str, ...]]) -> str:
    """The REST API's export of this view (every page)."""
    items: list[tuple[str, str]] = []
    if params.q:
        items.append(("search", params.q))
    for name in customers.DIMENSIONS:
        items += [(name, v) for v in getattr(params, name)]
    for type_id, names in segments.items():
        items += [("segment_filter", f"{type_id}:{name}") for name in names]
    items += [("sort", params.sort), ("order", params.order)]
    return "/api/v1/customers/export?" + urlencode(items)


@router.get("/customers/{customer_key:path}", response_class=HTMLResponse, name="customer")
def customer_page(
    customer_key: str, request: Request, identity: PageIdentity, store: StoreDep
) -> HTMLResponse:
    actor = identity.actor
    with request.app.state.db.read_session() as session:
        found = customers.get_customer(
            session=session, store=store, actor=actor, customer_id=customer_key
        )
        types = list_types(session=session, actor=actor)
        history = []
        for t in types:
            key = found.vat_key if t.identity == "vat" else found.customer_id
            if key:
                history += [
                    (t, row)
                    for row in assignments.timeline(
                        session=session, actor=actor, type_id=t.id, customer_key=key
                    )
                ]
        history.sort(key=lambda item: (item[1].at, item[1].id), reverse=True)
        ids = {row.user_id for _, row in history if row.user_id is not None}
        ids |= {s.set_by for s in found.segments.values() if s and s.set_by is not None}
        names = user_names(session, identity, ids)
        runs = {
            t.id: session.get(Run, t.current_run_id) for t in types if t.current_run_id is not None
        }
        sections = [
            {
                "type": t,
                "cell": cell(t, found, names),
                "why": explain(t, found.segments.get(t.id), runs.get(t.id)),
            }
            for t in types
        ]
        timeline = [timeline_entry(t, row, names) for t, row in history]
        _, shared = shared_for(session, identity, [found])
        editable = can_override(session, identity)
        # The customer page reloads after a change: its timeline and explanation change too.
        type_data = {"types": types_json(types), "editable": editable, "reload": True}
    return render(
        request,
        "customer.html",
        identity=identity,
        title=f"{found.name or found.customer_id} · Customers",
        active="customers",
        customer=found,
        sections=sections,
        shared=shared.get(found.vat_key or "", []),
        timeline=timeline,
        editable=editable,
        type_data=type_data,
    )
