"""The proxy's ASGI app: routing, lifespan and the one error renderer.

Raw ASGI rather than a framework: this code sits in front of every API call, and the per-request
work is a dictionary lookup, a header copy and a relay loop (see ``exchange.py``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

import orjson

from modelpilot.proxy.asgi import Receive, Scope, Send, send_response
from modelpilot.proxy.boundary import refusal
from modelpilot.proxy.calibration import Calibrator, build_calibrator
from modelpilot.proxy.config_watch import ConfigWatcher
from modelpilot.proxy.control_client import ControlPlaneClient
from modelpilot.proxy.decisions import DecisionClient
from modelpilot.proxy.errors import NotFoundError, new_request_id, render_error
from modelpilot.proxy.exchange import Exchange
from modelpilot.proxy.feedback import FEEDBACK_PATH, Feedback, FeedbackBook, log_feedback, spooling_feedback
from modelpilot.proxy.flusher import Backoff, MeterFlusher, TelemetryReporter, telemetry_counters
from modelpilot.proxy.learning import LocalLearner, learner_file_beside
from modelpilot.proxy.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from modelpilot.proxy.metrics import ProxyMetrics
from modelpilot.proxy.otlp import OtlpExporter
from modelpilot.proxy.pipeline.meter import Meter
from modelpilot.proxy.recording import RequestRecord, log_record
from modelpilot.proxy.routing import Router
from modelpilot.proxy.settings import ProxySettings
from modelpilot.proxy.spool import LOCAL_DEPLOYMENT, Spool, deployment_fingerprint
from modelpilot.proxy.upstream import AiohttpUpstream, UpstreamClient
from modelpilot.schema.catalog import Catalog, load_catalog
from modelpilot.schema.wire import DeploymentConfig

log = logging.getLogger("modelpilot.proxy")

_HEALTH_BODY = orjson.dumps({"status": "ok"})
_HEALTH_HEADERS = [
    (b"content-type", b"application/json"),
    (b"content-length", str(len(_HEALTH_BODY)).encode()),
]


class ProxyApp:
    """The ASGI application built by :func:`create_app`."""

    def __init__(
        self,
        settings: ProxySettings,
        *,
        upstream: UpstreamClient,
        owns_upstream: bool,
        on_record: Callable[[RequestRecord], None],
        catalog: Catalog,
        metrics: ProxyMetrics | None = None,
        spool: Spool | None = None,
        flusher: MeterFlusher | None = None,
        control_plane: ControlPlaneClient | None = None,
        router: Router | None = None,
        feedback: FeedbackBook | None = None,
        otlp: OtlpExporter | None = None,
        calibrator: Calibrator | None = None,
        config_watcher: ConfigWatcher | None = None,
    ) -> None:
        self.settings = settings
        self.upstream = upstream
        self._owns_upstream = owns_upstream
        self._on_record = on_record
        self._catalog = catalog
        self.metrics = metrics or ProxyMetrics(catalog)
        self.meter = Meter(
            catalog, self.metrics, spool=spool, otlp=otlp, metadata_logs=settings.metadata_logs
        )
        self.flusher = flusher
        self._control_plane = control_plane
        self.router = router
        self.feedback = feedback or FeedbackBook()
        #: Paired checks; ``calibrator.limits.update(...)`` takes the deployment's rate and cap.
        self.calibrator = calibrator
        self.config_watcher = config_watcher
        if config_watcher is not None:
            config_watcher.on_config = self.apply_config

    @property
    def spool(self) -> Spool | None:
        """The meter spool (None without one, and after shutdown)."""
        return self.meter.spool

    @property
    def otlp(self) -> OtlpExporter | None:
        return self.meter.otlp

    @property
    def metadata_logs(self) -> bool:
        """Whether a metadata record of each request is spooled for the control plane. Starts as
        ``settings.metadata_logs``; may be set at run time (the deployment's setting as the
        control plane reports it). Spooling needs a spool: without one this changes nothing."""
        return self.meter.metadata_logs

    @metadata_logs.setter
    def metadata_logs(self, value: bool) -> None:
        self.meter.metadata_logs = value

    def apply_config(self, config: DeploymentConfig) -> None:
        """The deployment's own settings as the control plane reports them (``GET /v1/config``):
        its metadata-log switch, and the paired checks' rate and daily cap (local overrides given
        on the command line win inside the calibrator). Metadata records leave only when both
        this proxy (``--metadata-logs``, on by default under ``modelpilot up``) and the
        deployment's console setting say so."""
        self.metadata_logs = self.settings.metadata_logs and config.metadata_logs
        if self.calibrator is not None:
            self.calibrator.limits.update(
                rate_bps=config.calibration_rate_bps, daily_cap_micros=config.calibration_daily_cap_micros
            )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            path: str = scope["path"]
            if path == "/healthz":  # forwards nothing and uses no key: probes may name any Host
                await send_response(send, 200, list(_HEALTH_HEADERS), _HEALTH_BODY)
                return
            refused = refusal(scope["headers"], path, allowed_hosts=self.settings.allowed_hosts)
            if refused is not None:
                await send_response(send, *render_error(refused, new_request_id()))
            elif path.startswith("/v1/"):
                exchange = Exchange(
                    scope,
                    receive,
                    send,
                    settings=self.settings,
                    upstream=self.upstream,
                    catalog=self._catalog,
                    router=self._current_router(),
                    deliver=self._deliver,
                    calibrator=self.calibrator,
                )
                await exchange.run()
            elif path == FEEDBACK_PATH:
                await self.feedback.handle(scope["method"], receive, send)
            elif path == "/metrics":
                body = self.metrics.render()
                headers = [
                    (b"content-type", METRICS_CONTENT_TYPE),
                    (b"content-length", str(len(body)).encode()),
                ]
                await send_response(send, 200, headers, body)
            else:
                error = NotFoundError(f"{scope['method']} {path} is not served by this proxy")
                await send_response(send, *render_error(error, new_request_id()))
        elif kind == "lifespan":
            await self._lifespan(receive, send)
        # Other scope types (websocket) are not part of the Anthropic API; returning closes them.

    def _current_router(self) -> Router | None:
        # Off, a revoked key or a suspension (config_watch.py): requests pass unrouted.
        watcher = self.config_watcher
        return self.router if watcher is None or watcher.is_routing_allowed else None

    def _deliver(self, record: RequestRecord) -> None:
        charge = self.meter.meter(record)
        self.feedback.remember(record, charge)
        try:
            self._on_record(record)
        except Exception:
            # A broken metering hook must not break the caller's request; make it loud instead.
            log.exception("on_record failed for %s %s", record.method, record.path)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                opener = getattr(self.upstream, "open", None)
                if opener is not None:
                    await opener()
                if self.router is not None:
                    await self.router.open()
                if self.flusher is not None:
                    self.flusher.start()
                if self.config_watcher is not None:
                    self.config_watcher.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def aclose(self) -> None:
        """Drain the meter spool (within ``drain_timeout_s``), close it, and close the upstream
        pool if the app created it. The lifespan does this by itself."""
        watcher, self.config_watcher = self.config_watcher, None
        if watcher is not None:
            await watcher.stop()
        calibrator = self.calibrator
        if calibrator is not None:
            # Checks in flight get a bounded wait, so their rows are in the spool the flusher drains.
            await calibrator.aclose(timeout_s=self.settings.drain_timeout_s)
        flusher, self.flusher = self.flusher, None
        if flusher is not None:
            await flusher.stop(drain_timeout_s=self.settings.drain_timeout_s)
        control_plane, self._control_plane = self._control_plane, None
        if control_plane is not None:
            await control_plane.aclose()
        spool, self.meter.spool = self.meter.spool, None
        if spool is not None:
            spool.close()
        router, self.router = self.router, None
        if router is not None:
            await router.aclose()
        if self._owns_upstream:
            await self.upstream.aclose()
        otlp, self.meter.otlp = self.meter.otlp, None
        if otlp is not None:
            # Flushes what is queued (blocking HTTP, retried by the SDK): bounded, so an absent
            # collector cannot hold the shutdown; what is left is lost with the process.
            try:
                await asyncio.wait_for(
                    asyncio.to_thread(otlp.shutdown), timeout=self.settings.drain_timeout_s
                )
            except TimeoutError:
                log.warning("the OTLP collector did not take the last records within the drain timeout")


