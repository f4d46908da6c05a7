"""The flusher: sends the spool's batches (``POST /v1/meter``, and ``POST /v1/logs`` for opt-in
metadata logs) until each is acknowledged.

Outcomes of one delivery:

- 2xx with an :class:`~modelpilot.schema.wire.IngestAck` naming this batch id and its size
  (``accepted`` = the batch's rows or records, or a ``duplicate``: the control plane already
  counted it; for logs also ``accepted=0``, the deployment's logs are off): acknowledged, the
  batch is deleted from the spool. Nothing else deletes a batch: any other 2xx (``{}``, HTML, another
  batch's id, a wrong count) is kept and retried like an outage, and logged once;
- 408, 429, 5xx, unreachable, timeout: the control plane is away; retry the *same* batch with
  exponential backoff and jitter;
- 401, 403: the deployment key was refused; the same, logged as an error (a key fixed later must
  still find everything spooled);
- a 422 naming some of the batch's entries (``$.rows[3].hour``: an hour past the accepted window
  after a long outage, a model the control plane does not know yet): those entries are parked in
  a batch of their own and the others sent at once in a new one (:meth:`Spool.set_aside`);
- any other 4xx: the batch itself was refused (a 422 from the content firewall would be our bug).
  It is parked, logged loudly and kept; parked batches are tried once more at the next start.

Only :class:`~modelpilot.schema.wire.MeterBatch`, :class:`~modelpilot.schema.wire.LogBatch` and
:class:`~modelpilot.schema.wire.TelemetryBatch` documents are ever sent, built through the
pydantic models.

Telemetry (``POST /v1/telemetry``, :class:`TelemetryReporter`) rides on the same loop: every
``telemetry_interval_s`` the decision path's counters of the past window (route calls, cache
hits, fail-open timeouts and errors, circuit-open skips, escalations, the route round trips'
latency histogram) and the spool backlog go
out as one batch. It only informs, so it is not spooled: an unsent window is retried with the
same batch id at the next tick, and counters keep accumulating into the window after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import re
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic import ValidationError

from modelpilot.proxy.control_client import KEY_REFUSED_FIX, ControlPlaneClient, RawJSON
from modelpilot.proxy.decisions import LATENCY_PREFIX
from modelpilot.proxy.errors import ControlPlaneError
from modelpilot.proxy.metrics import ProxyMetrics
from modelpilot.proxy.spool import OutgoingBatch, Spool
from modelpilot.schema.wire import IngestAck, LatencyHistogram, TelemetryBatch, TelemetryCounters

log = logging.getLogger("modelpilot.proxy.flusher")

_RETRYABLE_4XX = frozenset({408, 429})
_KEY_REFUSED = frozenset({401, 403})


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff with full jitter between ``base_s`` and ``cap_s``."""

    base_s: float = 1.0
    cap_s: float = 300.0

    def delay_s(self, failures: int, *, jitter: float) -> float:
        """The wait after ``failures`` consecutive failures (>= 1); ``jitter`` is in [0, 1)."""
        ceiling = min(self.cap_s, self.base_s * 2.0 ** min(failures - 1, 30))
        return ceiling / 2 + ceiling / 2 * jitter  # at least half, so retries never bunch at zero


_WINDOW_MAX_S = 86_400
_HISTOGRAM_PREFIX = "route_latency."


