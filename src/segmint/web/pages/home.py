"""The overview: the organization's data and its segment types at a glance."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select

from segmint.runs.models import Run
from segmint.segments import service as segments
from segmint.segments.models import SegmentType
from segmint.web.deps import StoreDep
from segmint.web.session import PageIdentity, render

router = APIRouter()


@dataclass(frozen=True)
class TypeCard:
    """One segment type on the overview: its current result and its latest run."""

    type: SegmentType
    current: Run | None
    latest: Run | None

    @property
    def tiers(self) -> list[tuple[str, dict[str, Any]]]:
        """(segment, {customers, sales}) of the current result, in the type's segment order."""
        if self.current is None or not self.current.summary:
            return []
        found = self.current.summary.get("segments", {})
        ordered = [(s.name, found[s.name]) for s in self.type.segments if s.name in found]
        return ordered + ([("(none)", found[""])] if "" in found else [])


def type_cards(request: Request, identity: Any) -> list[TypeCard]:
    cards = []
    with request.app.state.db.read_session() as session:
        for segment_type in segments.list_types(session=session, actor=identity.actor):
            run_id = segment_type.current_run_id
            current = session.get(Run, run_id) if run_id else None
            latest = session.scalars(
                select(Run).where(Run.type_id == segment_type.id).order_by(Run.id.desc()).limit(1)
            ).first()
            segment_type.segments  # noqa: B018 -- loaded before the session closes
            cards.append(TypeCard(type=segment_type, current=current, latest=latest))
    return cards


# HEAD too: uptime monitors and `curl -I` use it.
@router.api_route("/", methods=["GET", "HEAD"], response_class=HTMLResponse, name="home")
def home(request: Request, identity: PageIdentity, store: StoreDep) -> HTMLResponse:
    """The organization's sales data in numbers and one card per segment type."""
    slug = identity.organization.slug
    data = next((o for o in store.organizations() if o.org == slug), None)
    return render(
        request,
        "home.html",
        identity=identity,
        title="Overview",
        active="home",
        data=data,
        cards=type_cards(request, identity),
    )