def create_app(
    settings: ProxySettings,
    *,
    upstream: UpstreamClient | None = None,
    on_record: Callable[[RequestRecord], None] | None = None,
    catalog: Catalog | None = None,
    on_feedback: Callable[[Feedback], None] | None = None,
) -> ProxyApp:
    """Build the proxy's ASGI app.

    ``upstream`` defaults to an :class:`~modelpilot.proxy.upstream.AiohttpUpstream` toward
    ``settings.upstream_url``, owned (and closed) by the app; an upstream passed in is the caller's
    to close. ``on_record`` receives one :class:`RequestRecord` per proxied request, just before
    the chunk that completes its answer is sent (default: a debug log line). ``catalog`` prices the usage.

    With ``settings.spool_path`` every metered request is committed to that spool file before
    ``on_record`` runs; with a control plane configured too, the lifespan runs the flusher that
    sends the spool to it and drains it at shutdown. ``GET /metrics`` serves Prometheus metrics.

    With a control plane, ``POST /v1/messages`` is routed (:class:`~modelpilot.proxy.routing.Router`)
    and ``POST /modelpilot/feedback`` reports bad answers to ``on_feedback`` (and, with a spool,
    meters each as ``feedback_reports=1`` in its request's bucket). With a control plane the
    flusher also sends telemetry every ``telemetry_interval_s``. With ``settings.otlp_endpoint``
    each Messages request's metadata record and metrics go to that OTLP/HTTP collector
    (:mod:`modelpilot.proxy.otlp`; needs the ``otlp`` extra).

    >>> app = create_app(ProxySettings(upstream_url="http://127.0.0.1:9000"))
    >>> # uvicorn.run(app, host="127.0.0.1", port=8787)
    """
    catalog = catalog if catalog is not None else load_catalog()
    spool = None
    if settings.spool_path is not None:
        key = settings.control_plane_api_key
        spool = Spool.open(
            settings.spool_path,
            max_rows=settings.spool_max_rows,
            deployment=deployment_fingerprint(key) if key else LOCAL_DEPLOYMENT,
        )
    metrics = ProxyMetrics(catalog, backlog=spool.backlog if spool is not None else None)
    control_plane = router = flusher = watcher = None
    if settings.control_plane_url and settings.control_plane_api_key:
        control_plane = ControlPlaneClient(
            settings.control_plane_url,
            api_key=settings.control_plane_api_key,
            timeout_s=settings.flush_timeout_s,
            decision_pool_limit=settings.pool_limit,
        )
        router = _router(settings, control_plane)
    if spool is not None and control_plane is not None:
        flusher = MeterFlusher(
            spool,
            control_plane,
            metrics=metrics,
            interval_s=settings.flush_interval_s,
            # Retries start at the interval's pace and slow to at most five minutes.
            backoff=Backoff(base_s=settings.flush_interval_s, cap_s=max(300.0, settings.flush_interval_s)),
            telemetry=_telemetry(settings, control_plane, metrics, router),
        )
        if router is not None:
            watcher = ConfigWatcher(
                control_plane, interval_s=settings.config_poll_interval_s, on_reset=_resetter(router)
            )
    real_upstream = upstream if upstream is not None else AiohttpUpstream(settings)
    calibrator = None
    if router is not None and spool is not None:
        calibrator = build_calibrator(
            settings,
            upstream=real_upstream,
            catalog=catalog,
            spool=spool,
            metrics=metrics,
            sink=router.learner,  # each verdict teaches the local learner
        )
    return ProxyApp(
        settings,
        calibrator=calibrator,
        upstream=real_upstream,
        owns_upstream=upstream is None,
        on_record=on_record or log_record,
        catalog=catalog,
        metrics=metrics,
        spool=spool,
        flusher=flusher,
        control_plane=control_plane,
        router=router,
        feedback=FeedbackBook(
            on_feedback=spooling_feedback(spool.add, on_feedback or log_feedback)
            if spool is not None
            else on_feedback or log_feedback,
            examples=router.recent if router is not None else None,
        ),
        otlp=(
            OtlpExporter(settings.otlp_endpoint, export_interval_s=settings.otlp_export_interval_s)
            if settings.otlp_endpoint
            else None
        ),
        config_watcher=watcher,
    )


