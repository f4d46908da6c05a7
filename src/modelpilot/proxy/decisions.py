"""Routing decisions from the control plane: ``POST /v1/route``, within a budget, never in the way.

:class:`DecisionClient` asks the control plane which model should serve a request and answers
either a :class:`~modelpilot.schema.wire.RouteDecision` or a
:class:`~modelpilot.proxy.errors.ControlPlaneError` naming why there is none (the caller then
fails open: the request goes upstream exactly as sent). Three things keep the decision path from
costing the caller:

* a **budget** (``routing_budget_ms``): connect, send and read must all fit in it;
* a **circuit breaker**: after ``breaker_failures`` consecutive failures the control plane is
  skipped for ``breaker_cooldown_s``, then one probe is let through (half-open);
* a **decision cache** keyed by requested model and the coarse feature bucket, for the TTL the
  server gave. The bucket is computed locally (:func:`bucket_key`), so a hit needs no round trip.

What is sent is :func:`encode_route_request` of :func:`build_route_request`: numbers, flags, the
category enum and the requested model id, plus, with a local learner, its score and verdict count
(never its example or weights). ``modelpilot inspect`` prints exactly these bytes.
"""

from __future__ import annotations

import asyncio
import logging
import math
import ssl
import time
from collections import Counter, OrderedDict
from collections.abc import Callable
from enum import Enum
from typing import Any, NoReturn

import aiohttp
import orjson
from pydantic import ValidationError

from modelpilot.proxy.errors import ControlPlaneError, UpstreamError, UpstreamTimeoutError
from modelpilot.proxy.features import Features as LocalFeatures
from modelpilot.proxy.features.extract import analyse_request
from modelpilot.proxy.learning import Example, LearnedScore, LocalLearner
from modelpilot.proxy.upstream import UpstreamClient, UpstreamResponse
from modelpilot.schema.catalog import load_catalog
from modelpilot.schema.wire import Category, Features, RouteDecision, RouteRequest, bucket_of

log = logging.getLogger("modelpilot.proxy")

ROUTE_PATH = "/v1/route"
Clock = Callable[[], float]

_MAX_DECISION_BYTES = 64 * 1024
# Limits of the wire schema (schema/wire.py): a huge request still gets a valid RouteRequest.
_MAX_TOKENS = 100_000_000
_MAX_COUNT = 10_000_000
_MAX_VERDICTS = 1_000_000


# -- what is sent ---------------------------------------------------------------------------------
def wire_features(local: LocalFeatures, learned: LearnedScore | None = None) -> Features:
    """The wire :class:`Features` of locally extracted features: the shared fields only, clamped
    to the schema's ranges (extra local fields, like the system prompt's size, stay local), and
    the local learner's score (a probability and a count: nothing of the example or weights)."""

    def tokens(value: int) -> int:
        return min(max(value, 0), _MAX_TOKENS)

    def count(value: int) -> int:
        return min(max(value, 0), _MAX_COUNT)

    difficulty = local.difficulty if math.isfinite(local.difficulty) else 0.0
    acceptable = learned.acceptable if learned is not None else None
    if acceptable is not None and not math.isfinite(acceptable):
        acceptable = None
    return Features(
        input_tokens_estimate=tokens(local.input_tokens_estimate),
        max_tokens=tokens(local.max_tokens),
        message_count=count(local.message_count),
        turn_count=count(local.turn_count),
        tool_count=count(local.tool_count),
        image_count=count(local.image_count),
        document_count=count(local.document_count),
        has_tools=local.has_tools,
        tool_choice_forced=local.tool_choice_forced,
        thinking=local.thinking,
        has_response_schema=local.has_response_schema,
        streaming=local.streaming,
        cache_control=local.cache_control,
        has_code=local.has_code,
        has_math=local.has_math,
        difficulty=min(max(difficulty, 0.0), 1.0),
        learned_acceptable=min(max(acceptable, 0.0), 1.0) if acceptable is not None else None,
        learned_verdicts=min(max(learned.verdicts, 0), _MAX_VERDICTS) if learned is not None else 0,
    )


def build_route_request(document: dict[str, Any], learner: LocalLearner | None = None) -> RouteRequest | None:
    """The :class:`RouteRequest` for a Messages request body, or None when it cannot be routed
    (no model, a model outside the catalog, or a model id the wire schema refuses: such requests
    pass through unrouted, and nothing of them is sent).
    With a ``learner``, its score for the request goes into the features."""
    built = route_request_and_example(document, learner)
    return built[0] if built is not None else None


def route_request_and_example(
    document: dict[str, Any], learner: LocalLearner | None = None
) -> tuple[RouteRequest, Example | None] | None:
    """:func:`build_route_request` and the learner's :class:`Example` of the request (None
    without a learner), from one walk of the body. The example stays in this process."""
    model = document.get("model")
    # A model outside the catalog cannot be routed (DESIGN.md §3) and its name could be anything
    # the caller typed: it is not even asked about.
    if not isinstance(model, str) or model not in load_catalog():
        return None
    example: Example | None = None
    learned: LearnedScore | None = None
    if learner is not None:
        analysis, example = learner.analyse(document)
        local = analysis.features
        learned = learner.predict(example, model)
    else:
        local = analyse_request(document).features
    features = wire_features(local, learned)
    try:
        request = RouteRequest(
            requested_model=model,
            category=local.category,
            features=features,
            # Zero-based: how many user turns came before this one.
            conversation_turn=max(features.turn_count - 1, 0),
        )
    except ValidationError:
        return None
    return request, example


