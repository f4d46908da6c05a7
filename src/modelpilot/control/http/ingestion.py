"""The ingestion API the proxy calls, authenticated by deployment key and firewalled:
``/v1/route``, ``/v1/config``, ``/v1/meter``, ``/v1/telemetry``, ``/v1/logs``."""

from __future__ import annotations

import random
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool

from modelpilot.control import metering, routing
from modelpilot.control.decision_ids import issue_decision_id
from modelpilot.control.http.dependencies import Db, State, deployment_key, firewall, route_grant
from modelpilot.control.http.problems import problem_responses
from modelpilot.control.http.state import ControlState
from modelpilot.control.keys import KeyHolder, RouteGrant
from modelpilot.control.policy.outcomes import OutcomeCache, Outcomes
from modelpilot.schema.wire import (
    DeploymentConfig,
    IngestAck,
    LogBatch,
    MeterBatch,
    RouteDecision,
    RouteRequest,
    RoutingMode,
    TelemetryBatch,
)

Holder = Annotated[KeyHolder, Depends(deployment_key)]
Grant = Annotated[RouteGrant, Depends(route_grant)]

#: How long a process reuses a deployment's outcomes before reading its aggregates again.
OUTCOME_CACHE_TTL_S = 30.0


def _outcome_cache(request: Request, state: ControlState) -> OutcomeCache:
    """The app's outcome cache, made on first use (one per app, so per worker process)."""
    cache = getattr(request.app.state, "routing_outcomes", None)
    if not isinstance(cache, OutcomeCache):
        cache = OutcomeCache(ttl_s=OUTCOME_CACHE_TTL_S, clock=lambda: state.clock().timestamp())
        request.app.state.routing_outcomes = cache
    return cache


# Exploration needs unpredictability, not secrecy.
_RNG = random.Random()


def ingestion_router() -> APIRouter:
    """Routes for the proxy's calls. The firewall dependency runs before the key check."""
    router = APIRouter(
        prefix="/v1",
        tags=["ingestion"],
        dependencies=[Depends(firewall)],
        responses=problem_responses(401, 403, 422),
    )

    @router.post("/route", response_model=RouteDecision)
    async def route(request: RouteRequest, grant: Grant, state: State, http: Request) -> RouteDecision:
        """Which model should serve this request? Cache the answer for ``ttl_s`` per ``bucket``.
        ``explanation`` says why in one sentence; in shadow mode ``shadow_model`` is what routing
        would have chosen while the requested model is served."""
        # The hot path: with the key and the outcomes remembered, a decision touches neither the
        # database nor the thread pool (about 30 µs of policy code on the event loop).
        now = state.clock()
        cache = _outcome_cache(http, state)
        outcomes = cache.peek(grant.deployment_id)
        if outcomes is None:

            def load() -> Outcomes:
                with state.sessions() as db:
                    return routing.deployment_outcomes(db, cache, deployment_id=grant.deployment_id, now=now)

            outcomes = await run_in_threadpool(load)
        decision = routing.decide_route(
            state.catalog,
            request,
            settings=grant.settings,
            outcomes=outcomes,
            ttl_s=state.settings.route_ttl_s,
            exploration_rate=state.settings.exploration_rate,
            rng=_RNG,
            now=now,
        )
        # Decision ids carry their deployment's signature, so /v1/logs stores only issued ones.
        issued = issue_decision_id(state.settings.session_secrets, grant.deployment_id)
        return decision.model_copy(update={"decision_id": issued})

    @router.get("/config", response_model=DeploymentConfig)
    async def config(grant: Grant) -> DeploymentConfig:
        """What the proxy must obey for its deployment: routing mode, paired-check (calibration)
        rate and daily cap, and whether metadata logs are on. Polled every few seconds by every
        proxy, so it answers from the same remembered key grant as ``/v1/route`` (no query while
        nothing changed, on PostgreSQL). ``version`` changes whenever any routing setting
        changes: drop cached decisions and conversation pins then. A revoked key answers 401 and
        a suspended account 403, on every replica from the next request."""
        settings = grant.settings
        return DeploymentConfig(
            version=grant.settings_version,
            mode=RoutingMode(settings.mode),
            calibration_rate_bps=settings.calibration_rate_bps,
            calibration_daily_cap_micros=settings.calibration_daily_cap_micros,
            metadata_logs=settings.metadata_logs,
        )

    @router.post("/meter", response_model=IngestAck)
    def meter(batch: MeterBatch, holder: Holder, state: State, db: Db) -> IngestAck:
        """Add hourly usage aggregates; a redelivered ``batch_id`` is acknowledged, not recounted.
        Model ids outside the catalog and hours outside the accepted window are refused (422)."""
        now = state.clock()
        return metering.ingest_meter(
            db,
            deployment=holder.deployment,
            batch=batch,
            now=now,
            check=lambda: metering.check_meter_batch(batch, catalog=state.catalog, now=now),
        )

    @router.post("/telemetry", response_model=IngestAck)
    def telemetry(batch: TelemetryBatch, holder: Holder, state: State, db: Db) -> IngestAck:
        """Record the proxy's decision-path counters for one window. A window starting or ending
        outside the accepted window around now is refused (422)."""
        now = state.clock()
        return metering.ingest_telemetry(
            db,
            deployment=holder.deployment,
            batch=batch,
            now=now,
            check=lambda: metering.check_telemetry_batch(batch, now=now),
        )

    @router.post("/logs", response_model=IngestAck)
    def logs(batch: LogBatch, holder: Holder, state: State, db: Db) -> IngestAck:
        """Store opt-in metadata log records (no content). Model ids outside the catalog,
        timestamps outside the retention window and decision ids not issued to this deployment
        are refused (422)."""
        now = state.clock()
        return metering.ingest_logs(
            db,
            deployment=holder.deployment,
            batch=batch,
            now=now,
            check=lambda: metering.check_log_batch(
                batch,
                catalog=state.catalog,
                now=now,
                retention_days=min(
                    holder.deployment.log_retention_days, state.settings.max_log_retention_days
                ),
                deployment_id=holder.deployment.id,
                secrets=state.settings.session_secrets,
            ),
        )

    return router
