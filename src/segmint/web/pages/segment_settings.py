"""Settings > Customer segments: the segment types, one type's page (view mode with its runs),
its edit mode, and the form that creates a type.

The pages only read (through the services, scoped by the actor); every write is made by
``static/js/segment_settings.js`` through the REST API, so the page and the API enforce the same
rules and the API's field errors (``segments[2].threshold``) are shown next to their fields.
Managers and admins only: a rep gets the 403 page, another organization's type is a 404.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from segmint.accounts.access import Identity
from segmint.api.schemas import Id
from segmint.assignments import service as assignments
from segmint.runs import service as runs
from segmint.runs.models import Run
from segmint.segments import service as segments
from segmint.segments.models import SegmentType
from segmint.web.session import PageIdentity, render

router = APIRouter()

#: Runs shown in a type's history (the API lists more).
HISTORY_LIMIT = 20
#: Where RFM cut points are edited (the Insights page, with its what-if preview).
INSIGHTS_PATH = "/insights/{type_id}"
CUT_METRICS = (
    ("r", "Recency (days since the last purchase)"),
    ("f", "Frequency (purchases)"),
    ("m", "Monetary (net sales)"),
)


def duration(run: Run) -> str:
    """How long a run computed, for people: ``0.4 s``, ``12 s``, ``3 min 05 s``; a dash when it
    has not finished (or never started).

    >>> from datetime import datetime as dt
    >>> duration(Run(started_at=dt(2025, 1, 1, 8, 0, 0), finished_at=dt(2025, 1, 1, 8, 3, 5)))
    '3 min 05 s'
    >>> duration(Run(started_at=dt(2025, 1, 1), finished_at=None))
    '—'
    """
    if run.started_at is None or run.finished_at is None:
        return "—"
    seconds = max((run.finished_at - run.started_at).total_seconds(), 0.0)
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s"


def segment_counts(summary: dict[str, Any] | None, order: list[str]) -> list[dict[str, Any]]:
    """A run summary's customers and sales per segment, in the type's segment order, then any
    segment the type no longer has, then the customers without one as ``(none)``.

    >>> summary = {"segments": {"": {"customers": 2, "sales": "0"},
    ...                         "B": {"customers": 5, "sales": "10.5"},
    ...                         "A": {"customers": 1, "sales": "90"}}}
    >>> [(c["name"], c["customers"]) for c in segment_counts(summary, ["A", "B"])]
    [('A', 1), ('B', 5), ('(none)', 2)]
    """
    found = dict((summary or {}).get("segments") or {})
    names = [n for n in order if n in found]
    names += sorted(n for n in found if n and n not in order)
    rows = [{"name": n, **_figures(found[n])} for n in names]
    if "" in found:
        rows.append({"name": "(none)", **_figures(found[""])})
    return rows


def _figures(value: dict[str, Any]) -> dict[str, Any]:
    return {"customers": int(value.get("customers", 0)), "sales": Decimal(str(value["sales"]))}


def decimal_text(value: Decimal | str | int) -> str:
    """A stored decimal (threshold, amount, cut point) without trailing zeros.

    >>> decimal_text(Decimal("80.0000")), decimal_text("12.5000"), decimal_text(Decimal("0E-4"))
    ('80', '12.5', '0')
    """
    return f"{Decimal(str(value)).normalize():f}"


@dataclass(frozen=True)
class TypeRow:
    """A line of the list: the type and its latest run."""

    type: SegmentType
    latest: Run | None


def _require_manager(identity: Identity) -> None:
    # PermissionDenied is answered with the 403 page by the app's error handler.
    identity.actor.require_manager("the segment settings")


def _latest_run(session: Session, type_id: int) -> Run | None:
    return session.scalars(
        select(Run).where(Run.type_id == type_id).order_by(Run.id.desc()).limit(1)
    ).first()


def _load_type(session: Session, identity: Identity, type_id: int) -> SegmentType:
    segment_type = segments.get_type(session=session, actor=identity.actor, type_id=type_id)
    segment_type.segments  # noqa: B018 -- loaded before the session closes
    return segment_type


def _results(session: Session, identity: Identity, segment_type: SegmentType) -> dict[str, Any]:
    """The context of ``settings_results.html``: current result and run history."""
    history = runs.list_runs(
        session=session, actor=identity.actor, type_id=segment_type.id, limit=HISTORY_LIMIT
    )
    current = session.get(Run, segment_type.current_run_id) if segment_type.current_run_id else None
    order = [s.name for s in segment_type.segments]
    return {
        "segment_type": segment_type,
        "current": current,
        "current_counts": segment_counts(current.summary if current else None, order),
        "history": [
            {"run": run, "duration": duration(run), "counts": segment_counts(run.summary, order)}
            for run in history
        ],
        "active_run": next((r for r in history if r.status in ("queued", "running")), None),
    }


def _total(segment_type: SegmentType) -> Decimal:
    return sum((s.threshold for s in segment_type.segments if not s.excluded), Decimal(0))


@router.get("/settings/segments", response_class=HTMLResponse, name="segment_settings")
def type_list(request: Request, identity: PageIdentity) -> HTMLResponse:
    """The organization's segment types: name, method, identity, default, shared, last run."""
    _require_manager(identity)
    with request.app.state.db.read_session() as session:
        rows = []
        for segment_type in segments.list_types(session=session, actor=identity.actor):
            segment_type.segments  # noqa: B018 -- loaded before the session closes
            rows.append(TypeRow(type=segment_type, latest=_latest_run(session, segment_type.id)))
    return render(
        request,
        "settings_list.html",
        identity=identity,
        title="Customer segments",
        active="settings",
        rows=rows,
    )


