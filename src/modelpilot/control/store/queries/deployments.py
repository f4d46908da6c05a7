"""Deployments and their API keys, always scoped to the owning account or deployment."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, or_, select, update
from sqlalchemy.engine import Connection, Row
from sqlalchemy.orm import Session

from modelpilot.control.store.key_changes import KEEPS_KEY_GRANTS
from modelpilot.control.store.tables import Account, ApiKey, Deployment, usage_columns


def add_deployment(session: Session, *, account_id: uuid.UUID, name: str, now: datetime) -> Deployment:
    deployment = Deployment(account_id=account_id, name=name, created_at=now)
    session.add(deployment)
    session.flush()
    return deployment


def list_deployments(session: Session, *, account_id: uuid.UUID) -> Sequence[Deployment]:
    return session.scalars(
        select(Deployment)
        .where(Deployment.account_id == account_id)
        .order_by(Deployment.created_at, Deployment.id)
    ).all()


def find_deployment(
    session: Session, *, account_id: uuid.UUID, deployment_id: uuid.UUID
) -> Deployment | None:
    """The deployment if, and only if, ``account_id`` owns it."""
    return session.scalar(
        select(Deployment).where(Deployment.id == deployment_id, Deployment.account_id == account_id)
    )


def add_api_key(
    session: Session,
    *,
    deployment_id: uuid.UUID,
    name: str,
    key_hash: str,
    display_prefix: str,
    now: datetime,
) -> ApiKey:
    key = ApiKey(
        deployment_id=deployment_id,
        name=name,
        key_hash=key_hash,
        display_prefix=display_prefix,
        created_at=now,
    )
    session.add(key)
    session.flush()
    return key


def list_api_keys(session: Session, *, deployment_id: uuid.UUID) -> Sequence[ApiKey]:
    return session.scalars(
        select(ApiKey).where(ApiKey.deployment_id == deployment_id).order_by(ApiKey.created_at, ApiKey.id)
    ).all()


def revoke_api_key(session: Session, *, deployment_id: uuid.UUID, key_id: uuid.UUID, now: datetime) -> bool:
    """Revoke the key if ``deployment_id`` owns it; False when there is no such key there."""
    key = session.scalar(select(ApiKey).where(ApiKey.id == key_id, ApiKey.deployment_id == deployment_id))
    if key is None:
        return False
    if key.revoked_at is None:
        key.revoked_at = now
    return True


def find_key_with_owner(session: Session, *, key_hash: str) -> tuple[ApiKey, Deployment, Account] | None:
    """The key with this hash (revoked or not), its deployment and account: one indexed lookup."""
    row = session.execute(
        select(ApiKey, Deployment, Account)
        .join(Deployment, Deployment.id == ApiKey.deployment_id)
        .join(Account, Account.id == Deployment.account_id)
        .where(ApiKey.key_hash == key_hash)
    ).first()
    return None if row is None else (row[0], row[1], row[2])


def find_route_grant_row(connection: Connection, *, key_hash: str) -> Row[*tuple[Any, ...]] | None:
    """For ``/v1/route``: the key's id, revocation and last use, its account's suspension, and its
    deployment's id and routing columns, in one statement on a plain connection (no ORM)."""
    statement = (
        select(
            ApiKey.id.label("key_id"),
            ApiKey.revoked_at,
            ApiKey.last_used_at,
            Account.suspended_at,
            Deployment.id.label("deployment_id"),
            Deployment.routing_mode,
            Deployment.quality_target,
            Deployment.allowed_models,
            Deployment.category_rules,
            Deployment.pins,
            Deployment.metadata_logs,
            Deployment.log_retention_days,
            Deployment.calibration_rate_bps,
            Deployment.calibration_daily_cap_micros,
            Deployment.settings_version,
        )
        .join(Deployment, Deployment.id == ApiKey.deployment_id)
        .join(Account, Account.id == Deployment.account_id)
        .where(ApiKey.key_hash == key_hash)
    )
    return connection.execute(statement).first()


def touch_api_key(
    session: Session | Connection, *, key_id: uuid.UUID, now: datetime, older_than: datetime
) -> None:
    """Record a use, unless another request (on any replica) already did so since ``older_than``."""
    session.execute(
        update(ApiKey)
        .where(ApiKey.id == key_id)
        .where((ApiKey.last_used_at.is_(None)) | (ApiKey.last_used_at < older_than))
        .values(last_used_at=now)
        .execution_options(**{KEEPS_KEY_GRANTS: True})  # bookkeeping, not a change of rights
    )


def get_deployment_unscoped(session: Session, *, deployment_id: uuid.UUID) -> Deployment | None:
    """Administrators only: a deployment by id, whoever owns it."""
    return session.get(Deployment, deployment_id)


def set_routing_settings(
    session: Session,
    *,
    deployment: Deployment,
    mode: str,
    quality_target: float,
    allowed_models: list[str] | None,
    category_rules: dict[str, dict[str, object]],
    pins: dict[str, str],
    metadata_logs: bool,
    log_retention_days: int,
    calibration_rate_bps: int,
    calibration_daily_cap_micros: int,
) -> bool:
    """Overwrite a deployment's routing settings (the caller validated them and commits). When
    anything changed, ``settings_version`` goes up by one in the same statement (atomic against
    a concurrent save on another replica); returns whether it did."""
    wanted: dict[str, Any] = {
        "routing_mode": mode,
        "quality_target": quality_target,
        "allowed_models": allowed_models,
        "category_rules": category_rules,
        "pins": pins,
        "metadata_logs": metadata_logs,
        "log_retention_days": log_retention_days,
        "calibration_rate_bps": calibration_rate_bps,
        "calibration_daily_cap_micros": calibration_daily_cap_micros,
    }
    changed = any(getattr(deployment, name) != value for name, value in wanted.items())
    for name, value in wanted.items():
        setattr(deployment, name, value)
    if changed:
        deployment.settings_version = Deployment.settings_version + 1
    session.flush()
    return changed


def routed_outcome_sums(
    session: Session, *, deployment_id: uuid.UUID, since: datetime
) -> list[tuple[str, str, str, bool, int, int, int, int]]:
    """Since ``since``, per category x requested x served x escalated: routed requests and their
    feedback reports, and paired-check verdicts (judged, acceptable) whether the policy had chosen
    the served candidate or not. One query on the (deployment, hour, ...) unique index."""
    u = usage_columns
    rows = session.execute(
        select(
            u.category,
            u.requested_model,
            u.served_model,
            u.escalated,
            func.sum(case((u.routed, u.requests), else_=0)),
            func.sum(case((u.routed, u.feedback_reports), else_=0)),
            func.sum(u.judged),
            func.sum(u.acceptable),
        )
        .where(u.deployment_id == deployment_id, u.hour >= since, or_(u.routed.is_(True), u.judged > 0))
        .group_by(u.category, u.requested_model, u.served_model, u.escalated)
    ).all()
    return [
        (r[0], r[1], r[2], bool(r[3]), int(r[4] or 0), int(r[5] or 0), int(r[6] or 0), int(r[7] or 0))
        for r in rows
    ]
