"""Response and request bodies of the console's JSON API (not part of the proxy wire contract)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field

from modelpilot.control import dashboard
from modelpilot.control.policy.settings import RoutingSettings
from modelpilot.control.quality import Quality, Status
from modelpilot.control.store import tables
from modelpilot.schema.bucket import BUCKET_KEY

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


class _CredentialView(View):
    """A credential as listed: its name and display prefix only, never the secret or its hash."""

    id: uuid.UUID
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked: bool

    @classmethod
    def of(cls, row: tables.ApiKey | tables.ManagementToken) -> Self:
        return cls(
            id=row.id,
            name=row.name,
            prefix=row.display_prefix,
            created_at=row.created_at,
            last_used_at=row.last_used_at,
            revoked=row.revoked_at is not None,
        )


class ApiKeyView(_CredentialView):
    """A key as listed: its name and display prefix only, never the secret or its hash."""


class CreatedApiKey(View):
    """A new key: ``secret`` is shown here once and can never be read again."""

    key: ApiKeyView
    secret: str


class ManagementTokenView(_CredentialView):
    """A management token as listed: its name and display prefix only, never the secret."""


class CreatedManagementToken(View):
    """A new management token: ``secret`` (``mp_mgmt_...``) is shown here once, never again."""

    token: ManagementTokenView
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
    feedback_reports: int
    shadow_requests: int
    shadow_cost_micros: int
    #: Paired checks of ``served_model`` against ``requested_model`` (calibration rows have
    #: ``requests`` = 0): verdicts, acceptable ones, and their spend, apart from actual cost.
    judged: int
    acceptable: int
    calibration_cost_micros: int

    @classmethod
    def of(cls, row: tables.UsageAggregate) -> UsageView:
        counters = row.counters()
        savings = counters["baseline_cost_micros"] - counters["actual_cost_micros"]
        bucket = {name: getattr(row, name) for name in BUCKET_KEY}
        return cls.model_validate(bucket | counters | {"savings_micros": savings})


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


class QualityView(View):
    """Measured quality from paired checks: verdicts, the acceptable share and its 95 % Wilson
    interval (None when nothing was judged), and how it stands against ``quality_target``."""

    judged: int
    acceptable: int
    acceptable_share: float | None
    interval_low: float | None
    interval_high: float | None
    quality_target: float | None
    status: Status

    @classmethod
    def of(cls, quality: Quality) -> QualityView:
        judged = quality.judged > 0
        return cls(
            judged=quality.judged,
            acceptable=quality.acceptable,
            acceptable_share=quality.share,
            interval_low=quality.low if judged else None,
            interval_high=quality.high if judged else None,
            quality_target=quality.target,
            status=quality.status,
        )


class RouteSummaryView(View):
    """One requested -> served pair: its requests and savings, and the verdicts on ``served_model``
    against ``requested_model`` (calibration rows have no requests of their own)."""

    requested_model: str
    served_model: str
    requests: int
    actual_cost_micros: int
    baseline_cost_micros: int
    savings_micros: int
    calibration_cost_micros: int
    quality: QualityView


class DeploymentSummaryView(View):
    """A deployment over ``[start, end)``: savings, shadow mode's "would have saved", measured
    quality against the deployment's target, and calibration spend (never part of actual,
    baseline or savings), in total and per requested -> served pair."""

    deployment_id: uuid.UUID
    routing_mode: str
    calibration_rate_bps: int
    start: datetime
    end: datetime
    requests: int
    routed_requests: int
    escalated_requests: int
    actual_cost_micros: int
    baseline_cost_micros: int
    savings_micros: int
    shadow_requests: int
    would_save_micros: int
    calibration_cost_micros: int
    quality: QualityView
    by_route: list[RouteSummaryView]

    @classmethod
    def of(cls, deployment: tables.Deployment, summary: dashboard.Summary) -> DeploymentSummaryView:
        target = deployment.quality_target
        totals = summary.totals
        return cls(
            deployment_id=deployment.id,
            routing_mode=deployment.routing_mode,
            calibration_rate_bps=deployment.calibration_rate_bps,
            start=summary.period.start,
            end=summary.period.end,
            requests=totals.requests,
            routed_requests=totals.routed,
            escalated_requests=totals.escalated,
            actual_cost_micros=totals.actual_cost_micros,
            baseline_cost_micros=totals.baseline_cost_micros,
            savings_micros=totals.savings_micros,
            shadow_requests=totals.shadow_requests,
            would_save_micros=totals.would_save_micros,
            calibration_cost_micros=totals.calibration_cost_micros,
            quality=QualityView.of(totals.quality(target)),
            by_route=[
                RouteSummaryView(
                    requested_model=requested,
                    served_model=served,
                    requests=t.requests,
                    actual_cost_micros=t.actual_cost_micros,
                    baseline_cost_micros=t.baseline_cost_micros,
                    savings_micros=t.savings_micros,
                    calibration_cost_micros=t.calibration_cost_micros,
                    quality=QualityView.of(t.quality(target)),
                )
                for (requested, served), t in summary.by_model
            ],
        )
