"""Writing to the audit log, in the same transaction as the change it records."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from segmint.accounts.actor import Actor
from segmint.audit.models import AuditEntry


def record(
    *,
    session: Session,
    actor: Actor,
    action: str,
    entity: str,
    entity_id: object = None,
    **detail: Any,
) -> None:
    """Append one entry; ``detail`` must be JSON-serializable (decimals as strings)."""
    session.add(
        AuditEntry(
            organization_id=actor.organization_id,
            user_id=actor.user_id,
            role=actor.role,
            action=action,
            entity=entity,
            entity_id=None if entity_id is None else str(entity_id),
            detail=detail,
        )
    )
