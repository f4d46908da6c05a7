"""Which HTTP stack could the proxy stand on? Bare relays on each, beside the real proxy.

    python -m bench.upstream_clients [--requests 2000] [--concurrency 1 64] [--rounds 3]
        [--routing] [--granian PATH] [--json]

Each bare relay is one process (uvloop) with a 20-line app that forwards the request and sends
the answer back, in front of a trivial loopback upstream (uvicorn, fixed 400-byte JSON answer):
uvicorn with aiohttp, httpx2 (httpx, pyreqwest when installed) as the upstream client; with
``--granian PATH`` (a granian executable whose virtualenv has aiohttp, and pyreqwest for its row),
granian's ASGI and RSGI interfaces too. Baselines in the same run: the upstream hit directly, a
relay written on uvloop and httptools with no HTTP library (``bench/raw_relay.py``: the floor of
a Python relay, not a product), and ``modelpilot proxy`` (routing off, and with ``--routing`` on,
in shadow mode behind a local control plane on SQLite). A load generator (aiohttp, this process)
sends POST /v1/messages at each concurrency; ``--rounds`` interleave the rows and each figure is
the median of the rounds: requests/s, latency p50/p99, and the relay process's CPU per request
(user + system, all its threads), which moves far less than wall time when the cores are shared.
All processes share this machine's cores, so compare rows within one run only.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from contextlib import ExitStack
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


class _Forwarder:
    """The relay's upstream client: one pooled client of ``library``, made on first use."""

    def __init__(self, library: str, upstream: str) -> None:
        self.library = library
        self.upstream = upstream
        self._client: Any = None

    def _made(self) -> Any:
        if self._client is None:
            if self.library == "aiohttp":
                self._client = aiohttp.ClientSession(
                    connector=aiohttp.TCPConnector(limit=512),
                    auto_decompress=False,
                    cookie_jar=aiohttp.DummyCookieJar(),
                )
            elif self.library == "pyreqwest":
                from pyreqwest.client import ClientBuilder

                self._client = ClientBuilder().build()
            else:
                httpx_module = __import__(self.library)
                limits = httpx_module.Limits(max_connections=512, max_keepalive_connections=512)
                self._client = httpx_module.AsyncClient(limits=limits, timeout=60)
        return self._client

    async def forward(
        self, method: str, path: str, headers: list[tuple[str, str]], body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        """(status, headers without hop-by-hop ones, body) of the upstream's answer."""
        client, url = self._made(), self.upstream + path
        if self.library == "aiohttp":
            async with client.request(method, url, headers=headers, data=body) as response:
                answer = await response.read()
                raw = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in response.raw_headers]
                status = response.status
        elif self.library == "pyreqwest":
            response = await client.request(method, url).headers(headers).body_bytes(body).build().send()
            answer = bytes(await response.bytes())
            raw, status = list(response.headers.items()), response.status
        else:
            response = await client.request(method, url, headers=headers, content=body)
            answer, raw, status = response.content, list(response.headers.items()), response.status_code
        return status, [(k.lower(), v) for k, v in raw if k.lower().encode() not in HOP], answer


