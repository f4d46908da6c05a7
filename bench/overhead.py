"""The proxy's overhead: the same request mix sent directly to the simulator and through the proxy.

    python -m bench.overhead [--rounds 5] [--requests 60] [--concurrency 32] [--throughput-requests 600] [--json]

Both paths are measured in the same run, in interleaved rounds (direct, proxy, proxy, direct, ...),
so drift on the machine hits both alike. Reported per round and then as the median over rounds:
latency p50/p99 at concurrency 1 over a mix of JSON, streaming and tool-use requests; requests/s
at a fixed higher concurrency against a simulator answering after 20 ms; streaming time to first
byte; and the proxy's resident memory.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from dataclasses import dataclass, field

import aiohttp
import orjson

from bench._harness import BENCH_KEY, Service, median, new_session, percentile, print_table, start_modelpilot

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


def request_mix() -> list[tuple[str, bytes]]:
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
    return mix


@dataclass
class Sample:
    latency_ms: list[float] = field(default_factory=list)
    ttfb_ms: list[float] = field(default_factory=list)


async def timed_request(
    session: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str]
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


async def latency_round(url: str, requests: int) -> Sample:
    sample = Sample()
    mix = request_mix()
    async with new_session(1) as session:
        await timed_request(session, url, mix[0][1], HEADERS)  # warm the connection
        for i in range(requests):
            kind, body = mix[i % len(mix)]
            total, ttfb = await timed_request(session, url, body, HEADERS)
            sample.latency_ms.append(total)
            if kind == "stream":
                sample.ttfb_ms.append(ttfb)
    return sample


async def throughput_round(url: str, requests: int, concurrency: int) -> float:
    body = orjson.dumps(
        {"model": MODEL, "max_tokens": 64, "messages": [{"role": "user", "content": "Say hello."}]}
    )
    headers = {**HEADERS, "x-sim-latency": "ttft_ms=20"}
    remaining = requests

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await timed_request(session, url, body, headers)

    async with new_session(concurrency) as session:
        await asyncio.gather(*(timed_request(session, url, body, headers) for _ in range(concurrency)))
        start = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
        return requests / (time.perf_counter() - start)


async def measure(args: argparse.Namespace, direct: Service, proxy: Service) -> dict[str, object]:
    targets = {"direct": direct.url, "proxy": proxy.url}
    per_round: list[dict[str, dict[str, float]]] = []
    for round_no in range(args.rounds):
        order = ["direct", "proxy"] if round_no % 2 == 0 else ["proxy", "direct"]
        figures: dict[str, dict[str, float]] = {name: {} for name in targets}
        for name in order:
            sample = await latency_round(targets[name], args.requests)
            figures[name]["p50_ms"] = percentile(sample.latency_ms, 50)
            figures[name]["p99_ms"] = percentile(sample.latency_ms, 99)
            figures[name]["ttfb_p50_ms"] = percentile(sample.ttfb_ms, 50)
        for name in order:
            figures[name]["rps"] = await throughput_round(
                targets[name], args.throughput_requests, args.concurrency
            )
        per_round.append(figures)

    def med(name: str, key: str) -> float:
        return median([r[name][key] for r in per_round])

    def added(key: str) -> float:
        return median([r["proxy"][key] - r["direct"][key] for r in per_round])

    rss_now, rss_peak = proxy.rss_mb()
    return {
        "rounds": args.rounds,
        "requests_per_round": args.requests,
        "concurrency": args.concurrency,
        "direct": {k: med("direct", k) for k in ("p50_ms", "p99_ms", "ttfb_p50_ms", "rps")},
        "proxy": {k: med("proxy", k) for k in ("p50_ms", "p99_ms", "ttfb_p50_ms", "rps")},
        "added": {
            "p50_ms": added("p50_ms"),
            "p99_ms": added("p99_ms"),
            "ttfb_p50_ms": added("ttfb_p50_ms"),
        },
        "rps_ratio": median([r["proxy"]["rps"] / r["direct"]["rps"] for r in per_round]),
        "proxy_rss_mb": rss_now,
        "proxy_peak_rss_mb": rss_peak,
        "simulator_rss_mb": direct.rss_mb()[0],
    }


def print_report(result: dict[str, object]) -> None:
    d, p, a = result["direct"], result["proxy"], result["added"]  # type: ignore[index]
    rows = [
        [
            "latency p50, concurrency 1 (ms)",
            f"{d['p50_ms']:.2f}",
            f"{p['p50_ms']:.2f}",
            f"{a['p50_ms']:+.2f} ms",
        ],
        [
            "latency p99, concurrency 1 (ms)",
            f"{d['p99_ms']:.2f}",
            f"{p['p99_ms']:.2f}",
            f"{a['p99_ms']:+.2f} ms",
        ],
        [
            "stream time to first byte p50 (ms)",
            f"{d['ttfb_p50_ms']:.2f}",
            f"{p['ttfb_p50_ms']:.2f}",
            f"{a['ttfb_p50_ms']:+.2f} ms",
        ],
        [
            f"requests/s, concurrency {result['concurrency']}, 20 ms upstream",
            f"{d['rps']:.0f}",
            f"{p['rps']:.0f}",
            f"x{result['rps_ratio']:.2f}",
        ],
        [
            "RSS now / peak (MB)",
            f"{result['simulator_rss_mb']:.0f} (simulator)",
            f"{result['proxy_rss_mb']:.0f} / {result['proxy_peak_rss_mb']:.0f}",
            "",
        ],
    ]
    print_table(
        f"Proxy overhead: median of {result['rounds']} interleaved rounds, {result['requests_per_round']} requests each",
        ["metric", "direct", "via proxy", "added / ratio"],
        rows,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=60, help="requests per round at concurrency 1")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--throughput-requests", type=int, default=600)
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = parser.parse_args(argv)

    simulator = start_modelpilot("simulator", ["sim"])
    proxy = start_modelpilot("proxy", ["proxy", "--upstream", simulator.url])
    try:
        result = asyncio.run(measure(args, simulator, proxy))
    finally:
        proxy.stop()
        simulator.stop()
    if args.json:
        print(json.dumps(result, sort_keys=True))
    else:
        print_report(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
