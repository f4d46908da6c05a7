"""The control plane's tables, as SQLAlchemy 2 typed models (portable column types only)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from modelpilot.schema.bucket import BUCKET_KEY, COUNTERS


class UTCDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime on every backend (SQLite keeps no offset, so we store UTC and
    re-attach it on the way out)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base of every control-plane table."""

    type_annotation_map = {datetime: UTCDateTime(), int: BigInteger()}


def _new_id() -> uuid.UUID:
    return uuid.uuid4()


class Account(Base):
    """A customer account (one login). Suspended accounts keep their data but are refused."""

    __tablename__ = "accounts"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=_new_id)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]
    suspended_at: Mapped[datetime | None]
    #: The account's fee as basis points of positive net savings; None means the default in
    #: the control plane's settings.
    fee_share_bps: Mapped[int | None] = mapped_column(Integer)


class Session(Base):
    """A log-in session. Only the SHA-256 of the random session token is stored."""

    __tablename__ = "sessions"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=_new_id)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class Deployment(Base):
    """A deployment of the proxy, owned by one account; it owns API keys and usage."""

    __tablename__ = "deployments"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=_new_id)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]
    #: ``off`` (serve the requested model), ``shadow`` (decide and meter what routing would
    #: have saved, serve the requested model) or ``on``.
    routing_mode: Mapped[str] = mapped_column(String(8), default="on")
    #: The estimated success probability a cheaper model must reach to be chosen.
    quality_target: Mapped[float] = mapped_column(Float, default=0.95)
    #: Model ids routing may choose; None means every model in the catalog.
    allowed_models: Mapped[list[str] | None] = mapped_column(JSON)
    #: Per-category rules: ``{"code": {"action": "never"}}``, ``{"qa": {"quality_target": 0.9}}``.
    category_rules: Mapped[dict[str, dict[str, object]]] = mapped_column(JSON, default=dict)
    #: Pins: requested model -> the model always served for it.
    pins: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    #: Opt-in metadata logs: stored only when this is on (and the proxy is configured to send).
    metadata_logs: Mapped[bool] = mapped_column(Boolean, default=False)
    log_retention_days: Mapped[int] = mapped_column(Integer, default=30)
    #: Paired checks (calibration): the share of routable requests the proxy checks, in basis
    #: points (200 = 2 %; 0 is off), and the most their extra calls may cost per UTC day.
    calibration_rate_bps: Mapped[int] = mapped_column(Integer, default=200)
    calibration_daily_cap_micros: Mapped[int] = mapped_column(default=1_000_000)
    #: Bumped in the same transaction as every change to the routing settings, so ``GET
    #: /v1/config`` tells a proxy that what it obeys (and the decisions it cached) changed.
    settings_version: Mapped[int] = mapped_column(default=1)


