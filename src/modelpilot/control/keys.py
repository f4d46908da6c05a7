"""Authenticating the proxy by its deployment API key.

Every request reads the key, its deployment and its account in one indexed join, so a revoked
key or a suspended account is refused on the very next request on every replica. ``/v1/route``,
the call a proxy makes per decision, reads with :func:`authenticate_route_key` (one Core statement
on an autocommit connection: about 0.2 ms on PostgreSQL instead of 1.1 ms for the ORM session's
BEGIN, join and ROLLBACK) and remembers the answer until any key, deployment or account changes
(:mod:`modelpilot.control.route_keys`: PostgreSQL tells every worker at commit, so the
window is a NOTIFY's delivery time, not an expiry).
``last_used_at`` is written only when the stored value is older than
``key_last_used_resolution_s`` (decided from the row already read, then a conditional UPDATE so
concurrent replicas write at most once per interval): a busy key costs one write a minute, not
one per request.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from modelpilot.control import deployments
from modelpilot.control.credentials import looks_like_api_key, sha256_hex
from modelpilot.control.errors import AuthError, SuspendedError
from modelpilot.control.policy.settings import RoutingSettings
from modelpilot.control.settings import ControlSettings
from modelpilot.control.store.queries import deployments as queries
from modelpilot.control.store.tables import Deployment


@dataclass(frozen=True, slots=True)
class RouteGrant:
    """What a key may ask routing for: its deployment, that deployment's routing settings, and
    their version (``Deployment.settings_version``, what ``GET /v1/config`` reports)."""

    deployment_id: uuid.UUID
    settings: RoutingSettings
    settings_version: int = 0


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


def authenticate_route_key(
    reads: Engine, settings: ControlSettings, *, presented: str | None, now: datetime
) -> RouteGrant:
    """:func:`authenticate_key` for ``/v1/route`` on an autocommit engine: the same checks and the
    same ``last_used_at`` bookkeeping, with the deployment's routing settings instead of its row."""
    if not presented or not looks_like_api_key(presented):
        raise AuthError("a valid deployment API key is required")
    with reads.connect() as connection:
        row = queries.find_route_grant_row(connection, key_hash=sha256_hex(presented))
        if row is None or row.revoked_at is not None:
            raise AuthError("a valid deployment API key is required")
        if row.suspended_at is not None:
            raise SuspendedError("this account is suspended")
        resolution = timedelta(seconds=settings.key_last_used_resolution_s)
        if row.last_used_at is None or row.last_used_at < now - resolution:
            queries.touch_api_key(connection, key_id=row.key_id, now=now, older_than=now - resolution)
    return RouteGrant(row.deployment_id, deployments.routing_settings_of(row), int(row.settings_version))