def relay_app(library: str, upstream: str) -> Any:
    """A bare ASGI relay: forward method, path, headers and body; send the answer back."""
    forwarder = _Forwarder(library, upstream)

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        parts, more = [], True
        while more:
            message = await receive()
            parts.append(message.get("body", b""))
            more = message.get("more_body", False)
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"] if k not in HOP]
        status, out, answer = await forwarder.forward(
            scope["method"], scope["path"], headers, b"".join(parts)
        )
        sent = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in out]
        sent.append((b"content-length", str(len(answer)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": sent})
        await send({"type": "http.response.body", "body": answer})

    return app


def rsgi_relay_app(library: str, upstream: str) -> Any:
    """The same relay on granian's RSGI interface (no ASGI message dictionaries)."""
    forwarder = _Forwarder(library, upstream)

    async def app(scope: Any, protocol: Any) -> None:
        body = await protocol()
        headers = [(k, v) for k, v in scope.headers.items() if k.encode() not in HOP]
        status, out, answer = await forwarder.forward(scope.method, scope.path, headers, body)
        protocol.response_bytes(status, out, answer)

    return app


def relay_from_environ() -> Any:
    """Factory for granian's ASGI interface: the ``$BENCH_CLIENT`` relay toward ``$BENCH_UPSTREAM``."""
    import os

    return relay_app(os.environ.get("BENCH_CLIENT", "aiohttp"), os.environ["BENCH_UPSTREAM"])


def rsgi_relay_from_environ() -> Any:
    """Factory for granian's RSGI interface, as :func:`relay_from_environ`."""
    import os

    return rsgi_relay_app(os.environ.get("BENCH_CLIENT", "aiohttp"), os.environ["BENCH_UPSTREAM"])


def start_granian_relay(granian: Path, upstream: str, interface: str, library: str) -> Service:
    port = free_port()
    factory = "relay_from_environ" if interface == "asgi" else "rsgi_relay_from_environ"
    cmd = [str(granian), "--interface", interface, "--loop", "uvloop", "--host", "127.0.0.1"]
    cmd += ["--port", str(port), "--workers", "1", "--no-log", "--factory"]
    cmd += [f"bench.upstream_clients:{factory}"]
    env = {
        "BENCH_UPSTREAM": upstream,
        "BENCH_CLIENT": library,
        "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
    }
    return start_process(f"granian {interface} relay, {library}", cmd, port, env=env)


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


def start_raw_relay(upstream: str) -> Service:
    port = free_port()
    cmd = [sys.executable, "-m", "bench.raw_relay", "--port", str(port), "--upstream", upstream]
    return start_process("raw relay", cmd, port)


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


def _relays(stack: ExitStack, upstream: Service, granian: Path | None) -> list[tuple[str, Service]]:
    libraries = ["aiohttp"] + [
        name for name in ("httpx2", "httpx", "pyreqwest") if importlib.util.find_spec(name)
    ]
    relays = [("raw relay (uvloop + httptools, no HTTP library)", start_raw_relay(upstream.url))]
    for library in libraries:
        relays.append((f"bare relay, uvicorn + {library}", start_child(library, upstream.url)))
    if granian is not None:
        relays.append(
            (
                "bare relay, granian ASGI + aiohttp",
                start_granian_relay(granian, upstream.url, "asgi", "aiohttp"),
            )
        )
        for library in ("aiohttp", "pyreqwest"):
            relays.append(
                (
                    f"bare relay, granian RSGI + {library}",
                    start_granian_relay(granian, upstream.url, "rsgi", library),
                )
            )
    for _, service in relays:
        stack.callback(service.stop)
    return relays


async def run(
    requests: int, concurrencies: list[int], rounds: int, routing: bool, granian: Path | None
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-stacks-") as tmp, ExitStack() as stack:
        upstream = start_child("upstream")
        stack.callback(upstream.stop)
        targets = [("direct (no relay)", upstream), *_relays(stack, upstream, granian)]
        proxy = start_modelpilot("modelpilot proxy", ["proxy", "--upstream", upstream.url])
        stack.callback(proxy.stop)
        targets.append(("modelpilot proxy, routing off", proxy))
        if routing:
            from bench._harness import proxy_under_test

            (routed,) = stack.enter_context(proxy_under_test(upstream.url, Path(tmp), routing=True))
            targets.append(("modelpilot proxy, routing on (shadow)", routed))
        figures: dict[tuple[int, str], list[tuple[float, float, float, float, int]]] = {}
        for _ in range(rounds):
            for concurrency in concurrencies:
                for name, service in targets:
                    cpu_before = service.cpu_s()
                    rps, p50, p99, errors = await measure(service.url, concurrency, requests)
                    warmed = requests + min(50, requests)
                    cpu_us = (service.cpu_s() - cpu_before) / warmed * 1e6
                    figures.setdefault((concurrency, name), []).append((rps, p50, p99, cpu_us, errors))
    rows = []
    for (concurrency, name), runs in figures.items():
        rows.append(
            {
                "path": name,
                "concurrency": concurrency,
                "rps": statistics.median(r[0] for r in runs),
                "p50_ms": statistics.median(r[1] for r in runs),
                "p99_ms": statistics.median(r[2] for r in runs),
                "cpu_us_per_request": statistics.median(r[3] for r in runs),
                "errors": sum(r[4] for r in runs),
            }
        )
    missing = [name for name in ("httpx2", "httpx", "pyreqwest") if not importlib.util.find_spec(name)]
    return {"requests": requests, "rounds": rounds, "rows": rows, "not_installed": missing}


def print_report(result: Mapping[str, Any]) -> None:
    direct = {r["concurrency"]: r for r in result["rows"] if r["path"] == "direct (no relay)"}
    print_table(
        f"HTTP stacks, {result['requests']} requests per row and round, median of {result['rounds']} "
        "interleaved rounds (POST /v1/messages, 400-byte JSON answer)",
        [
            "path",
            "concurrency",
            "req/s",
            "× direct",
            "p50 ms",
            "added p50 ms",
            "p99 ms",
            "CPU µs/request",
            "errors",
        ],
        [
            [
                r["path"],
                str(r["concurrency"]),
                f"{r['rps']:,.0f}",
                f"{r['rps'] / direct[r['concurrency']]['rps']:.2f}",
                f"{r['p50_ms']:.2f}",
                f"{r['p50_ms'] - direct[r['concurrency']]['p50_ms']:+.2f}",
                f"{r['p99_ms']:.2f}",
                f"{r['cpu_us_per_request']:,.0f}",
                str(r["errors"]),
            ]
            for r in result["rows"]
        ],
    )
    if result["not_installed"]:
        print(f"\nnot installed, skipped: {', '.join(result['not_installed'])}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 64])
    parser.add_argument(
        "--rounds", type=int, default=3, help="interleaved rounds (figures are their medians)"
    )
    parser.add_argument("--routing", action="store_true", help="add the proxy with routing on (shadow mode)")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--upstream", help=argparse.SUPPRESS)
    parser.add_argument("--granian", type=Path, help="a granian executable: adds relays it serves")
    json_flag(parser)
    args = parser.parse_args()
    if args.serve:
        run_server(args.serve, args.port, args.upstream)
        return
    result = asyncio.run(run(args.requests, args.concurrency, args.rounds, args.routing, args.granian))
    emit(result, as_json=args.json, report=print_report)


if __name__ == "__main__":
    main()
