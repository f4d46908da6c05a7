"""FastAPI dependencies that authenticate a request: session cookie (+ CSRF) for the console and
its JSON API, deployment key for ingestion, and the content firewall that runs before either."""

from __future__ import annotations

from typing import Annotated

import orjson
from fastapi import Depends, Header, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import APIKeyCookie, APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from modelpilot.control import sessions
from modelpilot.control.credentials import looks_like_api_key, sha256_hex
from modelpilot.control.errors import (
    AuthError,
    ContentRefusedError,
    ForbiddenError,
    InvalidRequestError,
    ProblemDetail,
)
from modelpilot.control.http.state import ControlState, get_db, state_dependency
from modelpilot.control.keys import KeyHolder, RouteGrant, authenticate_key, authenticate_route_key
from modelpilot.control.sessions import ActiveSession
from modelpilot.schema.firewall import find_violation

SESSION_COOKIE = "mp_session"
CSRF_COOKIE = "mp_csrf"
CSRF_HEADER = "x-csrf-token"

_session_cookie = APIKeyCookie(name=SESSION_COOKIE, auto_error=False, description="Console session")
_bearer = HTTPBearer(auto_error=False, description="Deployment API key (mp_live_...)")
_key_header = APIKeyHeader(name="x-modelpilot-key", auto_error=False, description="Deployment API key")

State = Annotated[ControlState, Depends(state_dependency)]
Db = Annotated[Session, Depends(get_db)]


async def firewall(request: Request) -> None:
    """The content firewall: refuse a payload that could carry content or a secret, before
    authentication, validation or storage (DESIGN.md §2). A ``GET`` (``/v1/config``) reads no
    body, so there is nothing to refuse."""
    if request.method in ("GET", "HEAD"):
        return
    try:
        document = orjson.loads(await request.body())
    except orjson.JSONDecodeError as exc:
        raise InvalidRequestError(
            "the body is not JSON", errors=(ProblemDetail("$", "json_invalid"),)
        ) from exc
    violation = find_violation(document)
    if violation is not None:
        raise ContentRefusedError(
            "the payload contains a field or value that looks like content or a secret; nothing was stored",
            errors=(ProblemDetail(violation.path, violation.reason),),
        )


def deployment_key(
    state: State,
    db: Db,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    header: Annotated[str | None, Depends(_key_header)],
) -> KeyHolder:
    presented = header if header else (bearer.credentials if bearer else None)
    return authenticate_key(db, state.settings, presented=presented, now=state.clock())


async def route_grant(
    state: State,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    header: Annotated[str | None, Depends(_key_header)],
) -> RouteGrant:
    """The key's deployment and routing settings for ``/v1/route``: remembered since the last
    change to any key, deployment or account (``state.route_keys``, PostgreSQL), else read in
    one statement and one hop to the thread pool."""
    presented = header if header else (bearer.credentials if bearer else None)
    if not presented or not looks_like_api_key(presented):
        raise AuthError("a valid deployment API key is required")
    key_hash = sha256_hex(presented)
    keys = state.route_keys
    grant = keys.get(key_hash)
    if grant is None:
        generation = keys.generation
        grant = await run_in_threadpool(
            authenticate_route_key, state.reads, state.settings, presented=presented, now=state.clock()
        )
        keys.put(key_hash, grant, generation=generation)
    return grant


def current_session(
    state: State, db: Db, cookie: Annotated[str | None, Depends(_session_cookie)]
) -> ActiveSession:
    return sessions.resolve_session(db, state.settings, cookie=cookie, now=state.clock())


def csrf_checked_session(
    state: State,
    active: Annotated[ActiveSession, Depends(current_session)],
    csrf_token: Annotated[str | None, Header(alias=CSRF_HEADER)] = None,
) -> ActiveSession:
    """The session of a state-changing JSON API call, which must carry its CSRF token."""
    sessions.check_csrf(state.settings, active.csrf_binding, csrf_token)
    return active


def admin_session(active: Annotated[ActiveSession, Depends(csrf_checked_session)]) -> ActiveSession:
    if not active.account.is_admin:
        raise ForbiddenError("administrators only")
    return active
