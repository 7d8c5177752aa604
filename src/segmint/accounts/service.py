"""Organizations and users: creating them, finding them, and the actor a user acts as."""

from __future__ import annotations

import re

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from segmint.accounts.actor import Actor
from segmint.accounts.models import ROLES, Organization, User
from segmint.audit.service import record
from segmint.errors import Conflict, NotFound, ValidationError

_SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_EMAIL = re.compile(r"^[^@\s\x00]+@[^@\s\x00]+\.[^@\s\x00]+$")
_hasher = PasswordHasher()


def get_organization(*, session: Session, slug: str) -> Organization:
    found = session.scalars(select(Organization).where(Organization.slug == slug)).first()
    if found is None:
        raise NotFound(f"no organization {slug!r}")
    return found


def ensure_organization(*, session: Session, slug: str, name: str | None = None) -> Organization:
    """The organization with this slug (the ``--org`` of imports), created when missing."""
    if not _SLUG.match(slug):
        raise ValidationError(
            f"organization {slug!r}: use lower-case letters, digits, '-' and '_' (max 64)",
            field="org",
        )
    found = session.scalars(select(Organization).where(Organization.slug == slug)).first()
    if found is None:
        found = Organization(slug=slug, name=name or slug.replace("-", " ").title())
        session.add(found)
        session.flush()
    return found


def system_actor(*, session: Session, org: str) -> Actor:
    """Segmint itself acting for an organization (worker, scheduler, command-line scripts)."""
    organization = ensure_organization(session=session, slug=org)
    return Actor.system(organization.id, organization.slug)


def actor_for(user: User, organization: Organization) -> Actor:
    return Actor(
        organization_id=organization.id,
        role=user.role,  # type: ignore[arg-type]
        user_id=user.id,
        org_slug=organization.slug,
        sales_rep=user.sales_rep,
    )


def create_user(
    *,
    session: Session,
    actor: Actor,
    email: str,
    role: str,
    password: str | None,
    name: str = "",
    sales_rep: str | None = None,
) -> User:
    actor.require_admin("creating a user")
    email = email.strip().lower()
    if not _EMAIL.match(email) or len(email) > 254:
        raise ValidationError(f"email {email!r} is not an e-mail address", field="email")
    if role not in ROLES:
        raise ValidationError(f"role must be one of {', '.join(ROLES)}, got {role!r}", field="role")
    if password is not None and len(password) < 10:
        raise ValidationError("password needs at least 10 characters", field="password")
    if session.scalars(select(User.id).where(func.lower(User.email) == email)).first():
        raise Conflict(f"a user with e-mail {email} already exists", field="email")
    user = User(
        organization_id=actor.organization_id,
        email=email,
        role=role,
        name=name.strip(),
        sales_rep=sales_rep,
        password_hash=_hasher.hash(password) if password is not None else None,
    )
    session.add(user)
    session.flush()
    record(
        session=session,
        actor=actor,
        action="user.create",
        entity="user",
        entity_id=user.id,
        email=email,
        role=role,
    )
    return user


def verify_password(user: User, password: str) -> bool:
    if not user.password_hash:
        return False
    try:
        return _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
