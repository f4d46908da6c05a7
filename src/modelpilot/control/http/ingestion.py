"""The ingestion API the proxy calls, authenticated by deployment key and firewalled:
``/v1/route``, ``/v1/meter``, ``/v1/telemetry``, ``/v1/logs``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from modelpilot.control import metering, routing
from modelpilot.control.http.dependencies import Db, State, deployment_key, firewall
from modelpilot.control.http.problems import problem_responses
from modelpilot.control.keys import KeyHolder
from modelpilot.schema.wire import (
    IngestAck,
    LogBatch,
    MeterBatch,
    RouteDecision,
    RouteRequest,
    TelemetryBatch,
)

Holder = Annotated[KeyHolder, Depends(deployment_key)]


def ingestion_router() -> APIRouter:
    """Routes for the proxy's calls. The firewall dependency runs before the key check."""
    router = APIRouter(
        prefix="/v1",
        tags=["ingestion"],
        dependencies=[Depends(firewall)],
        responses=problem_responses(401, 403, 422),
    )

    @router.post("/route", response_model=RouteDecision)
    def route(request: RouteRequest, holder: Holder, state: State) -> RouteDecision:
        """Which model should serve this request? Cache the answer for ``ttl_s`` per ``bucket``."""
        return routing.decide_route(
            state.catalog,
            request,
            routing_enabled=holder.deployment.routing_mode != "off",
            ttl_s=state.settings.route_ttl_s,
        )

    @router.post("/meter", response_model=IngestAck)
    def meter(batch: MeterBatch, holder: Holder, state: State, db: Db) -> IngestAck:
        """Add hourly usage aggregates; a redelivered ``batch_id`` is acknowledged, not recounted."""
        return metering.ingest_meter(db, deployment=holder.deployment, batch=batch, now=state.clock())

    @router.post("/telemetry", response_model=IngestAck)
    def telemetry(batch: TelemetryBatch, holder: Holder, state: State, db: Db) -> IngestAck:
        """Record the proxy's decision-path counters for one window."""
        return metering.ingest_telemetry(db, deployment=holder.deployment, batch=batch, now=state.clock())

    @router.post("/logs", response_model=IngestAck)
    def logs(batch: LogBatch, holder: Holder, state: State, db: Db) -> IngestAck:
        """Store opt-in metadata log records (no content)."""
        return metering.ingest_logs(db, deployment=holder.deployment, batch=batch, now=state.clock())

    return router
