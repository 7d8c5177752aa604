"""Every metadata table, imported in one place so ``Base.metadata`` is complete (Alembic's
autogenerate and the tests that compare migrations with the models rely on it)."""

from segmint.accounts.models import ApiToken, LoginFailure, Organization, User, WebSession
from segmint.assignments.models import ManualOverride, RunChanges, RunResult, SegmentHistory
from segmint.audit.models import AuditEntry
from segmint.metadata.base import Base
from segmint.runs.models import Notification, Run, WebhookDelivery, WebhookEndpoint
from segmint.segments.models import Segment, SegmentType
from segmint.sharing.models import Connection

__all__ = [
    "ApiToken",
    "AuditEntry",
    "Base",
    "Connection",
    "LoginFailure",
    "ManualOverride",
    "Notification",
    "Organization",
    "Run",
    "RunChanges",
    "RunResult",
    "Segment",
    "SegmentHistory",
    "SegmentType",
    "User",
    "WebSession",
    "WebhookDelivery",
    "WebhookEndpoint",
]
