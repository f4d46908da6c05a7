"""Response and request bodies of the console's JSON API (not part of the proxy wire contract)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from modelpilot.control.policy.settings import RoutingSettings
from modelpilot.control.store import tables

#: The body of ``GET``/``PUT /api/deployments/{id}/routing``: the policy's own settings model.
RoutingSettingsView = RoutingSettings


class View(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SessionView(View):
    """Who is logged in, and the CSRF token to send as ``x-csrf-token`` on changes."""

    account_id: uuid.UUID
    email: str
    is_admin: bool
    csrf_token: str


class NameBody(View):
    """The name of a new deployment or key."""

    name: Annotated[
        str,
        Field(
            min_length=1,
            max_length=100,
            pattern=r"^[^\x00-\x1f\x7f-\x9f]*[^\x00-\x1f\x7f-\x9f\s][^\x00-\x1f\x7f-\x9f]*$",
        ),
    ]


class DeploymentView(View):
    id: uuid.UUID
    name: str
    routing_mode: str
    created_at: datetime

    @classmethod
    def of(cls, row: tables.Deployment) -> DeploymentView:
        return cls(id=row.id, name=row.name, routing_mode=row.routing_mode, created_at=row.created_at)


class ApiKeyView(View):
    """A key as listed: its name and display prefix only, never the secret or its hash."""

    id: uuid.UUID
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked: bool

    @classmethod
    def of(cls, row: tables.ApiKey) -> ApiKeyView:
        return cls(
            id=row.id,
            name=row.name,
            prefix=row.display_prefix,
            created_at=row.created_at,
            last_used_at=row.last_used_at,
            revoked=row.revoked_at is not None,
        )


class CreatedApiKey(View):
    """A new key: ``secret`` is shown here once and can never be read again."""

    key: ApiKeyView
    secret: str


class UsageView(View):
    hour: datetime
    category: str
    requested_model: str
    served_model: str
    routed: bool
    escalated: bool
    requests: int
    input_tokens: int
    output_tokens: int
    cache_write_tokens: int
    cache_read_tokens: int
    actual_cost_micros: int
    baseline_cost_micros: int
    savings_micros: int

    @classmethod
    def of(cls, row: tables.UsageAggregate) -> UsageView:
        return cls(
            hour=row.hour,
            category=row.category,
            requested_model=row.requested_model,
            served_model=row.served_model,
            routed=row.routed,
            escalated=row.escalated,
            requests=row.requests,
            input_tokens=row.input_tokens,
            output_tokens=row.output_tokens,
            cache_write_tokens=row.cache_write_tokens,
            cache_read_tokens=row.cache_read_tokens,
            actual_cost_micros=row.actual_cost_micros,
            baseline_cost_micros=row.baseline_cost_micros,
            savings_micros=row.baseline_cost_micros - row.actual_cost_micros,
        )


class LogView(View):
    ts: datetime
    category: str
    requested_model: str
    served_model: str
    routed: bool
    escalated: bool
    status: int
    input_tokens: int
    output_tokens: int
    cache_write_tokens: int
    cache_read_tokens: int
    cost_micros: int
    latency_ms: int
    decision_id: str | None
    decision_reason: str | None = None
    escalation_reason: str | None = None

    @classmethod
    def of(cls, row: tables.LogRecord) -> LogView:
        return cls.model_validate(row, from_attributes=True)


class AccountStatusView(View):
    account_id: uuid.UUID
    suspended: bool
