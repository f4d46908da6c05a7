"""Deployments and their API keys, always looked up through the owning account: another
tenant's deployment or key is indistinguishable from one that does not exist."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.orm import Session

from modelpilot.control.credentials import new_api_key
from modelpilot.control.errors import InvalidRequestError, NotFoundError
from modelpilot.control.store.queries import deployments as queries
from modelpilot.control.store.tables import ApiKey, Deployment

_MAX_NAME_CHARS = 100
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _clean_name(name: str) -> str:
    if _CONTROL_CHARS.search(name) or not 1 <= len(name.strip()) <= _MAX_NAME_CHARS:
        raise InvalidRequestError(
            f"names need 1 to {_MAX_NAME_CHARS} characters, not all blank, no control characters"
        )
    return name.strip()


def create_deployment(session: Session, *, account_id: uuid.UUID, name: str, now: datetime) -> Deployment:
    deployment = queries.add_deployment(session, account_id=account_id, name=_clean_name(name), now=now)
    session.commit()
    return deployment


def list_deployments(session: Session, *, account_id: uuid.UUID) -> Sequence[Deployment]:
    return queries.list_deployments(session, account_id=account_id)


def get_deployment(session: Session, *, account_id: uuid.UUID, deployment_id: uuid.UUID) -> Deployment:
    deployment = queries.find_deployment(session, account_id=account_id, deployment_id=deployment_id)
    if deployment is None:
        raise NotFoundError("no such deployment")
    return deployment


def create_api_key(
    session: Session, *, account_id: uuid.UUID, deployment_id: uuid.UUID, name: str, now: datetime
) -> tuple[ApiKey, str]:
    """Create a key for one of the account's deployments; returns the row and the secret, which
    is never available again."""
    deployment = get_deployment(session, account_id=account_id, deployment_id=deployment_id)
    generated = new_api_key()
    key = queries.add_api_key(
        session,
        deployment_id=deployment.id,
        name=_clean_name(name),
        key_hash=generated.sha256,
        display_prefix=generated.display_prefix,
        now=now,
    )
    session.commit()
    return key, generated.secret


def list_api_keys(session: Session, *, account_id: uuid.UUID, deployment_id: uuid.UUID) -> Sequence[ApiKey]:
    deployment = get_deployment(session, account_id=account_id, deployment_id=deployment_id)
    return queries.list_api_keys(session, deployment_id=deployment.id)


def revoke_api_key(
    session: Session, *, account_id: uuid.UUID, deployment_id: uuid.UUID, key_id: uuid.UUID, now: datetime
) -> None:
    deployment = get_deployment(session, account_id=account_id, deployment_id=deployment_id)
    if not queries.revoke_api_key(session, deployment_id=deployment.id, key_id=key_id, now=now):
        raise NotFoundError("no such key")
    session.commit()


def owner_of_deployment(session: Session, *, deployment_id: uuid.UUID) -> uuid.UUID:
    """Administrators only: the account that owns a deployment."""
    deployment = queries.get_deployment_unscoped(session, deployment_id=deployment_id)
    if deployment is None:
        raise NotFoundError("no such deployment")
    return deployment.account_id
