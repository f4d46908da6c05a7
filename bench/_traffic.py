"""The load the benchmarks send: one request mix, timed requests, latency and throughput rounds.

Every target (the simulator directly, ModelPilot, a peer proxy) gets the same bodies and headers;
only ``extra_headers`` differ (a peer may need its own routing headers).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import aiohttp
import orjson

from bench._harness import BENCH_KEY, closed_loop, new_session, percentile

MODEL = "claude-sonnet-4-6"
HEADERS = {"x-api-key": BENCH_KEY, "anthropic-version": "2023-06-01", "content-type": "application/json"}
TOOLS = [
    {
        "name": "get_weather",
        "description": "Weather for a city",
        "input_schema": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["c", "f"]}},
            "required": ["city"],
        },
    }
]
#: Asks the simulator to answer after 20 ms (a direct hit or a proxy that forwards the header).
SLOW_UPSTREAM = {"x-sim-latency": "ttft_ms=20"}
KINDS = frozenset({"json", "stream", "tool"})


def throughput_body(model: str = MODEL) -> bytes:
    return orjson.dumps(
        {"model": model, "max_tokens": 64, "messages": [{"role": "user", "content": "Say hello."}]}
    )


def request_mix(kinds: frozenset[str] = KINDS) -> list[tuple[str, bytes]]:
    """(kind, body) pairs; kinds: json, stream, tool."""

    def body(n: int, **extra: object) -> bytes:
        messages = [
            {"role": "user", "content": f"Question {n}: summarise the plot of a short story in two lines."}
        ]
        return orjson.dumps({"model": MODEL, "max_tokens": 96, "messages": messages, **extra})

    mix = []
    for n in range(8):
        mix.append(("json", body(n)))
        mix.append(("stream", body(n, stream=True)))
        mix.append(("tool", body(n, tools=TOOLS, tool_choice={"type": "any"})))
    return [(kind, body) for kind, body in mix if kind in kinds]


@dataclass
class Sample:
    latency_ms: list[float] = field(default_factory=list)
    ttfb_ms: list[float] = field(default_factory=list)

    def figures(self) -> dict[str, float]:
        """p50/p99 latency and streaming TTFB p50, in ms."""
        return {
            "p50_ms": percentile(self.latency_ms, 50),
            "p99_ms": percentile(self.latency_ms, 99),
            "ttfb_p50_ms": percentile(self.ttfb_ms, 50),
        }


async def timed_request(
    session: aiohttp.ClientSession, url: str, body: bytes, headers: Mapping[str, str]
) -> tuple[float, float]:
    """(total ms, time to first body byte ms) for one POST /v1/messages, body read to the end."""
    start = time.perf_counter()
    async with session.post(f"{url}/v1/messages", data=body, headers=headers) as response:
        first = None
        async for _chunk in response.content.iter_any():
            if first is None:
                first = time.perf_counter()
        if response.status != 200:
            raise RuntimeError(f"{url} answered {response.status}")
    end = time.perf_counter()
    return (end - start) * 1000, ((first or end) - start) * 1000


def fresh_conversation(body: bytes) -> bytes:
    """``body`` with a never-seen first user turn, so that the proxy's conversation stickiness
    cannot answer for it and a routed request must be decided anew."""
    marker = b'"content":"'
    return body.replace(marker, marker + f"[{next(_CONVERSATIONS)}] ".encode(), 1)


_CONVERSATIONS = itertools.count()


async def latency_round(
    url: str,
    requests: int,
    extra_headers: Mapping[str, str] | None = None,
    kinds: frozenset[str] = KINDS,
    *,
    fresh: bool = False,
) -> Sample:
    """``requests`` sequential requests over the mix, on one warm keep-alive connection; with
    ``fresh``, each one a new conversation (:func:`fresh_conversation`)."""
    headers = {**HEADERS, **(extra_headers or {})}
    sample = Sample()
    mix = request_mix(kinds)
    async with new_session(1) as session:
        await timed_request(session, url, mix[0][1], headers)  # warm the connection
        for i in range(requests):
            kind, body = mix[i % len(mix)]
            total, ttfb = await timed_request(
                session, url, fresh_conversation(body) if fresh else body, headers
            )
            sample.latency_ms.append(total)
            if kind == "stream":
                sample.ttfb_ms.append(ttfb)
    return sample


async def throughput_round(
    url: str,
    requests: int,
    concurrency: int,
    extra_headers: Mapping[str, str] | None = None,
    body: bytes | None = None,
    *,
    fresh: bool = False,
) -> float:
    """Requests/s for ``requests`` non-streaming requests at ``concurrency`` (the caller makes the
    upstream slow: ``SLOW_UPSTREAM`` headers or a simulator started with ``--ttft-ms``); with
    ``fresh``, each one a new conversation."""
    headers = {**HEADERS, **(extra_headers or {})}
    payload = body or throughput_body()

    def next_body() -> bytes:
        return fresh_conversation(payload) if fresh else payload

    async with new_session(concurrency) as session:
        await asyncio.gather(*(timed_request(session, url, next_body(), headers) for _ in range(concurrency)))
        elapsed = await closed_loop(
            requests, concurrency, lambda: timed_request(session, url, next_body(), headers)
        )
    return requests / elapsed