def telemetry_counters(route_counts: Mapping[str, int], *, escalations: int) -> dict[str, int]:
    """The cumulative decision-path counters (``DecisionClient.counts`` names) as telemetry
    counter names; a failure kind other than timeout and an open circuit counts as an error. The
    round-trip latency histogram's buckets come as ``route_latency.<bucket>``."""
    fail_open = {
        name.removeprefix("fail_open:"): n
        for name, n in route_counts.items()
        if name.startswith("fail_open:")
    }
    latency = {
        name.removeprefix(LATENCY_PREFIX): n
        for name, n in route_counts.items()
        if name.startswith(LATENCY_PREFIX)
    }
    return {
        **{_HISTOGRAM_PREFIX + name: latency.get(name, 0) for name in LatencyHistogram.model_fields},
        "route_calls": route_counts.get("calls", 0),
        "route_cache_hits": route_counts.get("cache_hits", 0),
        "fail_open_timeouts": fail_open.get("timeout", 0),
        "fail_open_errors": sum(
            n for kind, n in fail_open.items() if kind not in ("timeout", "circuit_open")
        ),
        "circuit_open_skips": fail_open.get("circuit_open", 0),
        "escalations": escalations,
    }


class TelemetryReporter:
    """Sends one :class:`~modelpilot.schema.wire.TelemetryBatch` per window: the increase of the
    cumulative counters ``read_counters`` returns (see :func:`telemetry_counters`) since the last
    window sent, and the spool backlog at the window's end."""

    def __init__(
        self,
        client: ControlPlaneClient,
        *,
        read_counters: Callable[[], Mapping[str, int]],
        read_backlog_rows: Callable[[], int],
        interval_s: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self._read_counters = read_counters
        self._read_backlog_rows = read_backlog_rows
        self._interval_s = interval_s
        self._clock = clock
        self._window_start = clock()
        self._sent = dict(read_counters())
        self._pending: TelemetryBatch | None = None
        self._pending_counters: dict[str, int] = {}
        self.batches_sent = 0

    def _close_window(self, now: float) -> TelemetryBatch:
        current = dict(self._read_counters())
        delta = {name: max(0, value - self._sent.get(name, 0)) for name, value in current.items()}
        latency = {
            name.removeprefix(_HISTOGRAM_PREFIX): delta.pop(name)
            for name in list(delta)
            if name.startswith(_HISTOGRAM_PREFIX)
        }
        batch = TelemetryBatch(
            batch_id=str(uuid.uuid4()),
            window_start=datetime.fromtimestamp(self._window_start, UTC),
            window_s=min(_WINDOW_MAX_S, max(1, round(now - self._window_start))),
            counters=TelemetryCounters(**delta, spool_backlog_rows=max(0, self._read_backlog_rows())),
            route_latency=LatencyHistogram(**latency),
        )
        self._pending_counters = current
        self._window_start = now
        return batch

    async def report(self) -> bool:
        """Send the pending window, or close and send a new one when the interval has passed.
        False when the control plane was away (the same batch goes at the next call)."""
        now = self._clock()
        if self._pending is None:
            if now - self._window_start < self._interval_s:
                return True
            try:
                self._pending = self._close_window(now)
            except ValidationError:
                log.exception("telemetry counters out of range; this window is skipped")
                return True
        try:
            answer = await self._client.post_json("/v1/telemetry", self._pending.model_dump(mode="json"))
        except ControlPlaneError as exc:
            log.debug("telemetry batch %s not delivered: %s", self._pending.batch_id, exc)
            return False
        status = answer.status
        if not answer.is_success and (status in _RETRYABLE_4XX or status in _KEY_REFUSED or status >= 500):
            return False
        if not answer.is_success:
            log.error(
                "the control plane refused telemetry batch %s (HTTP %s); dropped",
                self._pending.batch_id,
                status,
            )
        else:
            self.batches_sent += 1
        self._pending = None
        self._sent = self._pending_counters
        return True


def is_acknowledgement(outgoing: OutgoingBatch, answer: RawJSON) -> bool:
    """Whether ``answer`` (a 2xx body) acknowledges ``outgoing``: an IngestAck with its batch id
    that counted all of it, or none of it as a duplicate, or (logs only) none of it because the
    deployment's metadata logs are off. Only then may the spool forget the batch."""
    try:
        ack = IngestAck.model_validate(answer)
    except ValidationError:
        return False
    if ack.batch_id != outgoing.batch_id:
        return False
    if ack.duplicate:
        return ack.accepted == 0
    return ack.accepted == outgoing.size or (outgoing.kind == "logs" and ack.accepted == 0)


_ENTRY_PATH = re.compile(r"\$\.(rows|records)\[(\d+)\]")


def refused_entries(outgoing: OutgoingBatch, problem: RawJSON) -> frozenset[int]:
    """The indices of the batch's entries a 422 problem names (``$.rows[3].hour``,
    ``$.records[0].ts``); empty when it names none (the batch as a whole was refused)."""
    errors = problem.get("errors") if isinstance(problem, dict) else None
    if not isinstance(errors, list):
        return frozenset()
    field = "rows" if outgoing.kind == "meter" else "records"
    found: set[int] = set()
    for error in errors:
        path = error.get("path") if isinstance(error, dict) else None
        match = _ENTRY_PATH.match(path) if isinstance(path, str) else None
        if match is None or match.group(1) != field or int(match.group(2)) >= outgoing.size:
            # A problem about something other than one entry: the batch is refused as a whole.
            return frozenset()
        found.add(int(match.group(2)))
    return frozenset(found)


def _parked_reason(status: int, problem: RawJSON) -> str:
    errors = problem.get("errors") if isinstance(problem, dict) else None
    first = errors[0] if isinstance(errors, list) and errors and isinstance(errors[0], dict) else {}
    return f"HTTP {status} ({first.get('reason') or 'refused'})"[:200]


class MeterFlusher:
    """Moves spooled usage to the control plane: :meth:`flush` sends everything it can now,
    :meth:`run` does so every ``interval_s`` (or after a backoff while failing) until stopped.

    >>> flusher = MeterFlusher(spool, client, metrics=metrics, interval_s=10)  # doctest: +SKIP
    >>> task = asyncio.create_task(flusher.run()); ...; await flusher.stop(drain_timeout_s=5)
    """

    def __init__(
        self,
        spool: Spool,
        client: ControlPlaneClient,
        *,
        metrics: ProxyMetrics,
        interval_s: float,
        backoff: Backoff | None = None,
        jitter: Callable[[], float] = random.random,
        telemetry: TelemetryReporter | None = None,
    ) -> None:
        self._spool = spool
        self._client = client
        self._metrics = metrics
        self._interval_s = interval_s
        self._backoff = backoff or Backoff()
        self._jitter = jitter
        self._failures = 0
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._telemetry = telemetry

    @property
    def failures(self) -> int:
        """Consecutive failed deliveries (0 after a success)."""
        return self._failures

    async def flush(self) -> bool:
        """Send batches, metering first, then metadata logs, until the spool is empty (True) or
        a delivery fails (False)."""
        for take in (self._spool.take_batch, self._spool.take_log_batch):
            while (outgoing := take()) is not None:
                if not await self._deliver(outgoing):
                    return False
        return True

    async def _deliver(self, outgoing: OutgoingBatch) -> bool:
        """Send one batch; False when the control plane is away or refuses the key."""
        kind = outgoing.kind
        try:
            answer = await self._client.post_json(outgoing.path, outgoing.batch.model_dump(mode="json"))
        except ControlPlaneError as exc:
            self._failed("unreachable", "%s batch %s not delivered: %s", kind, outgoing.batch_id, exc)
            return False
        if answer.is_success and not is_acknowledgement(outgoing, answer.json):
            self._failed(
                "bad_acknowledgement",
                "the control plane answered %s to %s batch %s without acknowledging it (no IngestAck "
                "naming the batch and its %d entries); the batch is kept and sent again",
                answer.status,
                kind,
                outgoing.batch_id,
                outgoing.size,
            )
            return False
        if answer.is_success:
            self._spool.acknowledge(outgoing.batch_id)
            self._metrics.batches_sent.inc(kind)
            self._failures = 0
            return True
        status = answer.status
        if status in _RETRYABLE_4XX or status >= 500:
            self._failed(
                f"http_{status}", "control plane answered %s to %s batch %s", status, kind, outgoing.batch_id
            )
            return False
        if status in _KEY_REFUSED:
            # Once per run of failures (not on every flush), with the fix.
            (log.error if self._failures == 0 else log.debug)(
                "the control plane refused the deployment key (HTTP %s): metering is held in the spool; %s",
                status,
                KEY_REFUSED_FIX,
            )
            self._failures += 1
            self._metrics.flush_failures.inc(f"http_{status}")
            log.debug("%s batch %s held", kind, outgoing.batch_id)
            return False
        refused = refused_entries(outgoing, answer.json) if status == 422 else frozenset()
        reason = _parked_reason(status, answer.json)
        if refused and self._spool.set_aside(outgoing.batch_id, refused, reason):
            # Some entries are refused (an hour past the accepted window after a long outage, a
            # model the control plane does not know yet): only they wait; the rest go now.
            log.error(
                "the control plane refused %d of the %d entries of %s batch %s (HTTP %s, %s); they are "
                "parked in the spool and retried once at the next start, the others are sent now",
                len(refused),
                outgoing.size,
                kind,
                outgoing.batch_id,
                status,
                reason,
            )
            self._metrics.batches_parked.inc(kind)
            self._metrics.flush_failures.inc(f"http_{status}")
            return True
        # The batch itself is refused: resending it unchanged cannot succeed.
        log.error(
            "the control plane refused %s batch %s (HTTP %s, %s entries); it is parked in the spool "
            "and retried once at the next start",
            kind,
            outgoing.batch_id,
            status,
            outgoing.size,
        )
        self._spool.park(outgoing.batch_id, f"HTTP {status}")
        self._metrics.batches_parked.inc(kind)
        self._metrics.flush_failures.inc(f"http_{status}")
        return True

    def _failed(self, reason: str, message: str, *args: object) -> None:
        self._failures += 1
        self._metrics.flush_failures.inc(reason)
        # Loud on the first failure of a run, quiet while the outage lasts.
        (log.warning if self._failures == 1 else log.debug)(message, *args)

    def next_delay_s(self) -> float:
        """How long to wait before the next flush: the interval, or a backoff while failing."""
        if self._failures == 0:
            return self._interval_s
        return self._backoff.delay_s(self._failures, jitter=self._jitter())

    async def run(self) -> None:
        """Flush now and then every interval (backing off while failing) until :meth:`stop`."""
        unparked = self._spool.unpark_all()
        if unparked:
            log.warning("retrying %d parked meter batches once", unparked)
        while not self._stopping.is_set():
            try:
                await self.flush()
                if self._telemetry is not None:
                    await self._telemetry.report()
            except Exception:
                # A broken spool must not kill metering for the life of the process.
                log.exception("meter flush failed")
                self._failures += 1
                self._metrics.flush_failures.inc("error")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=self.next_delay_s())

    def start(self) -> None:
        """Run :meth:`run` as a task of the current loop."""
        self._task = asyncio.create_task(self.run(), name="modelpilot-meter-flusher")

    async def stop(self, *, drain_timeout_s: float) -> bool:
        """Stop the loop, then send what is spooled within ``drain_timeout_s``. True if the spool
        was emptied; whatever is left is sent at the next start."""
        self._stopping.set()
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.wait([task])  # the task's own cancellation stays inside it
        try:
            drained = await asyncio.wait_for(self.flush(), timeout=drain_timeout_s)
        except TimeoutError:
            drained = False
        if not drained:
            log.warning(
                "%d meter rows are still in the spool; they are sent when the proxy starts again",
                self._spool.rows,
            )
        return drained


__all__ = ["Backoff", "MeterFlusher", "TelemetryReporter", "is_acknowledgement", "telemetry_counters"]
