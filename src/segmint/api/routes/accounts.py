"""Login and logout, the caller, API tokens, users and the organization's settings."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status

from segmint.accounts import access
from segmint.accounts import service as accounts
from segmint.accounts.models import Organization
from segmint.api.problems import error_responses, links
from segmint.api.schemas import (
    Id,
    LoginIn,
    MeOut,
    OrganizationOut,
    OrganizationPatch,
    TokenCreated,
    TokenIn,
    TokenOut,
    UserIn,
    UserOut,
    UserPatch,
)
from segmint.api.security import (
    ActorDep,
    DbDep,
    IdentityDep,
    clear_session_cookie,
    policy,
    session_secret,
    set_session_cookie,
)

router = APIRouter(tags=["accounts"])


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@router.post(
    "/auth/login",
    response_model=MeOut,
    responses=error_responses(401, 422, 429),
    summary="Log in with e-mail and password; sets the session cookie",
)
def login(body: LoginIn, request: Request, response: Response, db: DbDep) -> MeOut:
    try:
        with db.session() as session:
            identity, secret = access.login(
                session=session,
                email=body.email,
                password=body.password,
                address=_client(request),
                policy=policy(request),
            )
    except access.LoginFailed:
        # The failure must be stored although the request fails: its own transaction.
        with db.session() as session:
            access.record_failure(session=session, email=body.email, address=_client(request))
        raise
    set_session_cookie(request, response, secret)
    return MeOut(
        user=UserOut.model_validate(identity.user),
        organization=OrganizationOut.model_validate(identity.organization),
        csrf_token=identity.csrf_token,
    )


@router.post(
    "/auth/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(401, 403),
    summary="End the browser session (everywhere the cookie was copied)",
)
def logout(request: Request, identity: IdentityDep, db: DbDep) -> Response:
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    secret = session_secret(request)
    if secret is not None:
        with db.session() as session:
            access.logout(session=session, secret=secret)
    clear_session_cookie(request, response)
    return response


@router.get("/me", response_model=MeOut, responses=error_responses(401))
def me(identity: IdentityDep) -> MeOut:
    """The caller: user, organization and (for a browser session) the CSRF token."""
    return MeOut(
        user=UserOut.model_validate(identity.user),
        organization=OrganizationOut.model_validate(identity.organization),
        csrf_token=identity.csrf_token,
    )


@router.get("/organization", response_model=OrganizationOut, responses=error_responses(401))
def organization(actor: ActorDep, db: DbDep) -> OrganizationOut:
    with db.read_session() as session:
        return OrganizationOut.model_validate(session.get(Organization, actor.organization_id))


@router.patch(
    "/organization", response_model=OrganizationOut, responses=error_responses(401, 403, 422)
)
def update_organization(body: OrganizationPatch, actor: ActorDep, db: DbDep) -> OrganizationOut:
    """Rename the organization or change its rules for reps (admins)."""
    with db.session() as session:
        found = accounts.update_organization(
            session=session, actor=actor, **body.model_dump(exclude_unset=True)
        )
        return OrganizationOut.model_validate(found)


@router.get("/tokens", response_model=list[TokenOut], responses=error_responses(401))
def list_tokens(actor: ActorDep, db: DbDep) -> list[TokenOut]:
    """Your API tokens (an admin sees every token of the organization)."""
    with db.read_session() as session:
        return [
            TokenOut.model_validate(t) for t in access.list_tokens(session=session, actor=actor)
        ]


@router.post(
    "/tokens",
    response_model=TokenCreated,
    status_code=status.HTTP_201_CREATED,
    responses={**error_responses(401, 403, 422), **links("token_id", "revoke_token")},
)
def create_token(body: TokenIn, actor: ActorDep, db: DbDep) -> TokenCreated:
    """A new API token acting as you; the token is in this response only."""
    with db.session() as session:
        token, secret = access.create_token(session=session, actor=actor, name=body.name)
        return TokenCreated(**TokenOut.model_validate(token).model_dump(), token=secret)


@router.delete(
    "/tokens/{token_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(401, 403, 404),
)
def revoke_token(token_id: Id, actor: ActorDep, db: DbDep) -> Response:
    """Revoke a token: it stops working at once."""
    with db.session() as session:
        access.revoke_token(session=session, actor=actor, token_id=token_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/users", response_model=list[UserOut], responses=error_responses(401))
def list_users(actor: ActorDep, db: DbDep) -> list[UserOut]:
    with db.read_session() as session:
        return [
            UserOut.model_validate(u) for u in accounts.list_users(session=session, actor=actor)
        ]


@router.post(
    "/users",
    response_model=UserOut,
    status_code=status.HTTP_201_CREATED,
    responses={
        **error_responses(401, 403, 409, 422),
        **links("user_id", "get_user", "update_user"),
    },
)
def create_user(body: UserIn, actor: ActorDep, db: DbDep) -> UserOut:
    """Add a user to your organization (admins)."""
    with db.session() as session:
        user = accounts.create_user(session=session, actor=actor, **body.model_dump())
        return UserOut.model_validate(user)


@router.get("/users/{user_id}", response_model=UserOut, responses=error_responses(401, 404))
def get_user(user_id: Id, actor: ActorDep, db: DbDep) -> UserOut:
    with db.read_session() as session:
        return UserOut.model_validate(
            accounts.get_user(session=session, actor=actor, user_id=user_id)
        )


@router.patch(
    "/users/{user_id}", response_model=UserOut, responses=error_responses(401, 403, 404, 409, 422)
)
def update_user(user_id: Id, body: UserPatch, actor: ActorDep, db: DbDep) -> UserOut:
    """Change a user's role, name, sales rep, password or active flag (admins)."""
    with db.session() as session:
        user = accounts.update_user(
            session=session, actor=actor, user_id=user_id, **body.model_dump(exclude_unset=True)
        )
        return UserOut.model_validate(user)
