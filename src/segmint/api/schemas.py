"""Request and response bodies of the API. Amounts are decimal strings (exact), times are ISO
8601 in UTC."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Generic, Literal, TypeVar

from fastapi import Path, Query
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

T = TypeVar("T")

#: Ids fit a 32-bit integer on every database; anything else is a 422 before any query.
Id = Annotated[int, Path(ge=1, le=2_147_483_647)]
OptionalIdQuery = Annotated[int | None, Query(ge=1, le=2_147_483_647)]
Text = Annotated[str, Field(max_length=2000)]
ShortText = Annotated[str, Field(max_length=200)]


class Page(BaseModel, Generic[T]):
    """A page of a list: ``items`` in a stable order, ``total`` across all pages."""

    items: list[T]
    total: int
    limit: int
    offset: int


def _no_nul(value: Any) -> Any:
    if isinstance(value, str) and "\x00" in value:
        raise ValueError("text must not contain NUL characters")
    if isinstance(value, list):
        for item in value:
            _no_nul(item)
    return value


class In(BaseModel):
    """A request body: unknown fields are refused, and no text may hold a NUL character
    (PostgreSQL cannot store one; better a 422 naming the field than a failed write)."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _text_without_nul(cls, value: Any) -> Any:
        return _no_nul(value)


class Patch(In):
    """A partial update: a field left out stays as it is; ``null`` is only accepted for the
    fields in :attr:`NULLABLE` (where it means "none", e.g. no schedule)."""

    NULLABLE: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="after")
    def _no_null_unless_nullable(self) -> Patch:
        for name in sorted(self.model_fields_set):
            if getattr(self, name) is None and name not in self.NULLABLE:
                raise ValueError(f"{name} cannot be null; leave it out to keep it")
        return self


