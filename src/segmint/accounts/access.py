"""How people and systems prove who they are: password login with throttling, browser sessions
and API tokens.

Secrets are random (``secrets.token_urlsafe``) and only their SHA-256 is stored: a copy of the
database gives no live session or token. A session ends at logout, after ``session_hours``, or
after ``session_idle_minutes`` without a request; a token ends when it is revoked or its user is
deactivated.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Select, bindparam, delete, func, select, update
from sqlalchemy.orm import Session

from segmint.accounts.actor import Actor
from segmint.accounts.models import ApiToken, LoginFailure, Organization, User, WebSession
from segmint.accounts.service import actor_for, verify_password
from segmint.audit.service import record
from segmint.errors import NotFound, SegmintError, ValidationError
from segmint.metadata.base import utcnow

TOKEN_PREFIX = "sgm_"
#: An address may fail this many times the per-account limit (it may serve a whole office).
ADDRESS_FACTOR = 4
#: How stale "last used" may get before a request writes it (most requests then only read).
TOUCH_EVERY = timedelta(minutes=1)


class LoginFailed(SegmintError):
    """Wrong e-mail or password (deliberately not saying which)."""


class LoginThrottled(SegmintError):
    """Too many recent failures for this account or address."""

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class Policy:
    """The session and throttling limits (from the settings)."""

    session_hours: float = 12
    session_idle_minutes: float = 120
    max_failures: int = 5
    window_minutes: float = 15

    @classmethod
    def from_settings(cls, settings: object) -> Policy:
        return cls(
            session_hours=settings.session_hours,  # type: ignore[attr-defined]
            session_idle_minutes=settings.session_idle_minutes,  # type: ignore[attr-defined]
            max_failures=settings.login_max_failures,  # type: ignore[attr-defined]
            window_minutes=settings.login_window_minutes,  # type: ignore[attr-defined]
        )


@dataclass(frozen=True)
class Identity:
    """Who a request acts as."""

    user: User
    organization: Organization
    actor: Actor
    session_id: int | None = None
    csrf_token: str | None = None
    token_id: int | None = None
    #: When the session or token was last marked used; :func:`touch` is due when it is old.
    last_used_at: datetime | None = None

    @property
    def touch_due(self) -> bool:
        return self.last_used_at is None or utcnow() - self.last_used_at > TOUCH_EVERY


def _identity(user: User, organization: Organization, **extra: object) -> Identity | None:
    if not user.active:
        return None
    return Identity(
        user=user, organization=organization, actor=actor_for(user, organization), **extra
    )  # type: ignore[arg-type]


def _throttle(session: Session, *, email: str, address: str, policy: Policy, now: datetime) -> None:
    since = now - timedelta(minutes=policy.window_minutes)
    for column, value, limit in (
        (LoginFailure.email, email, policy.max_failures),
        (LoginFailure.address, address, policy.max_failures * ADDRESS_FACTOR),
    ):
        failures = session.execute(
            select(func.count(), func.min(LoginFailure.at)).where(
                column == value, LoginFailure.at > since
            )
        ).one()
        if failures[0] >= limit:
            oldest = failures[1]
            wait = (oldest + timedelta(minutes=policy.window_minutes) - now).total_seconds()
            raise LoginThrottled(
                "too many failed logins; try again in a few minutes",
                retry_after=max(1, int(wait) + 1),
            )


def login(
    *, session: Session, email: str, password: str, address: str, policy: Policy
) -> tuple[Identity, str]:
    """Check the password and open a browser session: the identity and the cookie secret.

    Refused while the account or the address has too many recent failures (even with the right
    password, so guessing cannot continue in the window). A wrong password raises
    :class:`LoginFailed`; the caller records it with :func:`record_failure` in a transaction of
    its own. A success clears the account's failures."""
    email = (email or "").strip().lower()[:254]
    address = (address or "unknown")[:64]
    now = utcnow()
    _throttle(session, email=email, address=address, policy=policy, now=now)
    user = session.scalars(select(User).where(func.lower(User.email) == email)).first()
    identity = None
    if user is not None and verify_password(user, password):
        organization = session.get(Organization, user.organization_id)
        identity = _identity(user, organization) if organization is not None else None
    if identity is None:
        raise LoginFailed("wrong e-mail address or password")
    session.execute(delete(LoginFailure).where(LoginFailure.email == email))
    session.execute(delete(WebSession).where(WebSession.expires_at <= now))
    secret = secrets.token_urlsafe(32)
    web_session = WebSession(
        user_id=identity.user.id,
        token_hash=digest(secret),
        csrf_token=secrets.token_urlsafe(32),
        created_at=now,
        last_seen_at=now,
        expires_at=now + timedelta(hours=policy.session_hours),
    )
    session.add(web_session)
    session.flush()
    record(
        session=session,
        actor=identity.actor,
        action="user.login",
        entity="user",
        entity_id=identity.user.id,
    )
    return _identity(
        identity.user,
        identity.organization,
        session_id=web_session.id,
        csrf_token=web_session.csrf_token,
    ), secret  # type: ignore[return-value]


