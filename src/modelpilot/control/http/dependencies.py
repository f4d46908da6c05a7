"""FastAPI dependencies that authenticate a request: session cookie (+ CSRF) for the console,
session or management token for the account's JSON API, deployment key for ingestion, the one
administrator check, and the content firewall that runs before any of them.

Which credential works where:

=========================  ===========  =====================  ======================
route                      session      management token       deployment key
=========================  ===========  =====================  ======================
console pages and forms    yes (+CSRF)  no                     no
account JSON API           yes (+CSRF)  yes (no CSRF: no       no
                                        ambient credential)
``/api/session``, tokens   yes (+CSRF)  no (a token cannot     no
                                        mint or list tokens)
administration             admins only  no                     no
ingestion, ``/v1/route``   no           no                     yes
=========================  ===========  =====================  ======================
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import orjson
from fastapi import Depends, Header, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import APIKeyCookie, APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from modelpilot.control import sessions, tokens
from modelpilot.control.credentials import MANAGEMENT_TOKEN_PREFIX, looks_like_api_key, sha256_hex
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
from modelpilot.control.store.tables import Account
from modelpilot.schema.firewall import find_violation

SESSION_COOKIE = "mp_session"
CSRF_COOKIE = "mp_csrf"
CSRF_HEADER = "x-csrf-token"

_session_cookie = APIKeyCookie(name=SESSION_COOKIE, auto_error=False, description="Console session")
_bearer = HTTPBearer(auto_error=False, description="Deployment API key (mp_live_...)")
_key_header = APIKeyHeader(name="x-modelpilot-key", auto_error=False, description="Deployment API key")
_management_token = HTTPBearer(
    auto_error=False,
    scheme_name="ManagementToken",
    description="Management API token (mp_mgmt_...): the account's JSON API without a session or CSRF token",
)

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


@dataclass(frozen=True, slots=True)
class Caller:
    """Who calls the account's JSON API: a console ``session``, or (``session`` None) a
    management token of ``account``."""

    account: Account
    session: ActiveSession | None = None


def account_caller(
    state: State,
    db: Db,
    cookie: Annotated[str | None, Depends(_session_cookie)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_management_token)],
) -> Caller:
    """A management token when one is presented (and then only it: a bad one is a 401 even
    beside a good cookie), else the session cookie. Any other bearer (a deployment key) is not a
    credential here and is ignored."""
    presented = bearer.credentials if bearer else ""
    if presented.startswith(MANAGEMENT_TOKEN_PREFIX):
        return Caller(tokens.authenticate_token(db, state.settings, presented=presented, now=state.clock()))
    active = current_session(state, db, cookie)
    return Caller(active.account, active)


def account_changer(
    state: State,
    caller: Annotated[Caller, Depends(account_caller)],
    csrf_token: Annotated[str | None, Header(alias=CSRF_HEADER)] = None,
) -> Caller:
    """The caller of a state-changing JSON API call: a session must carry its CSRF token; a
    token needs none (a browser never attaches it on its own, so it cannot be forged across
    sites)."""
    if caller.session is not None:
        sessions.check_csrf(state.settings, caller.session.csrf_binding, csrf_token)
    return caller


def require_admin(active: Annotated[ActiveSession, Depends(current_session)]) -> ActiveSession:
    """The one administrator check, for pages and JSON alike: a signed-in non-administrator gets
    403 (a problem document under ``/api``, an error page elsewhere). Not a 404: the routes are
    in the public source and the OpenAPI document, so hiding them would hide nothing."""
    if not active.account.is_admin:
        raise ForbiddenError("administrators only")
    return active


SignedIn = Annotated[ActiveSession, Depends(current_session)]
SessionWriter = Annotated[ActiveSession, Depends(csrf_checked_session)]
ApiReader = Annotated[Caller, Depends(account_caller)]
ApiWriter = Annotated[Caller, Depends(account_changer)]
Admin = Annotated[ActiveSession, Depends(require_admin)]