def _resetter(router: Router) -> Callable[[], None]:
    def reset() -> None:
        router.client.cache.clear()
        router.sticky.clear()

    return reset


def _telemetry(
    settings: ProxySettings, client: ControlPlaneClient, metrics: ProxyMetrics, router: Router | None
) -> TelemetryReporter:
    def read_counters() -> dict[str, int]:
        counts = router.client.counts if router is not None else {}
        return telemetry_counters(counts, escalations=int(metrics.escalated.value()))

    return TelemetryReporter(
        client,
        read_counters=read_counters,
        read_backlog_rows=lambda: int(metrics.backlog_rows()),
        interval_s=settings.telemetry_interval_s,
    )


def _router(settings: ProxySettings, control_plane: ControlPlaneClient) -> Router:
    client = DecisionClient(
        control_plane,
        budget_ms=settings.routing_budget_ms,
        breaker_failures=settings.breaker_failures,
        breaker_cooldown_s=settings.breaker_cooldown_s,
        cache_size=settings.decision_cache_size,
    )
    return Router(client, checked_streaming=settings.checked_streaming, learner=_learner(settings))


def _learner(settings: ProxySettings) -> LocalLearner:
    """The local learner, persisted in the state directory (next to the spool by default)."""
    path = settings.learner_path
    if path is None and settings.spool_path is not None:
        path = str(learner_file_beside(Path(settings.spool_path)))
    return LocalLearner(Path(path) if path is not None else None)


__all__ = ["ProxyApp", "create_app"]
