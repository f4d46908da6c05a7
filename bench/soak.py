"""The proxy's memory under steady load: does its RSS stay flat?

    python -m bench.soak [--minutes 10] [--concurrency 16] [--sample-s 5] [--no-routing] [--json]

A bounded run: ``--concurrency`` callers send the overhead mix (JSON, streaming, tool use) through
``modelpilot proxy`` (every request decided by a local control plane on SQLite, in shadow mode,
and metered, unless ``--no-routing``) to the
simulator for ``--minutes``, then stop. The proxy's RSS is sampled every ``--sample-s`` seconds.
"start" is the first sample after the warm-up (the first tenth of the run, at least one sample),
so pools and caches that fill once do not count as growth.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bench._harness import (
    Service,
    bench_parser,
    emit,
    json_flag,
    new_session,
    print_table,
    proxy_under_test,
    start_modelpilot,
)
from bench._traffic import HEADERS, request_mix, timed_request


async def soak(proxy: Service, minutes: float, concurrency: int, sample_s: float) -> dict[str, Any]:
    mix = request_mix()
    deadline = time.monotonic() + minutes * 60
    samples: list[tuple[float, float]] = []
    counts = {"requests": 0, "errors": 0}
    started = time.monotonic()

    async def caller(session: Any, offset: int) -> None:
        i = offset
        while time.monotonic() < deadline:
            _kind, body = mix[i % len(mix)]
            i += 1
            try:
                await timed_request(session, proxy.url, body, HEADERS)
                counts["requests"] += 1
            except Exception:  # a failed request is counted, the soak goes on
                counts["errors"] += 1

    async def sampler() -> None:
        while time.monotonic() < deadline:
            samples.append((time.monotonic() - started, proxy.rss_mb()[0]))
            await asyncio.sleep(min(sample_s, max(deadline - time.monotonic(), 0)))
        samples.append((time.monotonic() - started, proxy.rss_mb()[0]))

    async with new_session(concurrency) as session:
        await asyncio.gather(sampler(), *(caller(session, n) for n in range(concurrency)))
    elapsed = time.monotonic() - started
    warm = next((i for i, (t, _) in enumerate(samples) if t >= elapsed / 10), 0)
    start_rss = samples[warm][1]
    end_rss = samples[-1][1]
    return {
        "minutes": minutes,
        "concurrency": concurrency,
        "requests": counts["requests"],
        "errors": counts["errors"],
        "rps": counts["requests"] / elapsed,
        "start_rss_mb": start_rss,
        "end_rss_mb": end_rss,
        "peak_rss_mb": max(rss for _, rss in samples),
        "peak_hwm_mb": proxy.rss_mb()[1],
        "growth_pct": (end_rss - start_rss) / start_rss * 100,
        "samples": [[round(t, 1), round(rss, 2)] for t, rss in samples],
    }


def print_report(result: Mapping[str, Any]) -> None:
    rows = [
        ["requests (errors)", f"{result['requests']} ({result['errors']})"],
        ["requests/s", f"{result['rps']:.0f}"],
        ["RSS after warm-up (MB)", f"{result['start_rss_mb']:.1f}"],
        ["RSS at the end (MB)", f"{result['end_rss_mb']:.1f}"],
        [
            "RSS peak sampled / high-water mark (MB)",
            f"{result['peak_rss_mb']:.1f} / {result['peak_hwm_mb']:.1f}",
        ],
        ["growth after warm-up", f"{result['growth_pct']:+.2f} %"],
    ]
    print_table(
        f"Proxy soak: {result['minutes']:g} min at concurrency {result['concurrency']} "
        f"(routing {'shadow' if result['routing'] else 'off'})",
        ["metric", "value"],
        rows,
    )


def main(argv: list[str] | None = None) -> int:
    parser = bench_parser(__doc__)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--sample-s", type=float, default=5.0)
    parser.add_argument("--no-routing", action="store_true", help="proxy without a control plane")
    json_flag(parser)
    args = parser.parse_args(argv)
    if not 0 < args.minutes <= 120:
        parser.error("--minutes must be in (0, 120]")
    with tempfile.TemporaryDirectory(prefix="bench-soak-") as tmp:
        simulator = start_modelpilot("simulator", ["sim"])
        try:
            with proxy_under_test(simulator.url, Path(tmp), routing=not args.no_routing) as (proxy,):
                result = asyncio.run(soak(proxy, args.minutes, args.concurrency, args.sample_s))
        finally:
            simulator.stop()
    result["routing"] = not args.no_routing
    emit(result, as_json=args.json, report=print_report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
