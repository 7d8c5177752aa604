"""Fixtures of the run tests: two organizations with users of every role and one segment type
each, and a way to finish a run as the worker would (for the event and webhook tests).

(Reconstructed from what test_events.py and test_webhooks.py use, after the original was
overwritten by mistake; the helpers of the engine-backed run tests live in ``support.py``.)
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from segmint.accounts.actor import Actor
from segmint.accounts.models import Organization
from segmint.accounts.service import actor_for, create_user, system_actor
from segmint.metadata.base import utcnow
from segmint.metadata.database import Database
from segmint.runs.events import run_finished
from segmint.runs.models import Run
from segmint.segments.models import SegmentType
from segmint.segments.service import create_type


@dataclass(frozen=True)
class OrgUsers:
    """An organization, its "Sales Performance" type and an actor for each role."""

    id: int
    slug: str
    type_id: int
    system: Actor
    admin: Actor
    manager: Actor
    rep: Actor
    inactive_manager_id: int


def _org(db: Database, slug: str) -> OrgUsers:
    with db.session() as session:
        system = system_actor(session=session, org=slug)
        users = {}
        for role in ("admin", "manager", "rep"):
            user = create_user(
                session=session,
                actor=system,
                email=f"{role}@{slug}.example",
                role=role,
                password=None,
                sales_rep="Rep One" if role == "rep" else None,
            )
            users[role] = user
        inactive = create_user(
            session=session,
            actor=system,
            email=f"former-manager@{slug}.example",
            role="manager",
            password=None,
        )
        inactive.active = False
        segment_type = create_type(
            session=session, actor=system, name="Sales Performance", method="pareto"
        )
        organization = session.get(Organization, system.organization_id)
        actors = {role: actor_for(user, organization) for role, user in users.items()}
        return OrgUsers(
            id=system.organization_id,
            slug=slug,
            type_id=segment_type.id,
            system=system,
            admin=actors["admin"],
            manager=actors["manager"],
            rep=actors["rep"],
            inactive_manager_id=inactive.id,
        )


@pytest.fixture
def db(metadata_db: Database) -> Database:
    return metadata_db


@pytest.fixture
def orgs(db: Database) -> tuple[OrgUsers, OrgUsers]:
    """Two organizations: "acme" (the one the tests act in) and "globex" (the stranger)."""
    return _org(db, "acme"), _org(db, "globex")


@pytest.fixture
def finish_run(db: Database):
    """Record a finished run of the org's type and announce it, as the worker's swap (or its
    failure handler) does in the transaction that sets the final status; returns the run id."""

    def finish(
        org: OrgUsers,
        *,
        status: str = "succeeded",
        summary: dict | None = None,
        requested_by: int | None = None,
        error: str | None = None,
        notify: bool = True,
    ) -> int:
        with db.session() as session:
            segment_type = session.get(SegmentType, org.type_id)
            segment_type.notify = notify
            run = Run(
                organization_id=org.id,
                type_id=org.type_id,
                status=status,
                stage="done" if status == "succeeded" else "failed",
                trigger="manual",
                requested_by=requested_by,
                finished_at=utcnow(),
                progress=1.0,
                error=error,
                summary=summary,
            )
            session.add(run)
            session.flush()
            run_finished(session=session, run=run, segment_type=segment_type)
            return run.id

    return finish
