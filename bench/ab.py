"""Two versions of the proxy side by side: what did a change buy?

    python -m bench.ab --base-src DIR [--new-src DIR] [--rounds 5] [--requests 60]
        [--concurrency 64] [--throughput-requests 1000] [--routing] [--json]

``DIR`` is a ``src`` directory holding a ``modelpilot`` package (e.g. ``git archive HEAD src | tar
-x -C /tmp/base`` gives ``/tmp/base/src``); ``--new-src`` defaults to this checkout. Each version
runs as its own ``modelpilot proxy`` (with ``PYTHONPATH=DIR``) in front of the same simulator, and
both get the overhead mix in interleaved rounds (base, new, new, base, ...): latency at concurrency
1, streaming TTFB, then requests/s at ``--concurrency`` against a 20 ms upstream. Reported: medians
over rounds and the median per-round difference new - base.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from bench._harness import (
    Service,
    bench_parser,
    control_plane,
    emit,
    free_port,
    json_flag,
    median,
    print_table,
    round_options,
    start_modelpilot,
    start_process,
)
from bench._traffic import SLOW_UPSTREAM, latency_round, throughput_round

CHECKOUT_SRC = Path(__file__).resolve().parents[1] / "src"
KEYS = ("p50_ms", "p99_ms", "ttfb_p50_ms", "rps", "cpu_us_per_request")


def start_proxy_from(
    src: Path, name: str, upstream: str, extra: list[str], env: dict[str, str | None]
) -> Service:
    import sys

    port = free_port()
    cmd = [sys.executable, "-m", "modelpilot.cli", "proxy", "--upstream", upstream, *extra]
    cmd += ["--host", "127.0.0.1", "--port", str(port)]
    return start_process(name, cmd, port, env={**env, "PYTHONPATH": str(src)})


@contextmanager
def two_proxies(args: argparse.Namespace, workdir: Path, upstream: str) -> Iterator[dict[str, Service]]:
    with ExitStack() as stack:
        proxies: dict[str, Service] = {}
        for name, src in (("base", args.base_src), ("new", args.new_src)):
            extra: list[str] = []
            env: dict[str, str | None] = {}
            if args.routing:
                plane = stack.enter_context(
                    control_plane(f"sqlite:///{workdir / f'control-{name}.sqlite3'}", workdir)
                )
                extra = [
                    "--control-plane",
                    plane.service.url,
                    "--spool",
                    str(workdir / f"spool-{name}.sqlite3"),
                ]
                env["MODELPILOT_API_KEY"] = plane.api_key
            proxies[name] = start_proxy_from(src, name, upstream, extra, env)
            stack.callback(proxies[name].stop)
        yield proxies


async def measure(args: argparse.Namespace, proxies: Mapping[str, Service]) -> dict[str, Any]:
    per_round: list[dict[str, dict[str, float]]] = []
    for name in proxies:  # warm pools and decision caches
        await latency_round(proxies[name].url, 24)
    for round_no in range(args.rounds):
        order = ["base", "new"] if round_no % 2 == 0 else ["new", "base"]
        figures: dict[str, dict[str, float]] = {}
        for name in order:
            figures[name] = (await latency_round(proxies[name].url, args.requests)).figures()
        for name in order:
            cpu_before = proxies[name].cpu_s()
            figures[name]["rps"] = await throughput_round(
                proxies[name].url, args.throughput_requests, args.concurrency, SLOW_UPSTREAM
            )
            spent = proxies[name].cpu_s() - cpu_before
            figures[name]["cpu_us_per_request"] = spent / (args.throughput_requests + args.concurrency) * 1e6
        per_round.append(figures)
    return {
        "base_src": str(args.base_src),
        "new_src": str(args.new_src),
        "routing": args.routing,
        "rounds": args.rounds,
        "concurrency": args.concurrency,
        "base": {k: median([r["base"][k] for r in per_round]) for k in KEYS},
        "new": {k: median([r["new"][k] for r in per_round]) for k in KEYS},
        "new_minus_base": {k: median([r["new"][k] - r["base"][k] for r in per_round]) for k in KEYS},
        "rps_ratio": median([r["new"]["rps"] / r["base"]["rps"] for r in per_round]),
        "rss_mb": {name: proxy.rss_mb()[0] for name, proxy in proxies.items()},
    }


def print_report(result: Mapping[str, Any]) -> None:
    b, n, d = result["base"], result["new"], result["new_minus_base"]
    rows = [
        [label, f"{b[k]:.2f}", f"{n[k]:.2f}", f"{d[k]:+.2f}"]
        for label, k in (
            ("latency p50, concurrency 1 (ms)", "p50_ms"),
            ("latency p99, concurrency 1 (ms)", "p99_ms"),
            ("stream TTFB p50 (ms)", "ttfb_p50_ms"),
        )
    ]
    rows.append(
        [
            f"requests/s, concurrency {result['concurrency']}, 20 ms upstream",
            f"{b['rps']:.0f}",
            f"{n['rps']:.0f}",
            f"x{result['rps_ratio']:.3f}",
        ]
    )
    rows.append(
        [
            "proxy CPU per request under load (µs)",
            f"{b['cpu_us_per_request']:.0f}",
            f"{n['cpu_us_per_request']:.0f}",
            f"{d['cpu_us_per_request']:+.0f}",
        ]
    )
    rows.append(["RSS (MB)", f"{result['rss_mb']['base']:.0f}", f"{result['rss_mb']['new']:.0f}", ""])
    print_table(
        f"Proxy A/B (routing {'on' if result['routing'] else 'off'}): median of {result['rounds']} "
        f"interleaved rounds\n  base: {result['base_src']}\n  new:  {result['new_src']}",
        ["metric", "base", "new", "new - base"],
        rows,
    )


def main(argv: list[str] | None = None) -> int:
    parser = bench_parser(__doc__)
    parser.add_argument("--base-src", type=Path, required=True)
    parser.add_argument("--new-src", type=Path, default=CHECKOUT_SRC)
    round_options(parser, rounds=5, requests=60, throughput_requests=1000)
    parser.add_argument(
        "--routing", action="store_true", help="each proxy behind its own local control plane"
    )
    json_flag(parser)
    args = parser.parse_args(argv)
    for src in (args.base_src, args.new_src):
        if not (src / "modelpilot" / "__init__.py").exists():
            parser.error(f"{src} holds no modelpilot package")
    with tempfile.TemporaryDirectory(prefix="bench-ab-") as tmp, ExitStack() as stack:
        simulator = start_modelpilot("simulator", ["sim"])
        stack.callback(simulator.stop)
        proxies = stack.enter_context(two_proxies(args, Path(tmp), simulator.url))
        result = asyncio.run(measure(args, proxies))
    emit(result, as_json=args.json, report=print_report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