class ApiKey(Base):
    """A deployment API key. Only its SHA-256 and a short display prefix are stored."""

    __tablename__ = "api_keys"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=_new_id)
    deployment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("deployments.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(100))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    display_prefix: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class ManagementToken(Base):
    """An account's management API token (``mp_mgmt_...``) for scripts and CI. Like a deployment
    key, only its SHA-256 and a short display prefix are stored."""

    __tablename__ = "management_tokens"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=_new_id)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    display_prefix: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class IngestedBatch(Base):
    """Batch ids already ingested per deployment and kind: what makes ingestion idempotent."""

    __tablename__ = "ingested_batches"
    __table_args__ = (UniqueConstraint("deployment_id", "kind", "batch_id", name="uq_ingested_batches_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    deployment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("deployments.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    batch_id: Mapped[str] = mapped_column(String(36))
    received_at: Mapped[datetime]


class UsageAggregate(Base):
    """Metered usage, summed per deployment x hour x category x requested x served x routed x
    escalated. Money is integer micro-dollars."""

    __tablename__ = "usage_aggregates"
    __table_args__ = (UniqueConstraint("deployment_id", *BUCKET_KEY, name="uq_usage_aggregates_bucket"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    deployment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("deployments.id", ondelete="CASCADE"))
    hour: Mapped[datetime]
    category: Mapped[str] = mapped_column(String(32))
    requested_model: Mapped[str] = mapped_column(String(64))
    served_model: Mapped[str] = mapped_column(String(64))
    routed: Mapped[bool] = mapped_column(Boolean)
    escalated: Mapped[bool] = mapped_column(Boolean)

    if TYPE_CHECKING:
        # The counter columns are added below from the bucket declaration; to the type checker, a
        # loaded row's other attributes are those counters.
        def __getattr__(self, name: str) -> int: ...

    def counters(self) -> dict[str, int]:
        """The row's counters by name (zero where a new row was not flushed yet, as stored)."""
        return {name: getattr(self, name) or 0 for name in COUNTERS}


# One BIGINT column per counter (NOT NULL; the migrations give them server defaults of 0 where
# they were added to existing tables). Declarative maps columns assigned after the class.
for _name in COUNTERS:
    setattr(UsageAggregate, _name, mapped_column(_name, BigInteger, nullable=False, default=0))
del _name


#: The columns of ``usage_aggregates`` for queries, by name (``usage_columns.requests``): the
#: counters have no typed attribute on the class.
usage_columns = UsageAggregate.__table__.c


class TelemetryReport(Base):
    """One proxy telemetry window, stored as received (numbers only; the firewall saw it)."""

    __tablename__ = "telemetry_reports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    deployment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("deployments.id", ondelete="CASCADE"), index=True
    )
    window_start: Mapped[datetime]
    window_s: Mapped[int]
    counters: Mapped[dict[str, int]] = mapped_column(JSON)
    route_latency: Mapped[dict[str, int]] = mapped_column(JSON)


class LogRecord(Base):
    """One opt-in metadata log record (no content)."""

    __tablename__ = "log_records"
    __table_args__ = (Index("ix_log_records_deployment_ts", "deployment_id", "ts"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    deployment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("deployments.id", ondelete="CASCADE"))
    ts: Mapped[datetime]
    category: Mapped[str] = mapped_column(String(32))
    requested_model: Mapped[str] = mapped_column(String(64))
    served_model: Mapped[str] = mapped_column(String(64))
    routed: Mapped[bool] = mapped_column(Boolean)
    escalated: Mapped[bool] = mapped_column(Boolean)
    status: Mapped[int] = mapped_column(Integer)
    input_tokens: Mapped[int]
    output_tokens: Mapped[int]
    cache_write_tokens: Mapped[int]
    cache_read_tokens: Mapped[int]
    cost_micros: Mapped[int]
    latency_ms: Mapped[int]
    decision_id: Mapped[str | None] = mapped_column(String(36))
    decision_reason: Mapped[str | None] = mapped_column(String(32), default=None)
    escalation_reason: Mapped[str | None] = mapped_column(String(32), default=None)


class LoginAttempt(Base):
    """A failed log-in, keyed by a hash of (email, client address) and by the address alone, so
    throttling holds across replicas."""

    __tablename__ = "login_attempts"
    __table_args__ = (
        Index("ix_login_attempts_subject", "subject_hash", "attempted_at"),
        Index("ix_login_attempts_client", "client_hash", "attempted_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    subject_hash: Mapped[str] = mapped_column(String(64))
    client_hash: Mapped[str] = mapped_column(String(64))
    attempted_at: Mapped[datetime]


class Invoice(Base):
    """One account's bill for one closed month: totals over its deployments, and the fee (a share
    of positive net savings). Issued once; its lines keep deployment names as they were."""

    __tablename__ = "invoices"
    __table_args__ = (UniqueConstraint("account_id", "month", name="uq_invoices_account_month"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=_new_id)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    month: Mapped[str] = mapped_column(String(7))  # YYYY-MM (UTC)
    issued_at: Mapped[datetime]
    fee_share_bps: Mapped[int] = mapped_column(Integer)
    requests: Mapped[int]
    baseline_cost_micros: Mapped[int]
    actual_cost_micros: Mapped[int]
    net_savings_micros: Mapped[int]  # may be negative
    fee_micros: Mapped[int]


class InvoiceLine(Base):
    """One deployment's part of an invoice."""

    __tablename__ = "invoice_lines"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    invoice_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("invoices.id", ondelete="CASCADE"), index=True)
    deployment_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("deployments.id", ondelete="SET NULL"))
    deployment_name: Mapped[str] = mapped_column(String(100))
    requests: Mapped[int]
    baseline_cost_micros: Mapped[int]
    actual_cost_micros: Mapped[int]
    net_savings_micros: Mapped[int]
    fee_micros: Mapped[int]


class StatusProbe(Base):
    """One health probe of one component, recorded by the control plane itself."""

    __tablename__ = "status_probes"
    __table_args__ = (Index("ix_status_probes_component_checked", "component", "checked_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    component: Mapped[str] = mapped_column(String(32))
    checked_at: Mapped[datetime]
    ok: Mapped[bool] = mapped_column(Boolean)
    latency_ms: Mapped[int] = mapped_column(Integer)


class Incident(Base):
    """An incident an admin posted on the status page."""

    __tablename__ = "incidents"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=_new_id)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(String(5000))
    severity: Mapped[str] = mapped_column(String(16))  # minor | major | critical
    components: Mapped[list[str]] = mapped_column(JSON, default=list)
    started_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))
