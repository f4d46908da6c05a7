"""Log-in sessions and CSRF tokens.

The cookie is ``<token>.<hmac>``: a random 256-bit token signed with the current session secret.
The database stores only the token's SHA-256, so a log-out, password change or suspension on one
replica revokes the session on all of them. CSRF tokens are HMACs of the session (or, before
log-in, of a random nonce cookie) under the same secrets: a synchronizer token that needs no
storage.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from modelpilot.control.credentials import new_token, sha256_hex, sign, verify_signature
from modelpilot.control.errors import AuthError, ForbiddenError, SuspendedError
from modelpilot.control.settings import ControlSettings
from modelpilot.control.store.queries import accounts as queries
from modelpilot.control.store.tables import Account
from modelpilot.control.store.tables import Session as LoginSession


@dataclass(frozen=True, slots=True)
class ActiveSession:
    """A verified session and its (not suspended) account."""

    session: LoginSession
    account: Account

    @property
    def csrf_binding(self) -> str:
        return f"session:{self.session.id}"


def start_session(session: Session, settings: ControlSettings, *, account: Account, now: datetime) -> str:
    """Create a session (committed) and return the signed cookie value."""
    token = new_token()
    queries.add_session(
        session,
        account_id=account.id,
        token_hash=sha256_hex(token),
        now=now,
        expires_at=now + timedelta(seconds=settings.session_ttl_s),
    )
    session.commit()
    return f"{token}.{sign(settings.session_secrets[0], 'session:' + token)}"


def _token(settings: ControlSettings, cookie: str) -> str | None:
    token, _, signature = cookie.partition(".")
    if not token or not verify_signature(settings.session_secrets, "session:" + token, signature):
        return None
    return token


def resolve_session(
    session: Session, settings: ControlSettings, *, cookie: str | None, now: datetime
) -> ActiveSession:
    """The live session behind ``cookie``, read from the database on every request."""
    token = _token(settings, cookie) if cookie else None
    found = (
        None if token is None else queries.find_live_session(session, token_hash=sha256_hex(token), now=now)
    )
    if found is None:
        raise AuthError("log in first")
    login_session, account = found
    if account.suspended_at is not None:
        raise SuspendedError("this account is suspended")
    return ActiveSession(login_session, account)


def end_session(session: Session, *, active: ActiveSession, now: datetime) -> None:
    queries.revoke_session(session, session_id=active.session.id, now=now)
    session.commit()


def csrf_token(settings: ControlSettings, binding: str) -> str:
    """The CSRF token for a session or pre-session nonce (``binding``)."""
    return sign(settings.session_secrets[0], "csrf:" + binding)


def check_csrf(settings: ControlSettings, binding: str, token: str | None) -> None:
    """Raise :class:`ForbiddenError` unless ``token`` is the CSRF token for ``binding``."""
    if not token or not verify_signature(settings.session_secrets, "csrf:" + binding, token):
        raise ForbiddenError("missing or invalid CSRF token; reload the page and try again")


def new_csrf_nonce() -> str:
    return new_token()
