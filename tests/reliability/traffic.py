"""Closed-loop traffic through the proxy with the official SDK, from a few threads, keeping what
each completed request cost (from the usage the caller saw) and when it completed."""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass, field

import anthropic
import httpx2

from tests.metering_totals import Totals, price
from tests.reliability import canaries

MODELS = ("claude-haiku-4-5", "claude-sonnet-4-6", "claude-opus-4-6")


@dataclass(frozen=True)
class Completed:
    """One request whose whole answer reached the caller: when (monotonic), what it cost, and
    how long it took."""

    at: float
    totals: Totals
    latency_ms: float


def add(a: Totals, b: Totals) -> Totals:
    return (a[0] + b[0], a[1] + b[1], a[2] + b[2], a[3] + b[3], a[4] + b[4])


def total(items: list[Completed]) -> Totals:
    result: Totals = (0, 0, 0, 0, 0)
    for item in items:
        result = add(result, item.totals)
    return result


@dataclass
class Traffic:
    """``threads`` SDK clients sending back to back until :meth:`stop`; every third request is
    streamed. Failed requests (the proxy was killed under them) are counted, then the thread goes
    on with a new request."""

    url: str
    threads: int = 4
    max_tokens: int = 32
    completed: list[Completed] = field(default_factory=list)
    failed_at: list[float] = field(default_factory=list)
    sent: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _workers: list[threading.Thread] = field(default_factory=list)
    _numbers: itertools.count[int] = field(default_factory=itertools.count)

    def start(self) -> Traffic:
        for n in range(self.threads):
            worker = threading.Thread(target=self._run, daemon=True, name=f"traffic-{n}")
            worker.start()
            self._workers.append(worker)
        return self

    def stop(self) -> None:
        self._stop.set()
        for worker in self._workers:
            worker.join(timeout=30)
        assert not any(w.is_alive() for w in self._workers), "a traffic thread is stuck"

    def _run(self) -> None:
        with anthropic.Anthropic(
            base_url=self.url, api_key=canaries.ANTHROPIC_KEY, max_retries=0, timeout=20
        ) as sdk:
            while not self._stop.is_set():
                number = next(self._numbers)
                with self._lock:
                    self.sent += 1
                try:
                    done = self._one(sdk, number)
                except (anthropic.AnthropicError, httpx2.TransportError):
                    # A stream cut by the kill surfaces as the HTTP client's own error mid-body.
                    done = None
                if done is None:
                    with self._lock:
                        self.failed_at.append(time.monotonic())
                    time.sleep(0.1)
                    continue
                with self._lock:
                    self.completed.append(done)

    def _one(self, sdk: anthropic.Anthropic, number: int) -> Completed | None:
        model = MODELS[number % len(MODELS)]
        prompt = [{"role": "user", "content": f"Say something short about topic {number}."}]
        started = time.monotonic()
        if number % 3 == 2:
            with sdk.messages.stream(model=model, max_tokens=self.max_tokens, messages=prompt) as stream:
                message = stream.get_final_message()
        else:
            message = sdk.messages.create(model=model, max_tokens=self.max_tokens, messages=prompt)
        if message.stop_reason is None:
            return None  # a stream cut short: not a completed request
        finished = time.monotonic()
        usage = message.usage
        totals: Totals = (
            1,
            usage.input_tokens,
            usage.output_tokens,
            price(usage, message.model),  # what was served (routing may have picked it)
            price(usage, model),  # the baseline: the requested model on the same usage
        )
        return Completed(finished, totals, (finished - started) * 1000)

    def snapshot(self) -> tuple[int, list[float], list[Completed]]:
        """Requests sent, when each failed one failed (monotonic), and the completed ones."""
        with self._lock:
            return self.sent, list(self.failed_at), list(self.completed)