@router.get("/settings/segments/new", response_class=HTMLResponse, name="segment_type_new")
def new_type(request: Request, identity: PageIdentity) -> HTMLResponse:
    """The form that creates a type (saved by the page script with ``POST /segment-types``)."""
    _require_manager(identity)
    return render(
        request,
        "settings_new.html",
        identity=identity,
        title="New segment type",
        active="settings",
        segment_type=None,
        decimal_text=decimal_text,
    )


@router.get("/settings/segments/{type_id}", response_class=HTMLResponse, name="segment_type_view")
def view_type(request: Request, identity: PageIdentity, type_id: Id) -> HTMLResponse:
    """A type in view mode: its settings and segments, Auto Assign, Clear Manual Segments,
    delete, the current result and the run history."""
    _require_manager(identity)
    with request.app.state.db.read_session() as session:
        segment_type = _load_type(session, identity, type_id)
        overrides = assignments.override_count(
            session=session, actor=identity.actor, type_id=type_id
        )
        results = _results(session, identity, segment_type)
    return render(
        request,
        "settings_type.html",
        identity=identity,
        title=segment_type.name,
        active="settings",
        overrides=overrides,
        total=decimal_text(_total(segment_type)),
        decimal_text=decimal_text,
        cut_metrics=CUT_METRICS,
        insights_href=INSIGHTS_PATH.format(type_id=type_id),
        **results,
    )


@router.get(
    "/settings/segments/{type_id}/results",
    response_class=HTMLResponse,
    name="segment_type_results",
)
def type_results(request: Request, identity: PageIdentity, type_id: Id) -> HTMLResponse:
    """The current result and run history alone: the view page swaps it in when a run ends."""
    _require_manager(identity)
    with request.app.state.db.read_session() as session:
        segment_type = _load_type(session, identity, type_id)
        results = _results(session, identity, segment_type)
    templates = request.app.state.templates
    return templates.TemplateResponse(request, "settings_results.html", results)


@router.get(
    "/settings/segments/{type_id}/edit", response_class=HTMLResponse, name="segment_type_edit"
)
def edit_type(request: Request, identity: PageIdentity, type_id: Id) -> HTMLResponse:
    """A type in edit mode: its own fields, and its segments to add, edit, reorder, remove."""
    _require_manager(identity)
    with request.app.state.db.read_session() as session:
        segment_type = _load_type(session, identity, type_id)
    return render(
        request,
        "settings_edit.html",
        identity=identity,
        title=f"Edit {segment_type.name}",
        active="settings",
        segment_type=segment_type,
        total=decimal_text(_total(segment_type)),
        decimal_text=decimal_text,
        cut_metrics=CUT_METRICS,
        insights_href=INSIGHTS_PATH.format(type_id=type_id),
    )
