"""Which HTTP client should the proxy use upstream? aiohttp vs httpx2 (and httpx if installed).

    python -m bench.upstream_clients [--requests 2000] [--concurrency 1 64] [--granian PATH] [--json]

For each client library a bare relay (uvicorn + uvloop + httptools, one process, a 20-line ASGI
app that forwards the request and streams the answer back) sits in front of a trivial loopback
upstream (same server stack, fixed 400-byte JSON answer). A load generator (aiohttp, in this
process) sends POST /v1/messages at each concurrency and reports requests/s and latency p50/p99.
Baselines in the same run: the upstream hit directly, and the real ``modelpilot proxy``.
``--granian PATH`` adds the aiohttp relay served by granian (a Rust HTTP server; not a project
dependency: e.g. the one ``bench.peers`` installs with LiteLLM's proxy,
``~/.cache/modelpilot-bench/litellm-1.110.2/bin/granian``, whose virtualenv also has aiohttp).
All processes share this machine's cores, so compare rows within one run only.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from bench._harness import (
    Service,
    emit,
    free_port,
    json_flag,
    percentile,
    print_table,
    start_modelpilot,
    start_process,
    wait_until_listening,
)

ANSWER = orjson.dumps(
    {
        "id": "msg_01Bench",
        "type": "message",
        "role": "assistant",
        "model": "claude-haiku-4-5",
        "content": [{"type": "text", "text": "x" * 200}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 12, "output_tokens": 40},
    }
)
REQUEST = orjson.dumps(
    {"model": "claude-haiku-4-5", "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]}
)
HEADERS = {"x-api-key": "sk-ant-bench", "anthropic-version": "2023-06-01", "content-type": "application/json"}
HOP = {b"connection", b"keep-alive", b"transfer-encoding", b"host", b"content-length"}


# -- the servers (run in child processes) -----------------------------------------------------
async def trivial_upstream(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    more = True
    while more:
        more = (await receive()).get("more_body", False)
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(ANSWER)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": ANSWER})


def relay_app(library: str, upstream: str) -> Any:
    """A bare relay: forward method, path, headers and body; stream the answer back."""
    state: dict[str, Any] = {}

    async def read_body(receive: Any) -> bytes:
        parts, more = [], True
        while more:
            message = await receive()
            parts.append(message.get("body", b""))
            more = message.get("more_body", False)
        return b"".join(parts)

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = await read_body(receive)
        headers = [(k.decode(), v.decode()) for k, v in scope["headers"] if k not in HOP]
        url = upstream + scope["path"]
        if library == "aiohttp":
            if "client" not in state:
                state["client"] = aiohttp.ClientSession(
                    connector=aiohttp.TCPConnector(limit=512),
                    auto_decompress=False,
                    cookie_jar=aiohttp.DummyCookieJar(),
                )
            async with state["client"].request(scope["method"], url, headers=headers, data=body) as response:
                out = [(k.lower(), v) for k, v in response.raw_headers if k.lower() not in HOP]
                out.append((b"content-length", str(response.content_length or 0).encode()))
                await send({"type": "http.response.start", "status": response.status, "headers": out})
                async for chunk in response.content.iter_any():
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                await send({"type": "http.response.body", "body": b""})
        else:
            httpx_module = __import__(library)
            if "client" not in state:
                limits = httpx_module.Limits(max_connections=512, max_keepalive_connections=512)
                state["client"] = httpx_module.AsyncClient(limits=limits, timeout=60)
            client = state["client"]
            request = client.build_request(scope["method"], url, headers=headers, content=body)
            response = await client.send(request, stream=True)
            try:
                out = [(k.lower(), v) for k, v in response.headers.raw if k.lower() not in HOP]
                await send({"type": "http.response.start", "status": response.status_code, "headers": out})
                async for chunk in response.aiter_raw():
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                await send({"type": "http.response.body", "body": b""})
            finally:
                await response.aclose()

    return app


def relay_from_environ() -> Any:
    """Factory for servers started from the command line (granian): the aiohttp relay toward
    ``$BENCH_UPSTREAM``."""
    import os

    return relay_app("aiohttp", os.environ["BENCH_UPSTREAM"])


def start_granian_relay(granian: Path, upstream: str) -> Service:
    port = free_port()
    cmd = [str(granian), "--interface", "asgi", "--loop", "uvloop", "--host", "127.0.0.1"]
    cmd += ["--port", str(port), "--workers", "1", "--no-log", "--factory"]
    cmd += ["bench.upstream_clients:relay_from_environ"]
    env = {"BENCH_UPSTREAM": upstream, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    return start_process("granian relay", cmd, port, env=env)


def run_server(kind: str, port: int, upstream: str | None) -> None:
    import uvicorn

    app = trivial_upstream if kind == "upstream" else relay_app(kind, upstream or "")
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
    )


def start_child(kind: str, upstream: str | None = None) -> Service:
    port = free_port()
    cmd = [sys.executable, "-m", "bench.upstream_clients", "--serve", kind, "--port", str(port)]
    if upstream:
        cmd += ["--upstream", upstream]
    process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wait_until_listening(port, process, kind)
    return Service(kind, f"http://127.0.0.1:{port}", process)


# -- the load generator ------------------------------------------------------------------------
async def measure(url: str, concurrency: int, requests: int) -> tuple[float, float, float, int]:
    """(requests/s, p50 ms, p99 ms, errors) for ``requests`` POSTs at ``concurrency``."""
    connector = aiohttp.TCPConnector(limit=concurrency)
    latencies: list[float] = []
    errors = 0
    remaining = requests
    async with aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar()) as session:

        async def one() -> None:
            nonlocal errors
            started = time.perf_counter()
            try:
                async with session.post(url + "/v1/messages", data=REQUEST, headers=HEADERS) as response:
                    await response.read()
                    if response.status != 200:
                        errors += 1
            except aiohttp.ClientError:
                errors += 1
            latencies.append((time.perf_counter() - started) * 1000)

        async def worker() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                await one()

        for _ in range(min(50, requests)):  # warm the pools
            await one()
        latencies.clear()
        remaining = requests
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return requests / elapsed, percentile(latencies, 50), percentile(latencies, 99), errors


async def run(requests: int, concurrencies: list[int], granian: Path | None) -> dict[str, Any]:
    libraries = ["aiohttp"] + [name for name in ("httpx2", "httpx") if importlib.util.find_spec(name)]
    upstream = start_child("upstream")
    services: list[Service] = [upstream]
    try:
        targets = [("direct (no relay)", upstream.url)]
        for library in libraries:
            relay = start_child(library, upstream.url)
            services.append(relay)
            targets.append((f"bare relay, {library}", relay.url))
        if granian is not None:
            relay = start_granian_relay(granian, upstream.url)
            services.append(relay)
            targets.append(("bare relay, aiohttp, granian server", relay.url))
        proxy = start_modelpilot("modelpilot proxy", ["proxy", "--upstream", upstream.url])
        services.append(proxy)
        targets.append(("modelpilot proxy (aiohttp)", proxy.url))
        rows = []
        for concurrency in concurrencies:
            for name, url in targets:
                rps, p50, p99, errors = await measure(url, concurrency, requests)
                rows.append(
                    {
                        "path": name,
                        "concurrency": concurrency,
                        "rps": rps,
                        "p50_ms": p50,
                        "p99_ms": p99,
                        "errors": errors,
                    }
                )
    finally:
        for service in services:
            service.stop()
    missing = [name for name in ("httpx2", "httpx") if name not in libraries]
    return {"requests": requests, "rows": rows, "not_installed": missing}


def print_report(result: Mapping[str, Any]) -> None:
    print_table(
        f"Upstream clients, {result['requests']} requests per row (POST /v1/messages, 400-byte JSON answer)",
        ["path", "concurrency", "req/s", "p50 ms", "p99 ms", "errors"],
        [
            [
                r["path"],
                str(r["concurrency"]),
                f"{r['rps']:,.0f}",
                f"{r['p50_ms']:.2f}",
                f"{r['p99_ms']:.2f}",
                str(r["errors"]),
            ]
            for r in result["rows"]
        ],
    )
    if result["not_installed"]:
        print(f"\nnot installed, skipped: {', '.join(result['not_installed'])}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 64])
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--upstream", help=argparse.SUPPRESS)
    parser.add_argument("--granian", type=Path, help="a granian executable: adds a relay it serves")
    json_flag(parser)
    args = parser.parse_args()
    if args.serve:
        run_server(args.serve, args.port, args.upstream)
        return
    result = asyncio.run(run(args.requests, args.concurrency, args.granian))
    emit(result, as_json=args.json, report=print_report)


if __name__ == "__main__":
    main()
