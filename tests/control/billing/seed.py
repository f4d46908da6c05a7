"""Rows for billing and usage tests, written straight into the test database."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from modelpilot.control.store.tables import Account, Deployment, UsageAggregate

CREATED = datetime(2026, 1, 1, tzinfo=UTC)


def add_account(engine: Engine, email: str, *, fee_share_bps: int | None = None) -> uuid.UUID:
    with Session(engine) as session:
        account = Account(
            id=uuid.uuid4(), email=email, password_hash="x", created_at=CREATED, fee_share_bps=fee_share_bps
        )
        session.add(account)
        session.commit()
        return account.id


def add_deployment(engine: Engine, account_id: uuid.UUID, name: str, **settings: object) -> uuid.UUID:
    with Session(engine) as session:
        deployment = Deployment(
            id=uuid.uuid4(), account_id=account_id, name=name, created_at=CREATED, **settings
        )
        session.add(deployment)
        session.commit()
        return deployment.id


def add_usage(
    engine: Engine,
    deployment_id: uuid.UUID,
    hour: datetime,
    *,
    actual: int,
    baseline: int,
    requests: int = 1,
    category: str = "code",
    requested: str = "claude-sonnet-4-5",
    served: str = "claude-haiku-4-5",
    routed: bool = True,
    escalated: bool = False,
    **extra: int,
) -> None:
    with Session(engine) as session:
        session.add(
            UsageAggregate(
                deployment_id=deployment_id,
                hour=hour,
                category=category,
                requested_model=requested,
                served_model=served,
                routed=routed,
                escalated=escalated,
                requests=requests,
                input_tokens=extra.get("input_tokens", 100 * requests),
                output_tokens=extra.get("output_tokens", 10 * requests),
                cache_write_tokens=extra.get("cache_write_tokens", 0),
                cache_read_tokens=extra.get("cache_read_tokens", 0),
                actual_cost_micros=actual,
                baseline_cost_micros=baseline,
                feedback_reports=extra.get("feedback_reports", 0),
                shadow_requests=extra.get("shadow_requests", 0),
                shadow_cost_micros=extra.get("shadow_cost_micros", 0),
                judged=extra.get("judged", 0),
                acceptable=extra.get("acceptable", 0),
                calibration_cost_micros=extra.get("calibration_cost_micros", 0),
            )
        )
        session.commit()
