"""Prometheus metrics for the proxy's ``GET /metrics``, in the text exposition format 0.0.4.

Written out by hand (a few dozen lines) rather than pulling ``prometheus_client`` into the base
install. Labels are low-cardinality by construction: status classes, a stream flag, a closed set
of reasons, and model ids folded onto the catalog (anything else is ``other``), so a caller
sending arbitrary model strings cannot grow the series.

Savings may be negative (an escalation pays twice), so they are not a counter: the proxy exports
``cost`` and ``baseline`` counters (savings = baseline - cost in PromQL) and a running net
``savings`` gauge.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from modelpilot.proxy.accounting import Charge
from modelpilot.proxy.recording import RequestRecord
from modelpilot.proxy.spool import Backlog
from modelpilot.schema.catalog import Catalog

CONTENT_TYPE = b"text/plain; version=0.0.4; charset=utf-8"

_LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
# The failure kinds of proxy/decisions.py; anything new is folded into "other".
_FAIL_OPEN_REASONS = frozenset(
    {"timeout", "tls", "refused", "unavailable", "circuit_open", "invalid_body", "status_4xx", "status_5xx"}
)
_UNKNOWN = "other"


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(names: Sequence[str], values: Sequence[str]) -> str:
    if not names:
        return ""
    return "{" + ",".join(f'{n}="{_escape(v)}"' for n, v in zip(names, values, strict=True)) + "}"


class _Metric:
    kind = "untyped"

    def __init__(self, name: str, help_text: str, labelnames: Sequence[str] = ()) -> None:
        self.name = name
        self.help_text = help_text
        self.labelnames = tuple(labelnames)

    def samples(self) -> list[str]:
        raise NotImplementedError

    def render(self) -> str:
        head = f"# HELP {self.name} {self.help_text}\n# TYPE {self.name} {self.kind}\n"
        return head + "".join(line + "\n" for line in self.samples())


class Counter(_Metric):
    """A monotonically increasing value per label set."""

    kind = "counter"

    def __init__(self, name: str, help_text: str, labelnames: Sequence[str] = ()) -> None:
        super().__init__(name, help_text, labelnames)
        self._values: dict[tuple[str, ...], float] = {} if labelnames else {(): 0}

    def inc(self, *labels: str, amount: float = 1) -> None:
        if amount < 0:
            raise ValueError("counters only go up")
        self._values[labels] = self._values.get(labels, 0) + amount

    def value(self, *labels: str) -> float:
        return self._values.get(labels, 0)

    def samples(self) -> list[str]:
        return [
            f"{self.name}{_labels(self.labelnames, key)} {_number(value)}"
            for key, value in sorted(self._values.items())
        ]


class Gauge(_Metric):
    """A value that goes up and down, set directly or read from ``read`` at scrape time."""

    kind = "gauge"

    def __init__(self, name: str, help_text: str, read: Callable[[], float] | None = None) -> None:
        super().__init__(name, help_text)
        self._read = read
        self.current: float = 0

    def add(self, amount: float) -> None:
        self.current += amount

    def samples(self) -> list[str]:
        value = self._read() if self._read is not None else self.current
        return [f"{self.name} {_number(value)}"]


class Histogram(_Metric):
    """Counts of observations by upper bound, with their sum and count, per label set."""

    kind = "histogram"

    def __init__(
        self, name: str, help_text: str, buckets: Sequence[float], labelnames: Sequence[str] = ()
    ) -> None:
        super().__init__(name, help_text, labelnames)
        self._bounds = (*sorted(buckets), math.inf)
        self._series: dict[tuple[str, ...], tuple[list[int], list[float]]] = {}

    def observe(self, value: float, *labels: str) -> None:
        counts, total = self._series.setdefault(labels, ([0] * len(self._bounds), [0.0]))
        for index, bound in enumerate(self._bounds):
            if value <= bound:
                counts[index] += 1
                break
        total[0] += value

    def samples(self) -> list[str]:
        lines = []
        for key, (counts, total) in sorted(self._series.items()):
            cumulative = 0
            for bound, count in zip(self._bounds, counts, strict=True):
                cumulative += count
                labels = _labels((*self.labelnames, "le"), (*key, _number(bound)))
                lines.append(f"{self.name}_bucket{labels} {cumulative}")
            lines.append(f"{self.name}_sum{_labels(self.labelnames, key)} {_number(total[0])}")
            lines.append(f"{self.name}_count{_labels(self.labelnames, key)} {cumulative}")
        return lines


def _status_class(status: int) -> str:
    return f"{status // 100}xx" if 100 <= status <= 599 else "none"


class ProxyMetrics:
    """Every metric the proxy exports. Fed by the app (one call per request), the flusher and,
    later, routing (``fail_open``); rendered by :meth:`render` for ``GET /metrics``.

    >>> metrics = ProxyMetrics(load_catalog())  # doctest: +SKIP
    >>> metrics.observe(record, charge); metrics.render()
    """

    def __init__(self, catalog: Catalog, *, backlog: Callable[[], Backlog] | None = None) -> None:
        self._catalog = catalog
        self._backlog = backlog
        p = "modelpilot_"
        self.requests = Counter(
            p + "requests_total",
            "Proxied API requests by status class and stream flag.",
            ("status_class", "stream"),
        )
        self.routed = Counter(
            p + "routed_requests_total", "Requests served by a model other than the requested one."
        )
        self.escalated = Counter(
            p + "escalated_requests_total", "Routed requests resent to the requested model."
        )
        self.fail_open = Counter(
            p + "fail_open_total",
            "Requests sent unrouted because no routing decision came in time.",
            ("reason",),
        )
        self.upstream_errors = Counter(
            p + "upstream_errors_total",
            "Answers that were upstream failures: 429, 5xx, unreachable, or an error event in a stream.",
            ("status_class",),
        )
        self.cost = Counter(
            p + "cost_micros_total",
            "Actual cost of what was served, micro-dollars.",
            ("requested_model", "served_model"),
        )
        self.baseline = Counter(
            p + "baseline_cost_micros_total",
            "What the requested model would have cost for the same usage, micro-dollars.",
            ("requested_model", "served_model"),
        )
        self.savings = Gauge(
            p + "savings_micros", "Net savings (baseline - cost) since the proxy started, micro-dollars."
        )
        self.unpriced = Counter(
            p + "unpriced_requests_total", "Metered requests on a model without a known price."
        )
        self.unmetered = Counter(
            p + "unmetered_requests_total",
            "Requests with usage that could not be metered (model id not catalog-shaped).",
        )
        self.latency = Histogram(
            p + "request_duration_seconds",
            "Time from the request to the end of the answer.",
            _LATENCY_BUCKETS_S,
            ("stream",),
        )
        self.ttfb = Histogram(
            p + "time_to_first_byte_seconds",
            "Time from the request to the first answer byte.",
            _LATENCY_BUCKETS_S,
            ("stream",),
        )
        self.spool_errors = Counter(
            p + "spool_errors_total", "Requests that could not be written to the meter spool."
        )
        self.spool_refused = Counter(
            p + "spool_refused_requests_total",
            "Requests not metered because the spool was at spool_max_rows.",
        )
        self.spool_refused_logs = Counter(
            p + "spool_refused_log_records_total",
            "Opt-in metadata log records dropped because the spool held spool_max_rows of them.",
        )
        self.batches_sent = Counter(
            p + "batches_sent_total",
            "Batches the control plane acknowledged, by kind (meter, logs).",
            ("kind",),
        )
        self.flush_failures = Counter(
            p + "flush_failures_total",
            "Failed batch deliveries to the control plane, by reason.",
            ("reason",),
        )
        self.batches_parked = Counter(
            p + "batches_parked_total",
            "Batches the control plane refused (kept, not resent), by kind.",
            ("kind",),
        )
        self.calibration_checks = Counter(
            p + "calibration_checks_total",
            "Paired checks started (the candidate asked after the caller's answer).",
        )
        self.calibration_verdicts = Counter(
            p + "calibration_verdicts_total",
            "Paired-check verdicts by what decided them (exact, check, judge, evaluator) and outcome.",
            ("source", "acceptable"),
        )
        self.calibration_failures = Counter(
            p + "calibration_failures_total",
            "Paired checks that ended without a verdict (candidate or judge error, timeout, ...).",
            ("reason",),
        )
        self.calibration_skipped = Counter(
            p + "calibration_skipped_total",
            "Sampled requests not checked (daily_cap, unbounded_cost, answer_incomplete, reference_failed).",
            ("reason",),
        )
        self.calibration_spend = Counter(
            p + "calibration_cost_micros_total", "What paired checks cost, micro-dollars (apart from cost)."
        )
        self.calibration_in_flight = Gauge(
            p + "calibration_checks_in_flight",
            "Paired checks started and not yet settled (their verdicts are not in the spool yet).",
        )
        self.log_backlog = Gauge(
            p + "spool_log_records", "Opt-in metadata log records waiting in the spool.", self._logs_waiting
        )
        self._gauges = [
            Gauge(
                p + "spool_backlog_rows",
                "Meter rows waiting in the spool (pending and batched).",
                self._rows_waiting,
            ),
            Gauge(
                p + "spool_parked_rows", "Meter rows in batches the control plane refused.", self._rows_parked
            ),
            Gauge(
                p + "spool_rejected_rows",
                "Meter rows set aside because the wire schema refuses them.",
                self._rows_rejected,
            ),
        ]

    def backlog_rows(self) -> float:
        """Meter rows waiting in the spool (pending and batched); 0 without a spool."""
        return self._rows_waiting()

    def _rows_waiting(self) -> float:
        backlog = self._backlog() if self._backlog is not None else None
        return 0 if backlog is None else backlog.pending_rows + backlog.batched_rows

    def _rows_parked(self) -> float:
        backlog = self._backlog() if self._backlog is not None else None
        return 0 if backlog is None else backlog.parked_rows

    def _logs_waiting(self) -> float:
        backlog = self._backlog() if self._backlog is not None else None
        return 0 if backlog is None else backlog.log_records

    def _rows_rejected(self) -> float:
        backlog = self._backlog() if self._backlog is not None else None
        return 0 if backlog is None else backlog.rejected_rows

    def _model(self, model_id: str | None) -> str:
        spec = self._catalog.get(model_id) if model_id is not None else None
        return spec.id if spec is not None else _UNKNOWN

    def observe(self, record: RequestRecord, charge: Charge | None) -> None:
        """Count one finished request and, if it was metered, its charge."""
        stream = "true" if record.is_stream else "false"
        self.requests.inc(_status_class(record.status), stream)
        self.latency.observe(record.latency_ms / 1000.0, stream)
        if record.ttfb_ms is not None:
            self.ttfb.observe(record.ttfb_ms / 1000.0, stream)
        if record.routed:
            self.routed.inc()
        if record.escalated:
            self.escalated.inc()
        if record.fail_open_reason is not None:
            self.record_fail_open(record.fail_open_reason)
        if (
            record.status == 429
            or record.status >= 500
            or (record.status == 200 and record.error_type is not None)
        ):
            self.upstream_errors.inc(_status_class(record.status))
        if charge is None:
            if record.usage is not None and record.path == "/v1/messages":
                self.unmetered.inc()
            return
        models = (self._model(charge.requested_model), self._model(charge.served_model))
        self.cost.inc(*models, amount=charge.actual_micros)
        self.baseline.inc(*models, amount=charge.baseline_micros)
        self.savings.add(charge.savings_micros)
        if charge.is_unpriced:
            self.unpriced.inc()

    def record_fail_open(self, reason: str) -> None:
        """Count a request sent unrouted for want of a decision, by failure kind."""
        self.fail_open.inc(reason if reason in _FAIL_OPEN_REASONS else _UNKNOWN)

    def render(self) -> bytes:
        metrics: list[_Metric] = [
            self.requests,
            self.routed,
            self.escalated,
            self.fail_open,
            self.upstream_errors,
            self.cost,
            self.baseline,
            self.savings,
            self.unpriced,
            self.unmetered,
            self.latency,
            self.ttfb,
            self.spool_errors,
            self.spool_refused,
            self.spool_refused_logs,
            self.log_backlog,
            self.batches_sent,
            self.flush_failures,
            self.batches_parked,
            self.calibration_checks,
            self.calibration_verdicts,
            self.calibration_failures,
            self.calibration_skipped,
            self.calibration_spend,
            self.calibration_in_flight,
            *self._gauges,
        ]
        return "".join(metric.render() for metric in metrics).encode()


__all__ = ["CONTENT_TYPE", "Counter", "Gauge", "Histogram", "ProxyMetrics"]
