"""The flusher: sends the spool's batches (``POST /v1/meter``, and ``POST /v1/logs`` for opt-in
metadata logs) until each is acknowledged.

Outcomes of one delivery:

- 2xx: acknowledged (a ``duplicate`` answer too: the control plane already counted the batch);
- 408, 429, 5xx, unreachable, timeout: the control plane is away; retry the *same* batch with
  exponential backoff and jitter;
- 401, 403: the deployment key was refused; the same, logged as an error (a key fixed later must
  still find everything spooled);
- any other 4xx: the batch itself was refused (a 422 from the content firewall would be our bug).
  It is parked, logged loudly and kept; parked batches are tried once more at the next start.

Only :class:`~modelpilot.schema.wire.MeterBatch` and :class:`~modelpilot.schema.wire.LogBatch`
documents are ever sent, built through the pydantic models.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass

from modelpilot.proxy.control_client import ControlPlaneClient, ControlPlaneUnavailableError
from modelpilot.proxy.metrics import ProxyMetrics
from modelpilot.proxy.spool import OutgoingBatch, Spool

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
        except ControlPlaneUnavailableError as exc:
            self._failed("unreachable", "%s batch %s not delivered: %s", kind, outgoing.batch_id, exc)
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
            log.error(
                "the control plane refused the deployment key (HTTP %s); batches are held in the spool",
                status,
            )
            self._failed(f"http_{status}", "%s batch %s held", kind, outgoing.batch_id)
            return False
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


__all__ = ["Backoff", "MeterFlusher"]