class Orm(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# --- accounts -------------------------------------------------------------------------------


class LoginIn(In):
    email: Annotated[str, Field(max_length=254)]
    password: Annotated[str, Field(max_length=1000)]


class UserOut(Orm):
    id: int
    email: str
    name: str
    role: str
    sales_rep: str | None
    active: bool
    created_at: datetime


class OrganizationOut(Orm):
    id: int
    slug: str
    name: str
    reps_see_own_customers_only: bool
    reps_can_override: bool


class OrganizationPatch(Patch):
    name: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    reps_see_own_customers_only: bool | None = None
    reps_can_override: bool | None = None


class MeOut(BaseModel):
    user: UserOut
    organization: OrganizationOut
    csrf_token: str | None = Field(
        None, description="Send as X-CSRF-Token with writes made with the session cookie."
    )


class UserIn(In):
    email: Annotated[str, Field(max_length=254)]
    role: Literal["admin", "manager", "rep"]
    password: Annotated[str, Field(min_length=10, max_length=1000)] | None = None
    name: ShortText = ""
    sales_rep: ShortText | None = None


class UserPatch(Patch):
    NULLABLE = frozenset({"sales_rep"})

    role: Literal["admin", "manager", "rep"] | None = None
    name: ShortText | None = None
    sales_rep: ShortText | None = None
    active: bool | None = None
    password: Annotated[str, Field(min_length=10, max_length=1000)] | None = None


class TokenIn(In):
    name: Annotated[str, Field(min_length=1, max_length=100)]


class TokenOut(Orm):
    id: int
    name: str
    prefix: str
    user_id: int
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class TokenCreated(TokenOut):
    token: str = Field(description="The token itself: shown only in this response.")


# --- segment types ------------------------------------------------------------------------


class SegmentIn(In):
    id: Annotated[int, Field(ge=1, le=2_147_483_647)] | None = None
    name: ShortText
    threshold: Annotated[Decimal, Field(ge=0, le=100, max_digits=10, decimal_places=4)] = Decimal(0)
    visit_every_days: Annotated[int, Field(ge=1, le=3650)] | None = None
    priority: Annotated[int, Field(ge=0, le=1000)] | None = None
    is_default: bool = False
    excluded: bool = False
    description: Text = ""
    recommended_action: Text = ""
    cells: Annotated[list[Annotated[str, Field(max_length=2)]], Field(max_length=25)] = []


class SegmentOut(Orm):
    id: int
    name: str
    position: int
    threshold: Decimal
    visit_every_days: int | None
    priority: int | None
    is_default: bool
    excluded: bool
    description: str
    recommended_action: str
    cells: list[str]


Cuts = Annotated[
    list[Annotated[Decimal, Field(max_digits=22, decimal_places=4)]],
    Field(min_length=4, max_length=4),
]
NameList = Annotated[list[ShortText], Field(max_length=200)]


class TypeFields(Patch):
    NULLABLE = frozenset({"r_cuts", "f_cuts", "m_cuts", "schedule"})

    identity: Literal["id", "vat"] | None = None
    is_default: bool | None = None
    shared: bool | None = None
    branches: NameList | None = None
    brands: NameList | None = None
    min_sales: Annotated[Decimal, Field(ge=0, max_digits=18, decimal_places=4)] | None = None
    timespan_months: Annotated[int, Field(ge=1, le=240)] | None = None
    interval: Literal["rolling", "fixed_year"] | None = None
    notify: bool | None = None
    r_cuts: Cuts | None = None
    f_cuts: Cuts | None = None
    m_cuts: Cuts | None = None
    schedule: Annotated[str, Field(max_length=120)] | None = None
    run_after_import: bool | None = None


class TypeIn(TypeFields):
    name: Annotated[str, Field(min_length=1, max_length=120)]
    method: Literal["pareto", "rfm"]
    segments: Annotated[list[SegmentIn], Field(max_length=100)] | None = None


class TypePatch(TypeFields):
    name: Annotated[str, Field(min_length=1, max_length=120)] | None = None


class TypeOut(Orm):
    id: int
    name: str
    method: str
    identity: str
    is_default: bool
    shared: bool
    branches: list[str]
    brands: list[str]
    min_sales: Decimal
    timespan_months: int
    interval: str
    notify: bool
    r_cuts: list[str] | None
    f_cuts: list[str] | None
    m_cuts: list[str] | None
    schedule: str | None
    next_run_at: datetime | None
    run_after_import: bool
    current_run_id: int | None
    created_at: datetime
    updated_at: datetime
    segments: list[SegmentOut]


class SegmentsIn(In):
    segments: Annotated[list[SegmentIn], Field(min_length=1, max_length=100)]


# --- runs -----------------------------------------------------------------------------------


class RunIn(In):
    as_of: date | None = Field(None, description="Default: the day the run computes.")


class RunOut(Orm):
    id: int
    type_id: int
    status: str
    trigger: str
    requested_by: int | None
    as_of: date | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    progress: float
    stage: str
    error: str | None
    summary: dict[str, Any] | None


# --- customers and overrides -----------------------------------------------------------


class SegmentValue(BaseModel):
    """A customer's segments in one type."""

    type_id: int
    type_name: str
    effective: str | None
    automatic: str | None
    manual: str | None
    eligible_sales: Decimal | None
    reason: str | None
    set_by: int | None
    set_at: datetime | None
    rank: int | None = None
    share_before: Decimal | None = None
    recency_days: int | None = None
    frequency: int | None = None
    r_score: int | None = None
    f_score: int | None = None
    m_score: int | None = None


class SharedSegmentOut(BaseModel):
    """A connected organization's segment of this customer in a type it shares (matched by VAT
    number): the segment's name and what it means, never the owner's figures."""

    type_id: int = Field(description="The owner's segment type (see GET /shared-types).")
    type_name: str
    owner_slug: str
    owner_name: str
    segment: str
    description: str
    recommended_action: str


class CustomerOut(BaseModel):
    customer_id: str
    name: str | None
    vat_number: str | None
    vat_key: str | None
    branch: str | None
    territory: str | None
    sales_rep: str | None
    first_seen: date | None
    segment: SegmentValue | None = Field(
        description="The default segment type's segments (None without a default type)."
    )
    segments: list[SegmentValue]
    shared_segments: list[SharedSegmentOut] = Field(
        default_factory=list,
        description="Segments that connected organizations share with yours, on this customer "
        "(by VAT number; read-only).",
    )


class HistoryOut(Orm):
    id: int
    type_id: int
    customer_key: str
    source: str
    run_id: int | None = None
    user_id: int | None
    auto_from: str | None
    auto_to: str | None
    effective_from: str | None
    effective_to: str | None
    reason: str | None
    at: datetime


class OverrideIn(In):
    customer_key: Annotated[str, Field(min_length=1, max_length=200)]
    segment: ShortText | Annotated[int, Field(ge=1, le=2_147_483_647)]
    reason: Text | None = None


class OverrideClearIn(In):
    customer_key: Annotated[str, Field(min_length=1, max_length=200)]
    reason: Text | None = None


class OverrideOut(BaseModel):
    type_id: int
    customer_key: str
    segment: str
    reason: str | None
    set_by: int | None
    set_at: datetime | None


class Count(BaseModel):
    count: int


# --- notifications and webhooks ------------------------------------------------------------


class NotificationOut(Orm):
    id: int
    kind: str
    run_id: int | None
    message: str
    created_at: datetime
    read_at: datetime | None


class WebhookIn(In):
    url: Annotated[str, Field(min_length=1, max_length=2000)]
    events: Annotated[list[Annotated[str, Field(max_length=64)]], Field(max_length=10)] = []


class WebhookOut(Orm):
    id: int
    url: str
    events: list[str]
    active: bool
    created_at: datetime


class WebhookCreated(WebhookOut):
    secret: str = Field(description="The signing secret: shown only in this response.")


class DeliveryOut(Orm):
    id: int
    endpoint_id: int
    event_id: str
    event: str
    status: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    last_status_code: int | None
    created_at: datetime
    delivered_at: datetime | None


# --- connections and shared segment types --------------------------------------------------


class ConnectionIn(In):
    slug: Annotated[str, Field(min_length=1, max_length=64)] = Field(
        description="The slug of the organization to invite."
    )


class ConnectionOut(BaseModel):
    """A connection as your organization sees it; user ids are your own users' only."""

    id: int
    status: Literal["pending", "active", "declined", "ended"]
    direction: Literal["outgoing", "incoming"] = Field(
        description="outgoing: your organization invited; incoming: it was invited."
    )
    partner_slug: str
    partner_name: str
    invited_at: datetime
    invited_by: int | None
    responded_at: datetime | None
    responded_by: int | None
    ended_at: datetime | None
    ended_by: int | None
    ended_by_side: Literal["us", "partner"] | None


class SharedSegmentInfoOut(BaseModel):
    name: str
    description: str
    recommended_action: str


class SharedTypeOut(BaseModel):
    """A segment type a connected organization shares with yours."""

    id: int
    name: str
    method: Literal["pareto", "rfm"]
    owner_slug: str
    owner_name: str
    segments: list[SharedSegmentInfoOut]
