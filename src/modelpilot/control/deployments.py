"""Deployments and their API keys, always looked up through the owning account: another
tenant's deployment or key is indistinguishable from one that does not exist."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import delete
from sqlalchemy.orm import Session

from modelpilot.control.credentials import new_api_key
from modelpilot.control.errors import InvalidRequestError, NotFoundError, ProblemDetail
from modelpilot.control.policy.settings import CategoryRule, RoutingSettings, catalog_problems
from modelpilot.control.store.queries import deployments as queries
from modelpilot.control.store.tables import ApiKey, Deployment
from modelpilot.schema.catalog import Catalog
from modelpilot.schema.wire import Category

_MAX_NAME_CHARS = 100
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def clean_name(name: str) -> str:
    """A deployment, key or token name as stored: stripped, 1 to 100 characters, no control
    characters (else :class:`InvalidRequestError`)."""
    if _CONTROL_CHARS.search(name) or not 1 <= len(name.strip()) <= _MAX_NAME_CHARS:
        raise InvalidRequestError(
            f"names need 1 to {_MAX_NAME_CHARS} characters, not all blank, no control characters"
        )
    return name.strip()


def create_deployment(session: Session, *, account_id: uuid.UUID, name: str, now: datetime) -> Deployment:
    deployment = queries.add_deployment(session, account_id=account_id, name=clean_name(name), now=now)
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
        name=clean_name(name),
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


class RoutingColumns(Protocol):
    """A deployment's routing columns: the ORM row, or a Core result row that selected them."""

    @property
    def routing_mode(self) -> str: ...
    @property
    def quality_target(self) -> float: ...
    @property
    def allowed_models(self) -> Sequence[str] | None: ...
    @property
    def category_rules(self) -> Mapping[str, Any] | None: ...
    @property
    def pins(self) -> Mapping[str, str] | None: ...
    @property
    def metadata_logs(self) -> bool: ...
    @property
    def log_retention_days(self) -> int: ...
    @property
    def calibration_rate_bps(self) -> int: ...
    @property
    def calibration_daily_cap_micros(self) -> int: ...


def routing_settings_of(deployment: RoutingColumns) -> RoutingSettings:
    """A deployment row's routing settings as the validated model (rules the current schema no
    longer accepts are dropped rather than failing every read)."""
    rules: dict[Category, CategoryRule] = {}
    for name, raw in (deployment.category_rules or {}).items():
        try:
            rules[Category(name)] = CategoryRule.model_validate(raw)
        except ValueError:
            continue
    return RoutingSettings.model_construct(
        mode=deployment.routing_mode if deployment.routing_mode in ("off", "shadow", "on") else "off",
        quality_target=deployment.quality_target,
        allowed_models=list(deployment.allowed_models) if deployment.allowed_models is not None else None,
        category_rules=rules,
        pins=dict(deployment.pins or {}),
        metadata_logs=deployment.metadata_logs,
        log_retention_days=deployment.log_retention_days,
        calibration_rate_bps=deployment.calibration_rate_bps,
        calibration_daily_cap_micros=deployment.calibration_daily_cap_micros,
    )


def get_routing_settings(
    session: Session, *, account_id: uuid.UUID, deployment_id: uuid.UUID
) -> RoutingSettings:
    """The routing settings of one of the account's deployments."""
    return routing_settings_of(get_deployment(session, account_id=account_id, deployment_id=deployment_id))


def update_routing_settings(
    session: Session,
    *,
    account_id: uuid.UUID,
    deployment_id: uuid.UUID,
    settings: RoutingSettings,
    catalog: Catalog,
    max_retention_days: int,
) -> RoutingSettings:
    """Replace the routing settings of one of the account's deployments and commit. Model ids
    must be in the catalog (aliases are stored as canonical ids); the retention is capped by the
    control plane's ``max_retention_days``. A change bumps the deployment's settings version in
    the same transaction (what ``GET /v1/config`` reports)."""
    deployment = get_deployment(session, account_id=account_id, deployment_id=deployment_id)
    problems = catalog_problems(settings, catalog, max_retention_days=max_retention_days)
    if problems:
        raise InvalidRequestError(
            "the routing settings name unknown models or exceed a limit",
            errors=tuple(ProblemDetail(path, reason) for path, reason in problems),
        )

    def canonical(model_id: str) -> str:
        spec = catalog.get(model_id)
        assert spec is not None  # checked by catalog_problems
        return spec.id

    queries.set_routing_settings(
        session,
        deployment=deployment,
        mode=settings.mode,
        quality_target=settings.quality_target,
        allowed_models=(
            sorted({canonical(m) for m in settings.allowed_models})
            if settings.allowed_models is not None
            else None
        ),
        category_rules={
            category.value: rule.model_dump(exclude_none=True)
            for category, rule in settings.category_rules.items()
        },
        pins={canonical(requested): canonical(served) for requested, served in settings.pins.items()},
        metadata_logs=settings.metadata_logs,
        log_retention_days=settings.log_retention_days,
        calibration_rate_bps=settings.calibration_rate_bps,
        calibration_daily_cap_micros=settings.calibration_daily_cap_micros,
    )
    session.commit()
    return routing_settings_of(deployment)


def rename_deployment(
    session: Session, *, account_id: uuid.UUID, deployment_id: uuid.UUID, name: str
) -> Deployment:
    """Give one of the account's deployments a new name (committed)."""
    deployment = get_deployment(session, account_id=account_id, deployment_id=deployment_id)
    deployment.name = clean_name(name)
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
