"""The proxy's overhead: the same request mix sent directly to the simulator and through the proxy.

    python -m bench.overhead [--rounds 5] [--requests 60] [--concurrency 64] [--throughput-requests 1000]
        [--routing | --cold [--control-database URL]] [--workers N [N ...]] [--json]

Both paths are measured in the same run, in interleaved rounds (direct, proxy, proxy, direct, ...),
so drift on the machine hits both alike. Reported per round and then as the median over rounds:
latency p50/p99 at concurrency 1 over a mix of JSON, streaming and tool-use requests; requests/s
at a fixed higher concurrency against a simulator answering after 20 ms; streaming time to first
byte; and the proxy's resident memory. ``--routing`` puts a local control plane behind the proxy
with a warm decision cache; ``--cold`` makes every routed request ask it (decision TTL 0), on
SQLite or on ``--control-database`` (e.g. ``postgresql+psycopg://postgres@127.0.0.1:5432/bench_control``,
which is dropped and made anew). ``--workers 1 2`` runs one proxy per count
(``modelpilot proxy --workers N``) in the same rounds and adds a table of their requests/s.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bench._harness import (
    Service,
    bench_parser,
    emit,
    fresh_postgres,
    json_flag,
    median,
    print_table,
    proxy_under_test,
    round_options,
    start_modelpilot,
)
from bench._traffic import SLOW_UPSTREAM, latency_round, throughput_round


def proxy_name(workers: int) -> str:
    return "proxy" if workers == 1 else f"proxy x{workers}"


async def measure(
    args: argparse.Namespace, direct: Service, proxies: Mapping[int, Service]
) -> dict[str, object]:
    targets = {"direct": direct.url, **{proxy_name(n): proxy.url for n, proxy in proxies.items()}}
    services = {"direct": direct, **{proxy_name(n): proxy for n, proxy in proxies.items()}}
    names = list(targets)
    per_round: list[dict[str, dict[str, float]]] = []
    for round_no in range(args.rounds):
        order = names if round_no % 2 == 0 else names[::-1]
        figures: dict[str, dict[str, float]] = {name: {} for name in targets}
        for name in order:
            sample = await latency_round(targets[name], args.requests, fresh=args.cold)
            figures[name].update(sample.figures())
        for name in order:
            cpu_before = services[name].cpu_s()
            figures[name]["rps"] = await throughput_round(
                targets[name], args.throughput_requests, args.concurrency, SLOW_UPSTREAM, fresh=args.cold
            )
            # CPU of the process and its workers per request: what capacity a core buys, robust
            # when other work shares the cores (requests/s is not).
            spent = services[name].cpu_s() - cpu_before
            figures[name]["cpu_us_per_request"] = spent / (args.throughput_requests + args.concurrency) * 1e6
        per_round.append(figures)

    def med(name: str, key: str) -> float:
        return median([r[name][key] for r in per_round])

    def added(key: str, name: str) -> float:
        return median([r[name][key] - r["direct"][key] for r in per_round])

    first = next(iter(proxies))
    proxy = proxies[first]
    rss_now, rss_peak = proxy.rss_mb()
    result: dict[str, object] = {
        "routing": "cold" if args.cold else ("warm" if args.routing else "off"),
        "rounds": args.rounds,
        "requests_per_round": args.requests,
        "concurrency": args.concurrency,
        "direct": {k: med("direct", k) for k in ("p50_ms", "p99_ms", "ttfb_p50_ms", "rps")},
        "proxy": {k: med(proxy_name(first), k) for k in ("p50_ms", "p99_ms", "ttfb_p50_ms", "rps")},
        "added": {k: added(k, proxy_name(first)) for k in ("p50_ms", "p99_ms", "ttfb_p50_ms")},
        "rps_ratio": median([r[proxy_name(first)]["rps"] / r["direct"]["rps"] for r in per_round]),
        "proxy_rss_mb": rss_now,
        "proxy_peak_rss_mb": rss_peak,
        "simulator_rss_mb": direct.rss_mb()[0],
    }
    if len(proxies) > 1:
        # --workers 1 2 ...: every proxy's figures, and its throughput beside the first's.
        result["workers"] = {
            str(n): {
                **{k: med(proxy_name(n), k) for k in ("p50_ms", "p99_ms", "ttfb_p50_ms", "rps")},
                "added_p50_ms": added("p50_ms", proxy_name(n)),
                "cpu_us_per_request": med(proxy_name(n), "cpu_us_per_request"),
                "rps_ratio_to_direct": median(
                    [r[proxy_name(n)]["rps"] / r["direct"]["rps"] for r in per_round]
                ),
                "rps_ratio_to_first": median(
                    [r[proxy_name(n)]["rps"] / r[proxy_name(first)]["rps"] for r in per_round]
                ),
                "rss_mb": service.tree_rss_mb(),
            }
            for n, service in proxies.items()
        }
    return result


def print_report(result: Mapping[str, Any]) -> None:
    d, p, a = result["direct"], result["proxy"], result["added"]
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
        f"Proxy overhead (routing {result['routing']}): median of {result['rounds']} interleaved rounds, {result['requests_per_round']} requests each",
        ["metric", "direct", "via proxy", "added / ratio"],
        rows,
    )
    workers = result.get("workers")
    if workers:
        first = next(iter(workers))
        print_table(
            f"--workers: requests/s at concurrency {result['concurrency']} (direct {d['rps']:.0f})",
            [
                "workers",
                "requests/s",
                "x direct",
                f"x {first} worker(s)",
                "added p50 (ms)",
                "CPU µs per request",
                "RSS, all processes (MB)",
            ],
            [
                [
                    n,
                    f"{w['rps']:.0f}",
                    f"x{w['rps_ratio_to_direct']:.2f}",
                    f"x{w['rps_ratio_to_first']:.2f}",
                    f"{w['added_p50_ms']:+.2f}",
                    f"{w['cpu_us_per_request']:.0f}",
                    f"{w['rss_mb']:.0f}",
                ]
                for n, w in workers.items()
            ],
        )


def main(argv: list[str] | None = None) -> int:
    parser = bench_parser(__doc__)
    round_options(parser, rounds=5, requests=60, throughput_requests=1000)
    parser.add_argument(
        "--routing",
        action="store_true",
        help="route through a local `modelpilot control` (SQLite) with a warm decision cache",
    )
    parser.add_argument(
        "--cold",
        action="store_true",
        help="route with a cold decision cache: the control plane answers with TTL 0, so every request asks it",
    )
    parser.add_argument("--control-database", help="the control plane's database for --routing/--cold")
    parser.add_argument(
        "--workers",
        type=int,
        nargs="+",
        default=[1],
        metavar="N",
        help="measure `modelpilot proxy --workers N` for each N given (e.g. 1 2), in the same rounds",
    )
    json_flag(parser)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="bench-overhead-") as tmp:
        simulator = start_modelpilot("simulator", ["sim"])
        try:
            if args.control_database and args.control_database.startswith("postgresql"):
                fresh_postgres(args.control_database)
            with proxy_under_test(
                simulator.url,
                Path(tmp),
                routing=args.routing,
                cold=args.cold,
                control_database=args.control_database,
                workers=args.workers,
            ) as proxies:
                result = asyncio.run(measure(args, simulator, dict(zip(args.workers, proxies, strict=True))))
        finally:
            simulator.stop()
    emit(result, as_json=args.json, report=print_report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
