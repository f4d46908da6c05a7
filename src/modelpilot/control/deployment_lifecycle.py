"""Renaming and deleting deployments, always through the owning account (another tenant's
deployment is indistinguishable from one that does not exist)."""

from __future__ import annotations

import uuid

from sqlalchemy import delete
from sqlalchemy.orm import Session

from modelpilot.control.deployments import _clean_name, get_deployment
from modelpilot.control.errors import InvalidRequestError
from modelpilot.control.store.tables import Deployment


def rename_deployment(
    session: Session, *, account_id: uuid.UUID, deployment_id: uuid.UUID, name: str
) -> Deployment:
    """Give one of the account's deployments a new name (committed)."""
    deployment = get_deployment(session, account_id=account_id, deployment_id=deployment_id)
    deployment.name = _clean_name(name)
    session.commit()
    return deployment


def delete_deployment(
    session: Session, *, account_id: uuid.UUID, deployment_id: uuid.UUID, confirmation: str
) -> None:
    """Delete a deployment with its keys, usage and logs (committed); ``confirmation`` must be
    its name, typed by the person. Invoice lines keep the name and lose the link."""
    deployment = get_deployment(session, account_id=account_id, deployment_id=deployment_id)
    if confirmation.strip() != deployment.name:
        raise InvalidRequestError("type the deployment's name exactly to delete it")
    session.execute(
        delete(Deployment).where(Deployment.id == deployment.id, Deployment.account_id == account_id)
    )
    session.commit()
