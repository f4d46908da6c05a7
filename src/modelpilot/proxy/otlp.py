"""Export the metadata log and metrics to the customer's own OTLP/HTTP collector.

The same numbers-only record as the opt-in metadata log (:func:`~modelpilot.proxy.accounting.
metadata_log_entry`): one OpenTelemetry LogRecord per finished Messages request, plus metrics.
Nothing of it goes to the control plane; it goes only where ``--otlp-endpoint`` points.

Attributes follow the OpenTelemetry GenAI semantic conventions (development status):
``gen_ai.operation.name=chat``, ``gen_ai.provider.name=anthropic`` (and the older
``gen_ai.system``), ``gen_ai.request.model``, ``gen_ai.response.model``,
``gen_ai.usage.input_tokens``, ``gen_ai.usage.output_tokens``, the cache token counts, plus
``modelpilot.*`` for category, routed, escalated and money (integer micro-dollars). Metrics:
``gen_ai.client.token.usage`` and ``gen_ai.client.operation.duration`` (the GenAI histograms),
``modelpilot.requests``, ``modelpilot.cost``, ``modelpilot.baseline_cost`` and
``modelpilot.savings``. No prompt, completion, system prompt, tool argument or key is ever an
attribute or a body: the record's fields are the whole source (content never reaches them).

The OpenTelemetry SDK and exporter are the optional ``otlp`` extra, imported only when an
endpoint is configured. Headers (an API key for the collector, say) come from the standard
``OTEL_EXPORTER_OTLP_HEADERS`` variable, read by the exporter itself.

Off the event loop: the SDK spends tens of microseconds per measurement (attribute hashing), so
:meth:`OtlpExporter.record` only puts the record on a bounded queue; a worker thread feeds the
SDK, whose own threads export. At the bound records are dropped and counted (``dropped``), never
waited for: the collector being slow must not slow requests down.
"""

from __future__ import annotations

import logging
import queue
import threading
from typing import Any

from modelpilot.extras import install_command
from modelpilot.proxy.accounting import Charge
from modelpilot.schema.wire import LogRecord

log = logging.getLogger("modelpilot.proxy.otlp")

_SCOPE = "modelpilot.proxy"
#: GenAI semconv's recommended buckets for gen_ai.client.token.usage and ...operation.duration.
_TOKEN_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864)
_DURATION_BUCKETS_S = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)
_MICRODOLLARS = "{microdollar}"
_QUEUE_MAX = 10_000
_Item = tuple[LogRecord, Charge | None]


class OtlpUnavailableError(RuntimeError):
    """An OTLP endpoint is configured but the OpenTelemetry packages are not installed."""


def _base_attributes(entry: LogRecord) -> dict[str, Any]:
    return {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "anthropic",
        "gen_ai.system": "anthropic",
        "gen_ai.request.model": entry.requested_model,
        "gen_ai.response.model": entry.served_model,
    }


def log_attributes(entry: LogRecord, charge: Charge | None) -> dict[str, Any]:
    """The attributes of one request's log record: the metadata log's fields, nothing more."""
    attributes = {
        **_base_attributes(entry),
        "gen_ai.usage.input_tokens": entry.input_tokens,
        "gen_ai.usage.output_tokens": entry.output_tokens,
        "gen_ai.usage.cache_creation.input_tokens": entry.cache_write_tokens,
        "gen_ai.usage.cache_read.input_tokens": entry.cache_read_tokens,
        "http.response.status_code": entry.status,
        "modelpilot.category": entry.category.value,
        "modelpilot.routed": entry.routed,
        "modelpilot.escalated": entry.escalated,
        "modelpilot.cost_micros": entry.cost_micros,
        "modelpilot.latency_ms": entry.latency_ms,
    }
    if charge is not None:
        attributes["modelpilot.baseline_cost_micros"] = charge.baseline_micros
        attributes["modelpilot.savings_micros"] = charge.savings_micros
    if entry.status >= 400:
        attributes["error.type"] = str(entry.status)
    if entry.decision_id is not None:
        attributes["modelpilot.decision_id"] = entry.decision_id
    return attributes


