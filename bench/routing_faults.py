"""What a control-plane fault costs each request: added latency with the circuit closed and open.

    python -m bench.routing_faults [--requests 40] [--budget-ms 25] [--json]

Everything runs in this process on loopback (uvicorn threads): the simulator (no pacing), a
stand-in control plane per fault, and one proxy per row. Each row sends ``--requests`` sequential
non-streaming requests (distinct conversations, so stickiness never answers) and reports the
latency added over the same requests sent through a proxy without a control plane, measured in
the same run. "closed" keeps the breaker from ever opening (every request pays the fault);
"open" lets the first failure open it for the rest of the run.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path
from typing import Any, Literal

import aiohttp
import orjson
import uvicorn

from bench._harness import emit, json_flag, median, percentile, print_table
from modelpilot.proxy.app import create_app
from modelpilot.proxy.decisions import bucket_key
from modelpilot.proxy.settings import ProxySettings
from modelpilot.schema.wire import RouteRequest

FAULTS = ("refused", "timeout", "status_500", "invalid_json", "wrong_schema", "tls")


class StandIn:
    """A control plane that answers per ``mode``: route, hang, status_500, invalid_json, wrong_schema."""

    def __init__(self, mode: str, ttl_s: int = 0) -> None:
        self.mode = mode
        self.ttl_s = ttl_s
        self.calls = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        body = b""
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
        if scope["path"] != "/v1/route":  # the lifespan's warm-up (/healthz), metering
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        self.calls += 1
        if self.mode == "hang":
            with suppress(TimeoutError):
                async with asyncio.timeout(30):
                    await receive()  # until the proxy gives up and drops the connection
            return
        status, answer = 200, b"{}"
        if self.mode == "status_500":
            status = 500
        elif self.mode == "invalid_json":
            answer = b'{"decision_id": '
        elif self.mode == "route":
            request = RouteRequest.model_validate_json(body)
            answer = orjson.dumps(
                {
                    "decision_id": str(uuid.uuid4()),
                    "model": "claude-haiku-4-5",
                    "routed": True,
                    "reason": "cheaper_model",
                    "ttl_s": self.ttl_s,
                    "bucket": bucket_key(request),
                }
            )
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(answer)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": answer})


@contextmanager
def serve(app: Any, *, lifespan: Literal["on", "off"] = "off", **config: Any) -> Iterator[str]:
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="error", lifespan=lifespan, **config)
    )
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.005)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def closed_port() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def tls_url(stack: ExitStack, directory: Path) -> str:
    import trustme  # dev dependency: a CA the proxy does not trust

    cert = trustme.CA().issue_cert("127.0.0.1")
    cert.private_key_pem.write_to_path(str(directory / "key.pem"))
    cert.cert_chain_pems[0].write_to_path(str(directory / "cert.pem"))
    url = stack.enter_context(
        serve(
            StandIn("route"), ssl_keyfile=str(directory / "key.pem"), ssl_certfile=str(directory / "cert.pem")
        )
    )
    return url.replace("http://", "https://")


async def latencies(proxy_url: str, requests: int, tag: str) -> list[float]:
    out: list[float] = []
    async with aiohttp.ClientSession() as session:
        for i in range(requests + 1):
            body = orjson.dumps(
                {
                    "model": "claude-sonnet-4-6",
                    "max_tokens": 50,
                    "messages": [{"role": "user", "content": f"Say hello to {tag} number {i}."}],
                }
            )
            started = time.perf_counter()
            async with session.post(
                proxy_url + "/v1/messages",
                data=body,
                headers={"content-type": "application/json", "x-api-key": "sk-ant-bench"},
            ) as response:
                await response.read()
                assert response.status == 200, response.status
            if i > 0:  # the first request opens connections (and, for "open" rows, the circuit)
                out.append((time.perf_counter() - started) * 1000)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--budget-ms", type=float, default=25.0)
    json_flag(parser)
    args = parser.parse_args()

    from modelpilot.sim import SimSettings
    from modelpilot.sim import create_app as create_sim

    results: list[dict[str, Any]] = []
    with ExitStack() as stack, tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        sim_url = stack.enter_context(serve(create_sim(SimSettings(cheap_failure_rate=0.0))))

        def run(
            row: str, breaker: str, control_url: str | None, stand_in: StandIn | None, **extra: Any
        ) -> None:
            settings = ProxySettings(
                upstream_url=sim_url,
                control_plane_url=control_url,
                control_plane_api_key="mp_bench" if control_url else None,
                spool_path=str(directory / f"{uuid.uuid4().hex}.sqlite3"),
                routing_budget_ms=args.budget_ms,
                **extra,
            )
            app = create_app(settings)
            router = app.router  # the lifespan's shutdown lets go of it
            with serve(app, lifespan="on") as proxy_url:  # as `modelpilot proxy` runs it
                values = asyncio.run(latencies(proxy_url, args.requests, f"{row}-{breaker}"))
            counts = router.client.counts if router is not None else {}
            results.append(
                {
                    "row": row,
                    "breaker": breaker,
                    "p50_ms": median(values),
                    "p95_ms": percentile(values, 95),
                    "mean_ms": sum(values) / len(values),
                    "control_plane_calls": stand_in.calls if stand_in is not None else None,
                    "fail_open": {k[10:]: v for k, v in counts.items() if k.startswith("fail_open:")},
                }
            )

        run("no control plane (baseline)", "-", None, None)
        for ttl, name in ((0, "healthy, decision per request"), (300, "healthy, cached (ttl 300 s)")):
            healthy = StandIn("route", ttl_s=ttl)
            run(name, "closed", stack.enter_context(serve(healthy)), healthy)
        for fault in FAULTS:
            for breaker, extra in (
                ("closed", {"breaker_failures": 10**9}),
                ("open", {"breaker_failures": 1, "breaker_cooldown_s": 3600.0}),
            ):
                stand_in: StandIn | None = None
                if fault == "refused":
                    url = closed_port()
                elif fault == "tls":
                    url = tls_url(stack, directory)
                else:
                    stand_in = StandIn("hang" if fault == "timeout" else fault)
                    url = stack.enter_context(serve(stand_in))
                run(fault, breaker, url, stand_in, **extra)

    emit(
        {"budget_ms": args.budget_ms, "requests": args.requests, "rows": results},
        as_json=args.json,
        report=print_report,
    )


def print_report(result: Mapping[str, Any]) -> None:
    results = result["rows"]
    base = results[0]["p50_ms"]
    rows = [
        [
            r["row"],
            r["breaker"],
            f"{r['p50_ms']:.2f}",
            f"{r['p95_ms']:.2f}",
            f"{r['p50_ms'] - base:+.2f}",
            "-" if r["control_plane_calls"] is None else str(r["control_plane_calls"]),
            " ".join(f"{k}={v}" for k, v in r["fail_open"].items()) or "-",
        ]
        for r in results
    ]
    print_table(
        f"Added latency per request by control-plane fault (budget {result['budget_ms']:g} ms, "
        f"{result['requests']} sequential requests per row, after one warm-up request)",
        [
            "control plane",
            "breaker",
            "p50 ms",
            "p95 ms",
            "p50 added ms",
            "route calls",
            "failed open (incl. warm-up)",
        ],
        rows,
    )


if __name__ == "__main__":
    main()
