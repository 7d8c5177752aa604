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


def list_users(*, session: Session, actor: Actor) -> list[User]:
    """The organization's users (admins manage them; everyone may see who is on the team)."""
    return list(
        session.scalars(
            select(User).where(User.organization_id == actor.organization_id).order_by(User.id)
        )
    )


def get_user(*, session: Session, actor: Actor, user_id: int) -> User:
    user = session.scalars(
        select(User).where(User.id == user_id, User.organization_id == actor.organization_id)
    ).first()
    if user is None:
        raise NotFound(f"no user {user_id}")
    return user


def update_user(*, session: Session, actor: Actor, user_id: int, **changes: object) -> User:
    """Change a user's role, name, sales rep, active flag or password. An admin cannot take
    away their own admin role or deactivate themselves (the organization would lose its
    admin); deactivating a user ends their sessions and their tokens stop working."""
    from segmint.accounts.models import WebSession

    actor.require_admin("changing a user")
    user = get_user(session=session, actor=actor, user_id=user_id)
    allowed = {"role", "name", "sales_rep", "active", "password"}
    unknown = set(changes) - allowed
    if unknown:
        raise ValidationError(f"unknown field(s): {', '.join(sorted(unknown))}", field="user")
    if "role" in changes and changes["role"] not in ROLES:
        raise ValidationError(f"role must be one of {', '.join(ROLES)}", field="role")
    if user.id == actor.user_id and (
        changes.get("active") is False or changes.get("role", "admin") != "admin"
    ):
        raise Conflict("you cannot demote or deactivate yourself", field="role")
    password = changes.pop("password", None)
    if password is not None:
        if not isinstance(password, str) or len(password) < 10:
            raise ValidationError("password needs at least 10 characters", field="password")
        user.password_hash = _hasher.hash(password)
    for key, value in changes.items():
        setattr(user, key, value.strip() if isinstance(value, str) else value)
    if changes.get("active") is False or password is not None:
        session.execute(WebSession.__table__.delete().where(WebSession.user_id == user.id))
    session.flush()
    record(
        session=session,
        actor=actor,
        action="user.update",
        entity="user",
        entity_id=user.id,
        changed=sorted([*changes, *(["password"] if password is not None else [])]),
    )
    return user


def update_organization(*, session: Session, actor: Actor, **changes: object) -> Organization:
    """Change the organization's name and its rules for reps (admins only)."""
    actor.require_admin("changing the organization's settings")
    organization = session.get(Organization, actor.organization_id)
    if organization is None:
        raise NotFound("no such organization")
    allowed = {"name", "reps_see_own_customers_only", "reps_can_override"}
    unknown = set(changes) - allowed
    if unknown:
        raise ValidationError(f"unknown field(s): {', '.join(sorted(unknown))}", field="org")
    if "name" in changes:
        name = str(changes["name"]).strip()
        if not name or len(name) > 200 or "\x00" in name:
            raise ValidationError("name: 1 to 200 characters of text", field="name")
        changes["name"] = name
    for key, value in changes.items():
        setattr(organization, key, value)
    record(
        session=session,
        actor=actor,
        action="organization.update",
        entity="organization",
        entity_id=organization.id,
        **{k: v for k, v in changes.items()},
    )
    return organization