def record_failure(*, session: Session, email: str, address: str) -> None:
    """Count a failed login (in its own transaction: the login's own is rolled back)."""
    session.add(
        LoginFailure(email=(email or "").strip().lower()[:254], address=(address or "unknown")[:64])
    )


# Every request resolves its session or token: the statements are built once (building a
# select costs about as much as running it on SQLite).
_SESSION_IDENTITY = (
    select(WebSession, User, Organization)
    .join(User, User.id == WebSession.user_id)
    .join(Organization, Organization.id == User.organization_id)
    .where(WebSession.token_hash == bindparam("token_hash"))
)
_TOKEN_IDENTITY = (
    select(ApiToken, User, Organization)
    .join(User, User.id == ApiToken.user_id)
    .join(Organization, Organization.id == User.organization_id)
    .where(
        ApiToken.token_hash == bindparam("token_hash"),
        ApiToken.organization_id == User.organization_id,
    )
)


def resolve_session(*, session: Session, secret: str, policy: Policy) -> Identity | None:
    """The identity of a live browser session, else None (expired, idle, logged out). Reads
    only; :func:`touch` records the use when :attr:`Identity.touch_due`."""
    if len(secret) > 200:
        return None
    found = session.execute(_SESSION_IDENTITY, {"token_hash": digest(secret)}).first()
    if found is None:
        return None
    web_session, user, organization = found
    now = utcnow()
    idle_limit = web_session.last_seen_at + timedelta(minutes=policy.session_idle_minutes)
    if web_session.expires_at <= now or idle_limit <= now:
        return None
    return _identity(
        user,
        organization,
        session_id=web_session.id,
        csrf_token=web_session.csrf_token,
        last_used_at=web_session.last_seen_at,
    )


def touch(*, session: Session, identity: Identity) -> None:
    """Mark the identity's session or token as used now (sessions idle out from this time)."""
    now = utcnow()
    if identity.session_id is not None:
        session.execute(
            update(WebSession).where(WebSession.id == identity.session_id).values(last_seen_at=now)
        )
    if identity.token_id is not None:
        session.execute(
            update(ApiToken).where(ApiToken.id == identity.token_id).values(last_used_at=now)
        )


def logout(*, session: Session, secret: str) -> None:
    session.execute(delete(WebSession).where(WebSession.token_hash == digest(secret)))


def create_token(*, session: Session, actor: Actor, name: str) -> tuple[ApiToken, str]:
    """A new API token of the acting user: the stored row and the token (shown only now)."""
    if actor.user_id is None:
        raise ValidationError("API tokens belong to a user; log in as one", field="user")
    name = (name or "").strip()
    if not name or len(name) > 100 or "\x00" in name:
        raise ValidationError("name: give the token a name of 1 to 100 characters", field="name")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        user_id=actor.user_id,
        organization_id=actor.organization_id,
        name=name,
        token_hash=digest(secret),
        prefix=secret[:12],
    )
    session.add(token)
    session.flush()
    record(
        session=session,
        actor=actor,
        action="token.create",
        entity="api_token",
        entity_id=token.id,
        name=name,
    )
    return token, secret


def _tokens(actor: Actor) -> Select[tuple[ApiToken]]:
    query = select(ApiToken).where(ApiToken.organization_id == actor.organization_id)
    if actor.role not in ("admin", "system"):
        query = query.where(ApiToken.user_id == actor.user_id)
    return query


def list_tokens(*, session: Session, actor: Actor) -> list[ApiToken]:
    """The acting user's tokens (an admin sees every token of the organization)."""
    return list(session.scalars(_tokens(actor).order_by(ApiToken.id)))


def revoke_token(*, session: Session, actor: Actor, token_id: int) -> ApiToken:
    token = session.scalars(_tokens(actor).where(ApiToken.id == token_id)).first()
    if token is None:
        raise NotFound(f"no API token {token_id}")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        record(
            session=session,
            actor=actor,
            action="token.revoke",
            entity="api_token",
            entity_id=token.id,
        )
    return token


def resolve_token(*, session: Session, secret: str) -> Identity | None:
    """The identity an API token acts as, or None when it is unknown or revoked. One query
    (token, user and organization joined): every API request resolves its token."""
    if not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
        return None
    found = session.execute(_TOKEN_IDENTITY, {"token_hash": digest(secret)}).first()
    if found is None:
        return None
    token, user, organization = found
    if token.revoked_at is not None:
        return None
    return _identity(user, organization, token_id=token.id, last_used_at=token.last_used_at)
