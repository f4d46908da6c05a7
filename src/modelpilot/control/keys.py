"""Authenticating the proxy by its deployment API key.

Every request reads the key, its deployment and its account in one indexed join, so a revoked
key or a suspended account is refused on the very next request on every replica (no cache).
``last_used_at`` is written only when the stored value is older than
``key_last_used_resolution_s`` (decided from the row already read, then a conditional UPDATE so
concurrent replicas write at most once per interval): a busy key costs one write a minute, not
one per request.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from modelpilot.control.credentials import looks_like_api_key, sha256_hex
from modelpilot.control.errors import AuthError, SuspendedError
from modelpilot.control.settings import ControlSettings
from modelpilot.control.store.queries import deployments as queries
from modelpilot.control.store.tables import Deployment


@dataclass(frozen=True, slots=True)
class KeyHolder:
    """The deployment a request is authenticated as."""

    deployment: Deployment


def authenticate_key(
    session: Session, settings: ControlSettings, *, presented: str | None, now: datetime
) -> KeyHolder:
    """The deployment that owns ``presented``, or :class:`AuthError` / :class:`SuspendedError`."""
    if not presented or not looks_like_api_key(presented):
        raise AuthError("a valid deployment API key is required")
    found = queries.find_key_with_owner(session, key_hash=sha256_hex(presented))
    if found is None or found[0].revoked_at is not None:
        raise AuthError("a valid deployment API key is required")
    key, deployment, account = found
    if account.suspended_at is not None:
        raise SuspendedError("this account is suspended")
    resolution = timedelta(seconds=settings.key_last_used_resolution_s)
    if key.last_used_at is None or key.last_used_at < now - resolution:
        queries.touch_api_key(session, key_id=key.id, now=now, older_than=now - resolution)
        session.commit()
    return KeyHolder(deployment)
