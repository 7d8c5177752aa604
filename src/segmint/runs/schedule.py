"""Runs nobody has to ask for: on a type's cron schedule, and after every import of its
organization's data when the type is set to follow the data."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from segmint.accounts.actor import Actor
from segmint.accounts.models import Organization
from segmint.metadata.base import utcnow
from segmint.metadata.database import Database
from segmint.runs.models import Run
from segmint.runs.service import start_run
from segmint.segments.models import SegmentType
from segmint.segments.service import next_run_time


def start_due_runs(db: Database, *, now: datetime | None = None) -> list[Run]:
    """Queue a run of every type whose scheduled time has come, and move its next time on."""
    now = now or utcnow()
    started = []
    with db.session() as session:
        due = session.execute(
            select(SegmentType, Organization)
            .join(Organization, Organization.id == SegmentType.organization_id)
            .where(SegmentType.next_run_at.is_not(None), SegmentType.next_run_at <= now)
            .with_for_update(of=SegmentType, skip_locked=True)
        ).all()
        for segment_type, organization in due:
            actor = Actor.system(organization.id, organization.slug)
            started.append(
                start_run(session=session, actor=actor, type_id=segment_type.id, trigger="schedule")
            )
            segment_type.next_run_at = next_run_time(segment_type.schedule)
    return started


def start_runs_after_import(db: Database, *, org: str) -> list[Run]:
    """Queue a run of every type of ``org`` that follows its data (``run_after_import``)."""
    with db.session() as session:
        organization = session.scalars(select(Organization).where(Organization.slug == org)).first()
        if organization is None:
            return []
        actor = Actor.system(organization.id, organization.slug)
        types = session.scalars(
            select(SegmentType.id).where(
                SegmentType.organization_id == organization.id,
                SegmentType.run_after_import.is_(True),
            )
        ).all()
        return [
            start_run(session=session, actor=actor, type_id=type_id, trigger="import")
            for type_id in types
        ]
