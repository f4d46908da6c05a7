"""Management API tokens: an account's bearer credentials for scripts, Terraform and CI.

A token (``mp_mgmt_...``) is made, stored and shown like a deployment key
(:func:`modelpilot.control.credentials.new_api_key`: 256 random bits, only the SHA-256 kept, the
secret shown once) but it authenticates as the *account*, on the console's JSON API only: it is
never a deployment key (ingestion and ``/v1/route`` refuse it) and a deployment key is never a
token. Revoked tokens are refused on the next request; a suspended account's tokens get 403.
``last_used_at`` is written at most once per ``key_last_used_resolution_s``, as for keys.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from modelpilot.control.credentials import (
    MANAGEMENT_TOKEN_PREFIX,
    looks_like_management_token,
    new_api_key,
    sha256_hex,
)
from modelpilot.control.deployments import clean_name
from modelpilot.control.errors import AuthError, NotFoundError, SuspendedError
from modelpilot.control.settings import ControlSettings
from modelpilot.control.store.queries import tokens as queries
from modelpilot.control.store.tables import Account, ManagementToken

_REFUSED = "a valid management token is required"


def create_token(
    session: Session, *, account_id: uuid.UUID, name: str, now: datetime
) -> tuple[ManagementToken, str]:
    """Create a token for the account; returns the row and the secret, never available again."""
    generated = new_api_key(MANAGEMENT_TOKEN_PREFIX)
    token = queries.add_token(
        session,
        account_id=account_id,
        name=clean_name(name),
        token_hash=generated.sha256,
        display_prefix=generated.display_prefix,
        now=now,
    )
    session.commit()
    return token, generated.secret


def list_tokens(session: Session, *, account_id: uuid.UUID) -> Sequence[ManagementToken]:
    return queries.list_tokens(session, account_id=account_id)


def revoke_token(session: Session, *, account_id: uuid.UUID, token_id: uuid.UUID, now: datetime) -> None:
    """Revoke one of the account's tokens (committed); another account's is a 404."""
    if not queries.revoke_token(session, account_id=account_id, token_id=token_id, now=now):
        raise NotFoundError("no such token")
    session.commit()


def authenticate_token(
    session: Session, settings: ControlSettings, *, presented: str, now: datetime
) -> Account:
    """The account that owns ``presented``, or :class:`AuthError` / :class:`SuspendedError`."""
    if not looks_like_management_token(presented):
        raise AuthError(_REFUSED)
    found = queries.find_token_with_account(session, token_hash=sha256_hex(presented))
    if found is None or found[0].revoked_at is not None:
        raise AuthError(_REFUSED)
    token, account = found
    if account.suspended_at is not None:
        raise SuspendedError("this account is suspended")
    resolution = timedelta(seconds=settings.key_last_used_resolution_s)
    if token.last_used_at is None or token.last_used_at < now - resolution:
        queries.touch_token(session, token_id=token.id, now=now, older_than=now - resolution)
        session.commit()
    return account