class OtlpExporter:
    """Logs and metrics toward one OTLP/HTTP collector (``endpoint`` + ``/v1/logs``, ``/v1/metrics``).

    >>> exporter = OtlpExporter("http://127.0.0.1:4318")  # doctest: +SKIP
    >>> exporter.record(entry, charge); exporter.force_flush(); exporter.shutdown()
    """

    def __init__(
        self,
        endpoint: str,
        *,
        export_interval_s: float = 10.0,
        service_name: str = "modelpilot-proxy",
        max_queued: int = _QUEUE_MAX,
    ) -> None:
        try:
            from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
            from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
            from opentelemetry.sdk._logs import LoggerProvider
            from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
            from opentelemetry.sdk.metrics import MeterProvider
            from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
            from opentelemetry.sdk.metrics.view import ExplicitBucketHistogramAggregation, View
            from opentelemetry.sdk.resources import Resource
        except ImportError as exc:
            raise OtlpUnavailableError(
                "--otlp-endpoint needs the OpenTelemetry SDK: " + install_command("otlp")
            ) from exc
        base = endpoint.rstrip("/")
        resource = Resource.create({"service.name": service_name})
        # Providers of our own, never the process-global ones the application may have set.
        self._logs = LoggerProvider(resource=resource)
        self._logs.add_log_record_processor(
            BatchLogRecordProcessor(OTLPLogExporter(endpoint=base + "/v1/logs"))
        )
        self._logger = self._logs.get_logger(_SCOPE)
        reader = PeriodicExportingMetricReader(
            OTLPMetricExporter(endpoint=base + "/v1/metrics"), export_interval_millis=export_interval_s * 1000
        )
        self._meters = MeterProvider(
            resource=resource,
            metric_readers=[reader],
            views=[
                View(
                    instrument_name="gen_ai.client.token.usage",
                    aggregation=ExplicitBucketHistogramAggregation(_TOKEN_BUCKETS),
                ),
                View(
                    instrument_name="gen_ai.client.operation.duration",
                    aggregation=ExplicitBucketHistogramAggregation(_DURATION_BUCKETS_S),
                ),
            ],
        )
        meter = self._meters.get_meter(_SCOPE)
        self._tokens = meter.create_histogram(
            "gen_ai.client.token.usage", unit="{token}", description="Input and output tokens per request."
        )
        self._duration = meter.create_histogram(
            "gen_ai.client.operation.duration",
            unit="s",
            description="Time from the request to the end of the answer.",
        )
        self._requests = meter.create_counter(
            "modelpilot.requests", unit="{request}", description="Finished Messages requests."
        )
        self._cost = meter.create_counter(
            "modelpilot.cost", unit=_MICRODOLLARS, description="Actual cost of what was served."
        )
        self._baseline = meter.create_counter(
            "modelpilot.baseline_cost",
            unit=_MICRODOLLARS,
            description="What the requested model would have cost.",
        )
        self._savings = meter.create_up_down_counter(
            "modelpilot.savings",
            unit=_MICRODOLLARS,
            description="Baseline minus actual cost (negative after escalations).",
        )
        from opentelemetry._logs import SeverityNumber

        self._severity = {False: SeverityNumber.INFO, True: SeverityNumber.WARN}
        self.dropped = 0
        self._queue: queue.Queue[_Item | None] = queue.Queue(maxsize=max_queued)
        self._worker = threading.Thread(target=self._drain, name="modelpilot-otlp", daemon=True)
        self._worker.start()

    def record(self, entry: LogRecord, charge: Charge | None) -> None:
        """Queue one finished request's log record and metrics (never blocks; drops at the bound)."""
        try:
            self._queue.put_nowait((entry, charge))
        except queue.Full:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.warning("the OTLP export queue is full: %d records dropped so far", self.dropped)

    def _drain(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                self._record_now(*item)
            except Exception:
                log.exception("could not record a request for OTLP export")
            finally:
                self._queue.task_done()

    def _record_now(self, entry: LogRecord, charge: Charge | None) -> None:
        self._logger.emit(
            timestamp=int(entry.ts.timestamp() * 1e9),
            severity_number=self._severity[entry.status >= 400],
            severity_text="INFO" if entry.status < 400 else "WARN",
            event_name="modelpilot.request",
            attributes=log_attributes(entry, charge),
        )
        base = _base_attributes(entry)
        self._tokens.record(entry.input_tokens, {**base, "gen_ai.token.type": "input"})
        self._tokens.record(entry.output_tokens, {**base, "gen_ai.token.type": "output"})
        outcome = {**base, "error.type": str(entry.status)} if entry.status >= 400 else base
        self._duration.record(entry.latency_ms / 1000.0, outcome)
        flags = {
            **base,
            "modelpilot.category": entry.category.value,
            "modelpilot.routed": entry.routed,
            "modelpilot.escalated": entry.escalated,
        }
        self._requests.add(1, {**flags, "http.response.status_code": entry.status})
        if charge is not None:
            self._cost.add(charge.actual_micros, flags)
            self._baseline.add(charge.baseline_micros, flags)
            self._savings.add(charge.savings_micros, flags)

    def force_flush(self, timeout_s: float = 10.0) -> bool:
        """Send everything recorded so far now (blocking; call it off the event loop)."""
        self._queue.join()
        millis = int(timeout_s * 1000)
        return bool(self._logs.force_flush(millis)) & bool(self._meters.force_flush(millis))

    def shutdown(self) -> None:
        """Flush and stop the exporters' threads (blocking; call it off the event loop)."""
        if self._worker.is_alive():
            self._queue.put(None)
            self._worker.join()
        try:
            self._logs.shutdown()
            self._meters.shutdown()
        except Exception:
            log.exception("the OTLP exporter did not shut down cleanly")


__all__ = ["OtlpExporter", "OtlpUnavailableError", "log_attributes"]
