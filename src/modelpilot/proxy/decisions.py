"""Routing decisions from the control plane: ``POST /v1/route``, within a budget, never in the way.

:class:`DecisionClient` asks the control plane (through the one
:class:`~modelpilot.proxy.control_client.ControlPlaneClient`, on its decisions pool) which model
should serve a request and answers either a :class:`~modelpilot.schema.wire.RouteDecision` or a
:class:`~modelpilot.proxy.errors.ControlPlaneError` naming why there is none (the caller then
fails open: the request goes upstream exactly as sent). Three things keep the decision path from
costing the caller:

* a **budget** (``routing_budget_ms``): connect, send and read must all fit in it;
* a **circuit breaker**: after ``breaker_failures`` consecutive failures the control plane is
  skipped for ``breaker_cooldown_s``, then one probe is let through (half-open);
* a **decision cache** keyed by requested model and the coarse feature bucket, for the TTL the
  server gave. The bucket is computed locally (:func:`bucket_key`), so a hit needs no round trip.

What is sent is built in :mod:`modelpilot.proxy.features.wire_request` (the privacy boundary);
its functions are re-exported here for the callers that ask for decisions.
"""

from __future__ import annotations

import logging
import time
from collections import Counter, OrderedDict
from collections.abc import Callable
from enum import Enum
from typing import NoReturn

from pydantic import ValidationError

from modelpilot.proxy.control_client import KEY_REFUSED_FIX, ControlPlaneClient
from modelpilot.proxy.errors import ControlPlaneError
from modelpilot.proxy.features.wire_request import (
    ROUTE_PATH,
    bucket_key,
    build_route_request,
    encode_route_request,
    route_request_and_example,
    wire_features,
)
from modelpilot.schema.wire import Category, Features, RouteDecision, RouteRequest, latency_bucket

log = logging.getLogger("modelpilot.proxy")

Clock = Callable[[], float]

_MAX_DECISION_BYTES = 64 * 1024
#: ``DecisionClient.counts`` names of the round-trip latency histogram: this + a bucket name.
LATENCY_PREFIX = "latency:"


# -- the circuit breaker --------------------------------------------------------------------------
#: The question :meth:`DecisionClient.warm` asks: no features at all, so nothing of any request.
_WARM_UP_REQUEST = RouteRequest(
    requested_model="claude-haiku-4-5", category=Category.OTHER, features=Features()
)


