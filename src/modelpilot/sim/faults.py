"""Fault injection: a small grammar for errors, slowness and broken streams, per request.

Header ``x-sim-fault`` (or a queued fault, see :class:`FaultQueue`) holds ``;``-separated
``key=value`` pairs::

    status=529;retry_after_ms=10;should_retry=true;attempts=2;model=claude-haiku-4-5
    midstream_error=overloaded_error;after_events=3
    disconnect_after_events=4
    delay_ms=250

``status``                  answer with this HTTP error before any byte of the stream
``retry_after_ms``          send ``retry-after-ms`` (and ``retry-after`` in seconds) with it
``should_retry``            send ``x-should-retry: true|false``
``attempts=N``              only while ``x-stainless-retry-count`` < N (SDK retries then succeed)
``model=ID``                only when the request's model is ID
``midstream_error=TYPE``    streams: ``event: error`` of that type after ``after_events`` (default 3)
                            events, then a clean end; ignored without streaming
``disconnect_after_events`` streams: close the connection after K events, no message_stop;
                            non-streaming: send headers, then close without the body
``delay_ms``                extra latency before answering

Every SSE event counts towards K, the ``ping`` included. Faults apply to ``POST /v1/messages`` only,
after the body validated (an invalid request still gets its 400/404).

Header ``x-sim-latency: ttft_ms=..;token_ms=..`` overrides the pacing of one request.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from modelpilot.sim.errors import InvalidRequestError


@dataclass(frozen=True, slots=True)
class Fault:
    """A parsed ``x-sim-fault`` value."""

    status: int | None = None
    retry_after_ms: float | None = None
    should_retry: bool | None = None
    attempts: int | None = None
    model: str | None = None
    midstream_error: str | None = None
    after_events: int = 3
    disconnect_after_events: int | None = None
    delay_ms: float = 0

    def applies_to(self, model: str, retry_count: int) -> bool:
        """Whether this fault hits a request for ``model`` on its ``retry_count``-th retry."""
        if self.model is not None and self.model != model:
            return False
        return self.attempts is None or retry_count < self.attempts


_CONVERTERS: dict[str, Any] = {
    "status": int,
    "retry_after_ms": float,
    "attempts": int,
    "model": str,
    "midstream_error": str,
    "after_events": int,
    "disconnect_after_events": int,
    "delay_ms": float,
}


def _pairs(value: str, header: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in value.split(";"):
        part = part.strip()
        if not part:
            continue
        key, sep, raw = part.partition("=")
        if not sep:
            raise InvalidRequestError(f"{header}: expected key=value, got {part!r}")
        out[key.strip()] = raw.strip()
    return out


def parse_fault(value: str) -> Fault:
    """Parse the fault grammar; a 400 ``invalid_request_error`` names the bad part."""
    known = {f.name for f in fields(Fault)}
    kwargs: dict[str, Any] = {}
    for key, raw in _pairs(value, "x-sim-fault").items():
        if key not in known:
            raise InvalidRequestError(f"x-sim-fault: unknown key {key!r}")
        if key == "should_retry":
            if raw not in ("true", "false"):
                raise InvalidRequestError("x-sim-fault: should_retry must be true or false")
            kwargs[key] = raw == "true"
            continue
        try:
            kwargs[key] = _CONVERTERS[key](raw)
        except ValueError as exc:
            raise InvalidRequestError(f"x-sim-fault: bad value for {key}: {raw!r}") from exc
    fault = Fault(**kwargs)
    if fault.status is not None and not 400 <= fault.status <= 599:
        raise InvalidRequestError("x-sim-fault: status must be an HTTP error status (400-599)")
    return fault


def parse_latency(value: str, *, ttft_ms: float, token_ms: float) -> tuple[float, float]:
    """Apply an ``x-sim-latency`` header to the default ``(ttft_ms, token_ms)``."""
    pairs = _pairs(value, "x-sim-latency")
    try:
        ttft_ms = float(pairs.pop("ttft_ms", ttft_ms))
        token_ms = float(pairs.pop("token_ms", token_ms))
    except ValueError as exc:
        raise InvalidRequestError("x-sim-latency: values must be numbers") from exc
    if pairs:
        raise InvalidRequestError(f"x-sim-latency: unknown key {next(iter(pairs))!r}")
    return ttft_ms, token_ms


class FaultQueue:
    """Faults queued through ``POST /_sim/faults`` for the next N matching requests."""

    def __init__(self) -> None:
        self._pending: list[list[Any]] = []  # [fault, remaining count]

    def add(self, fault: Fault, count: int) -> None:
        if count > 0:
            self._pending.append([fault, count])

    def clear(self) -> None:
        self._pending.clear()

    def take(self, model: str, retry_count: int) -> Fault | None:
        """The first queued fault that applies to this request, counting it as used."""
        for entry in self._pending:
            fault: Fault = entry[0]
            if fault.applies_to(model, retry_count):
                entry[1] -= 1
                if entry[1] <= 0:
                    self._pending.remove(entry)
                return fault
        return None
