"""The control plane's ``POST /v1/route``: decisions/s and latency for one worker.

    python -m bench.control_route [--requests 3000] [--concurrency 32] [--backend sqlite postgresql]
        [--postgres-url postgresql+psycopg://postgres@127.0.0.1:5432/bench_control]
        [--profile OUT.txt] [--json]

For each backend a fresh database (SQLite in a temporary directory; the PostgreSQL database named
in ``--postgres-url``, dropped and created anew) gets an account, a deployment and a key through
``modelpilot admin``, then ``modelpilot control`` (one worker) serves it. ``--concurrency`` callers
send the route requests the proxy would send for the overhead mix, ``--requests`` in all after a
warm-up, over keep-alive connections. Only the HTTP API is used, so this measures whatever routing
policy the control plane has.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson

from bench._harness import (
    bench_parser,
    closed_loop,
    control_plane,
    emit,
    fresh_postgres,
    json_flag,
    new_session,
    percentile,
    print_table,
)
from bench._traffic import request_mix
from modelpilot.proxy.decisions import ROUTE_PATH, build_route_request, encode_route_request

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/bench_control"


def route_bodies() -> list[bytes]:
    """The ``/v1/route`` bodies the proxy sends for the overhead mix."""
    bodies = []
    for _kind, body in request_mix():
        request = build_route_request(orjson.loads(body))
        assert request is not None
        bodies.append(encode_route_request(request))
    return bodies


async def drive(url: str, api_key: str, requests: int, concurrency: int) -> dict[str, float]:
    bodies = route_bodies()
    headers = {"content-type": "application/json", "authorization": f"Bearer {api_key}"}
    latencies: list[float] = []
    errors = 0
    sent = 0

    async with new_session(concurrency) as session:

        async def one() -> None:
            nonlocal errors, sent
            body = bodies[sent % len(bodies)]
            sent += 1
            started = time.perf_counter()
            async with session.post(url + ROUTE_PATH, data=body, headers=headers) as response:
                await response.read()
                if response.status != 200:
                    errors += 1
            latencies.append((time.perf_counter() - started) * 1000)

        await closed_loop(min(requests, 4 * concurrency), concurrency, one)  # warm-up
        latencies.clear()
        errors = 0
        elapsed = await closed_loop(requests, concurrency, one)
    return {
        "decisions_per_s": requests / elapsed,
        "p50_ms": percentile(latencies, 50),
        "p99_ms": percentile(latencies, 99),
        "errors": errors,
    }


def measure(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for backend in args.backend:
        with tempfile.TemporaryDirectory(prefix="bench-route-") as tmp:
            workdir = Path(tmp)
            if backend == "postgresql":
                fresh_postgres(args.postgres_url)
                database_url = args.postgres_url
            else:
                database_url = f"sqlite:///{workdir / 'control.sqlite3'}"
            profile_to = (
                args.profile.with_name(f"{args.profile.stem}-{backend}.txt") if args.profile else None
            )
            with control_plane(database_url, workdir, profile_to=profile_to) as plane:
                results[backend] = asyncio.run(
                    drive(plane.service.url, plane.api_key, args.requests, args.concurrency)
                )
                results[backend]["rss_mb"] = plane.service.rss_mb()[0]
    return {"requests": args.requests, "concurrency": args.concurrency, "workers": 1, "backends": results}


def print_report(result: Mapping[str, Any]) -> None:
    rows = [
        [
            backend,
            f"{f['decisions_per_s']:,.0f}",
            f"{f['p50_ms']:.2f}",
            f"{f['p99_ms']:.2f}",
            str(f["errors"]),
            f"{f['rss_mb']:.0f}",
        ]
        for backend, f in result["backends"].items()
    ]
    print_table(
        f"POST /v1/route, one worker: {result['requests']} requests at concurrency {result['concurrency']}",
        ["database", "decisions/s", "p50 ms", "p99 ms", "errors", "RSS MB"],
        rows,
    )


def main(argv: list[str] | None = None) -> int:
    parser = bench_parser(__doc__)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument(
        "--backend", nargs="+", choices=("sqlite", "postgresql"), default=["sqlite", "postgresql"]
    )
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    parser.add_argument(
        "--profile",
        type=Path,
        help="run the control plane under pyinstrument; its report goes to PROFILE-<backend>.txt",
    )
    json_flag(parser)
    args = parser.parse_args(argv)
    emit(measure(args), as_json=args.json, report=print_report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
