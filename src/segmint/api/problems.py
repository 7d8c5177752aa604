"""One error shape for every failure, mapped from the domain's exception tree.

Every error body is ``{"status", "code", "message", "fields": [{"field", "message"}],
"correlation_id"}``. The correlation id is also in the ``X-Correlation-ID`` header and, for an
unexpected error, in the server log beside the stack trace, which never reaches the client.
Pages (paths outside ``/api/``) get the same information as an HTML page.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from segmint.accounts.access import LoginFailed, LoginThrottled
from segmint.errors import (
    Conflict,
    ImportFailed,
    NotFound,
    PermissionDenied,
    RunFailed,
    SegmintError,
    SourceError,
    ValidationError,
)
from segmint.store import StoreBusy

log = logging.getLogger("segmint.api")

#: Seconds a client is told to wait before retrying while the sales store is busy.
BUSY_RETRY_AFTER = 5

STATUS_CODES: dict[int, str] = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "too_many_requests",
    500: "internal_error",
    503: "unavailable",
}

#: Domain errors: (status, code). The first matching class (in this order) wins.
DOMAIN_ERRORS: list[tuple[type[SegmintError], int, str]] = [
    (LoginThrottled, 429, "too_many_requests"),
    (LoginFailed, 401, "login_failed"),
    (StoreBusy, 503, "store_busy"),
    (ValidationError, 422, "validation_error"),
    (ImportFailed, 422, "import_failed"),
    (SourceError, 422, "source_error"),
    (NotFound, 404, "not_found"),
    (Conflict, 409, "conflict"),
    (PermissionDenied, 403, "forbidden"),
    (RunFailed, 409, "run_failed"),
]


class FieldProblem(BaseModel):
    field: str
    message: str


class Problem(BaseModel):
    """The body of every error response."""

    status: int
    code: str
    message: str
    fields: list[FieldProblem] = []
    correlation_id: str


def correlation_id(request: Request) -> str:
    existing = getattr(request.state, "correlation_id", None)
    if existing is None:
        existing = request.state.correlation_id = uuid.uuid4().hex
    return existing


def wants_html(request: Request) -> bool:
    """Pages answer in HTML; the API (and a client asking only for JSON) gets the JSON shape."""
    if request.url.path.startswith("/api/"):
        return False
    accept = request.headers.get("accept", "")
    return "text/html" in accept or "application/json" not in accept


def problem_response(
    request: Request,
    status: int,
    code: str,
    message: str,
    fields: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    cid = correlation_id(request)
    headers = {**(headers or {}), "X-Correlation-ID": cid}
    body = Problem(
        status=status,
        code=code,
        message=message,
        fields=[FieldProblem(**f) for f in fields or []],
        correlation_id=cid,
    )
    if wants_html(request):
        page = _error_page(request, status, body)
        page.headers.update(headers)
        return page
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)


def _error_page(request: Request, status: int, body: Problem) -> Response:
    """The error as a page, with the layout of a logged-in user (menu, bell, logout) when the
    request carries a valid session; a plain page when it does not, or when finding that out
    fails too (the database is what failed)."""
    from segmint.api.security import find_identity
    from segmint.web.session import render

    context = {"problem": body}
    try:
        identity = find_identity(request)
        if identity is not None and getattr(request.state, "via_token", False):
            identity = None  # an API client asking for HTML: no browser session to show
        return render(
            request,
            "error.html",
            identity=identity,
            title=f"{status}",
            status_code=status,
            **context,
        )
    except Exception:
        log.warning("error page without the layout's user", exc_info=True)
    templates = request.app.state.templates
    return templates.TemplateResponse(
        request, "error.html", {"title": f"{status}", **context}, status_code=status
    )


def _domain(request: Request, exc: SegmintError) -> Response:
    match = next(((s, c) for cls, s, c in DOMAIN_ERRORS if isinstance(exc, cls)), None)
    if match is None:  # ConfigError and any future subclass: the server's fault
        return _unexpected(request, exc)
    status, code = match
    fields = []
    field = getattr(exc, "field", None)
    if field:
        fields.append({"field": field, "message": str(exc)})
    headers = {}
    if isinstance(exc, LoginThrottled):
        headers["Retry-After"] = str(exc.retry_after)
    if isinstance(exc, StoreBusy):
        headers["Retry-After"] = str(BUSY_RETRY_AFTER)
    return problem_response(request, status, code, str(exc), fields, headers)


def _location(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body",)]
    text = ""
    for part in parts:
        text += f"[{part}]" if part.isdigit() and text else (f".{part}" if text else part)
    return text or "body"


def _request_validation(request: Request, exc: RequestValidationError) -> Response:
    fields = [
        {"field": _location(tuple(error.get("loc", ()))), "message": str(error.get("msg", ""))}
        for error in exc.errors()
    ]
    summary = "; ".join(f"{f['field']}: {f['message']}" for f in fields[:5])
    return problem_response(request, 422, "invalid_request", summary or "invalid request", fields)


def _http(request: Request, exc: HTTPException) -> Response:
    code = STATUS_CODES.get(exc.status_code, "error")
    message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
    return problem_response(request, exc.status_code, code, message, headers=exc.headers)


def _unexpected(request: Request, exc: Exception) -> Response:
    cid = correlation_id(request)
    log.error(
        "unexpected error, correlation id %s, %s %s",
        cid,
        request.method,
        request.url.path,
        exc_info=exc,
    )
    return problem_response(
        request,
        500,
        "internal_error",
        f"something went wrong on our side; quote {cid} when you report it",
    )


def install(app: FastAPI) -> None:
    """Register the handlers that give every failure the one shape."""
    app.add_exception_handler(SegmintError, _domain)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _request_validation)  # type: ignore[arg-type]
    app.add_exception_handler(HTTPException, _http)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _unexpected)


#: ``responses=`` for routes: the error statuses every route may answer, documented.
def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    described = {
        400: "The request is malformed.",
        401: "Not logged in, or the token or session is no longer valid.",
        403: "The role does not allow this, or the CSRF token is missing.",
        404: "Nothing with that id in your organization.",
        409: "The change clashes with what is stored.",
        413: "The request body is too large.",
        422: "A field breaks a rule; `fields` names it.",
        429: "Too many failed logins; retry after `Retry-After` seconds.",
        500: "Something went wrong on the server; the body's `correlation_id` is in its log.",
        503: "The sales store is busy (an import); retry after `Retry-After` seconds.",
    }
    return {s: {"model": Problem, "description": described[s]} for s in statuses}


def links(parameter: str, *operations: str, status: int = 201) -> dict[int | str, dict[str, Any]]:
    """OpenAPI links from a created object's ``id`` to the operations that take it (clients and
    schemathesis's stateful tests follow them)."""
    return {
        status: {
            "links": {
                op: {"operationId": op, "parameters": {parameter: "$response.body#/id"}}
                for op in operations
            }
        }
    }