def encode_route_request(request: RouteRequest) -> bytes:
    """The exact body of ``POST /v1/route`` for ``request``."""
    return orjson.dumps(request.model_dump(mode="json"))


def bucket_key(request: RouteRequest) -> str:
    """The coarse feature bucket of ``request``, computed as the control plane computes it."""
    return bucket_of(request)


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
def _failure_reason(error: UpstreamError) -> str:
    """The failure kind of a transport error (the aiohttp cause is kept by ``upstream.py``)."""
    if isinstance(error, UpstreamTimeoutError):
        return "timeout"
    cause = error.__cause__
    if isinstance(cause, aiohttp.ClientSSLError | ssl.SSLError):
        return "tls"
    if isinstance(cause, aiohttp.ClientConnectorError | ConnectionRefusedError):
        return "refused"
    return "unavailable"


class DecisionClient:
    """Asks the control plane for decisions; see the module docstring for budget, breaker, cache.

    ``transport`` is an :class:`~modelpilot.proxy.upstream.UpstreamClient` toward the control
    plane (the production one is an ``AiohttpUpstream`` on ``control_plane_url``). ``counts``
    holds ``calls`` (round trips started), ``cache_hits``, ``decisions`` and one
    ``fail_open:<reason>`` per failure kind.

    >>> client = DecisionClient(transport, api_key="mp_live_...", budget_ms=25)  # doctest: +SKIP
    >>> decision = await client.decide(route_request)  # raises ControlPlaneError  # doctest: +SKIP
    """

    def __init__(
        self,
        transport: UpstreamClient,
        *,
        api_key: str,
        budget_ms: float = 25.0,
        breaker_failures: int = 5,
        breaker_cooldown_s: float = 30.0,
        cache_size: int = 4096,
        clock: Clock = time.monotonic,
    ) -> None:
        self._transport = transport
        self._headers = [("content-type", "application/json"), ("authorization", f"Bearer {api_key}")]
        self._budget_s = budget_ms / 1000.0
        self.breaker = CircuitBreaker(threshold=breaker_failures, cooldown_s=breaker_cooldown_s, clock=clock)
        self.cache = DecisionCache(max_entries=cache_size, clock=clock)
        self.counts: Counter[str] = Counter()

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
        try:
            decision = await self._ask(encode_route_request(request))
        except ControlPlaneError as exc:
            self.breaker.record_failure()
            self._fail(exc)
        self.breaker.record_success()
        self.counts["decisions"] += 1
        if decision.bucket != bucket_key(request):
            self.counts["bucket_mismatch"] += 1
        self.cache.put(request.requested_model, decision)
        return decision

    def _fail(self, error: ControlPlaneError) -> NoReturn:
        self.counts[f"fail_open:{error.reason}"] += 1
        raise error

    async def _ask(self, body: bytes) -> RouteDecision:
        headers = [*self._headers, ("content-length", str(len(body)))]
        response: UpstreamResponse | None = None
        raw: bytes | None = None
        is_read = False
        try:
            async with asyncio.timeout(self._budget_s):
                response = await self._transport.send("POST", ROUTE_PATH, headers, body)
                raw = await _read_bounded(response)
                is_read = raw is not None
        except TimeoutError as exc:
            raise ControlPlaneError("timeout", "no decision within the routing budget") from exc
        except UpstreamError as exc:
            raise ControlPlaneError(_failure_reason(exc), f"the control plane failed: {exc}") from exc
        finally:
            if response is not None:
                # Keep the connection for the next decision only when the answer was read whole.
                if is_read:
                    response.release()
                else:
                    response.close()
        status = response.status
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
        headers = [*self._headers, ("content-length", str(len(body)))]
        response: UpstreamResponse | None = None
        try:
            async with asyncio.timeout(timeout_s):
                response = await self._transport.send("POST", ROUTE_PATH, headers, body)
                async for _ in response.iter_chunks():
                    pass
                response.release()
                if response.status in (401, 403):
                    log.warning(
                        "the control plane refused this proxy's API key (HTTP %d): requests fail "
                        "open (unrouted) until it is valid",
                        response.status,
                    )
                response = None
        except (TimeoutError, UpstreamError) as exc:
            log.warning("the control plane is not reachable yet (%s); requests fail open until it is", exc)
        finally:
            if response is not None:
                response.close()

    async def aclose(self) -> None:
        """Close the transport (its connection pool)."""
        await self._transport.aclose()


async def _read_bounded(response: UpstreamResponse) -> bytes | None:
    parts: list[bytes] = []
    size = 0
    async for chunk in response.iter_chunks():
        size += len(chunk)
        if size > _MAX_DECISION_BYTES:
            return None
        parts.append(chunk)
    return b"".join(parts)


__all__ = [
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