class BreakerState(Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """Closed → (``threshold`` consecutive failures) → open → (``cooldown_s`` later) half-open:
    one probe goes through; its success closes the circuit, its failure opens it again.

    >>> now = [0.0]
    >>> breaker = CircuitBreaker(threshold=1, cooldown_s=10, clock=lambda: now[0])
    >>> breaker.record_failure(); breaker.allows_call()
    False
    >>> now[0] = 10.0; breaker.allows_call(), breaker.allows_call()
    (True, False)
    """

    def __init__(self, *, threshold: int, cooldown_s: float, clock: Clock = time.monotonic) -> None:
        self._threshold = threshold
        self._cooldown_s = cooldown_s
        self._clock = clock
        self.state = BreakerState.CLOSED
        self.failures = 0
        self._opened_at = 0.0
        self._probing = False

    def allows_call(self) -> bool:
        """Whether a call may go out now (in half-open state: only the one probe)."""
        if self.state is BreakerState.CLOSED:
            return True
        if self.state is BreakerState.OPEN:
            if self._clock() - self._opened_at < self._cooldown_s:
                return False
            self.state = BreakerState.HALF_OPEN
            self._probing = False
        if self._probing:
            return False
        self._probing = True
        return True

    def record_success(self) -> None:
        self.state = BreakerState.CLOSED
        self.failures = 0
        self._probing = False

    def record_failure(self) -> None:
        self.failures += 1
        if self.state is BreakerState.HALF_OPEN or self.failures >= self._threshold:
            self.state = BreakerState.OPEN
            self._opened_at = self._clock()
            self._probing = False


# -- the decision cache ---------------------------------------------------------------------------
class DecisionCache:
    """Decisions by ``(requested model, bucket)`` until their TTL runs out; the oldest entry
    goes first when ``max_entries`` is reached. A TTL of 0 means "do not cache"."""

    def __init__(self, *, max_entries: int, clock: Clock = time.monotonic) -> None:
        self._max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[tuple[str, str], tuple[float, RouteDecision]] = OrderedDict()

    def get(self, requested_model: str, bucket: str) -> RouteDecision | None:
        key = (requested_model, bucket)
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires_at, decision = entry
        if self._clock() >= expires_at:
            del self._entries[key]
            return None
        return decision

    def put(self, requested_model: str, decision: RouteDecision) -> None:
        if decision.ttl_s <= 0:
            return
        key = (requested_model, decision.bucket)
        self._entries.pop(key, None)
        self._entries[key] = (self._clock() + decision.ttl_s, decision)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        """Forget every decision (the deployment's settings changed: proxy/config_watch.py)."""
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


# -- the client -----------------------------------------------------------------------------------
class DecisionClient:
    """Asks the control plane for decisions; see the module docstring for budget, breaker, cache.

    ``control`` is the proxy's :class:`ControlPlaneClient` (decisions use its own pool).
    ``counts`` holds ``calls`` (round trips started), ``cache_hits``, ``decisions``, one
    ``fail_open:<reason>`` per failure kind and, per finished round trip (answered or not), one
    ``latency:<bucket>`` (a :class:`~modelpilot.schema.wire.LatencyHistogram` field) for the
    console's decision-latency chart.

    >>> client = DecisionClient(control, budget_ms=25)  # doctest: +SKIP
    >>> decision = await client.decide(route_request)  # raises ControlPlaneError  # doctest: +SKIP
    """

    def __init__(
        self,
        control: ControlPlaneClient,
        *,
        budget_ms: float = 25.0,
        breaker_failures: int = 5,
        breaker_cooldown_s: float = 30.0,
        cache_size: int = 4096,
        clock: Clock = time.monotonic,
    ) -> None:
        self._control = control
        self._budget_s = budget_ms / 1000.0
        self.breaker = CircuitBreaker(threshold=breaker_failures, cooldown_s=breaker_cooldown_s, clock=clock)
        self.cache = DecisionCache(max_entries=cache_size, clock=clock)
        self.counts: Counter[str] = Counter()
        self._clock = clock

    async def decide(self, request: RouteRequest) -> RouteDecision:
        """The decision for ``request``, from the cache or the control plane.

        Raises :class:`ControlPlaneError` (counted) when there is none within the budget.
        """
        cached = self.cache.get(request.requested_model, bucket_key(request))
        if cached is not None:
            self.counts["cache_hits"] += 1
            return cached
        if not self.breaker.allows_call():
            self._fail(ControlPlaneError("circuit_open", "the control plane circuit is open"))
        self.counts["calls"] += 1
        started = self._clock()
        try:
            decision = await self._ask(encode_route_request(request))
        except ControlPlaneError as exc:
            self._time(started)
            self.breaker.record_failure()
            self._fail(exc)
        self._time(started)
        self.breaker.record_success()
        self.counts["decisions"] += 1
        if decision.bucket != bucket_key(request):
            self.counts["bucket_mismatch"] += 1
        self.cache.put(request.requested_model, decision)
        return decision

    def _time(self, started: float) -> None:
        self.counts[LATENCY_PREFIX + latency_bucket((self._clock() - started) * 1000.0)] += 1

    def _fail(self, error: ControlPlaneError) -> NoReturn:
        self.counts[f"fail_open:{error.reason}"] += 1
        raise error

    async def _ask(self, body: bytes) -> RouteDecision:
        status, raw = await self._control.ask(
            ROUTE_PATH, body, budget_s=self._budget_s, max_bytes=_MAX_DECISION_BYTES
        )
        if status != 200:
            kind = f"status_{status // 100}xx"
            raise ControlPlaneError(kind, f"the control plane answered HTTP {status}")
        if raw is None:
            raise ControlPlaneError("invalid_body", "the decision is too large")
        try:
            return RouteDecision.model_validate_json(raw)
        except ValidationError as exc:
            raise ControlPlaneError("invalid_body", "the control plane's answer is not a decision") from exc

    async def warm(self, *, timeout_s: float = 2.0) -> None:
        """Open a pooled connection and ask one throwaway question (a minimal ``/v1/route`` with
        no features), so that the first real decision pays neither the TCP and TLS handshakes
        nor the control plane's own cold start inside its budget. Failures are only logged: the
        breaker and fail-open handle an absent control plane when requests come."""
        body = encode_route_request(_WARM_UP_REQUEST)
        try:
            status, _ = await self._control.ask(
                ROUTE_PATH, body, budget_s=timeout_s, max_bytes=_MAX_DECISION_BYTES
            )
        except ControlPlaneError as exc:
            log.warning("the control plane is not reachable yet (%s); requests fail open until it is", exc)
            return
        if status in (401, 403):
            log.warning(
                "the control plane refused this proxy's API key (HTTP %d): requests fail open "
                "(unrouted) until it is valid; %s",
                status,
                KEY_REFUSED_FIX,
            )

    async def aclose(self) -> None:
        """Close the control-plane client (both its pools; safe if its owner closes it too)."""
        await self._control.aclose()


__all__ = [
    "ROUTE_PATH",
    "BreakerState",
    "CircuitBreaker",
    "DecisionCache",
    "DecisionClient",
    "bucket_key",
    "build_route_request",
    "encode_route_request",
    "route_request_and_example",
    "wire_features",
]
