"""What the proxy's own code costs per request, without its HTTP server and client.

    python -m bench.pipeline [--requests 3000] [--rounds 5] [--base-src DIR] [--profile CASE] [--json]

The proxy's ASGI app, built by ``create_app`` as ``modelpilot proxy`` builds it, is called
in-process with the benchmarks' small Messages request, behind an in-memory upstream that answers
at once. What is timed is everything the proxy's own code does for a request (the trust boundary,
reading the body, features and the local learner, the decision, the attempt, the relay, metering
and the spool's commit) and none of uvicorn's or aiohttp's work, which ``bench.upstream_clients``
measures. Cases:

- ``routing off``: no control plane and no spool (``modelpilot proxy --upstream ...``);
- ``routing on, shadow``: a control plane configured (never called: the decision for the
  request's bucket is in the decision cache, as it is after the first request of a bucket), a spool
  file, the local learner; the decision is shadow mode's (served as requested);
- ``routing on, routed``: the same with a decision that serves the cheaper model.

Each case runs in a child process of its own (``--base-src DIR`` runs each case on that source
tree too, e.g. ``git archive REV src | tar -x -C /tmp/base``, interleaved with this checkout's);
each figure is the median over ``--rounds`` of the mean CPU time per request of a round
(``time.process_time``). ``--profile CASE [--sort cumulative]`` prints cProfile's table for one
case instead.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson

from bench._harness import emit, json_flag, print_table

CASES = ("routing off", "routing on, shadow", "routing on, routed")
MODEL = "claude-sonnet-4-6"
CHEAPER = "claude-haiku-4-5"
BODY = orjson.dumps(
    {"model": MODEL, "max_tokens": 64, "messages": [{"role": "user", "content": "Say hello."}]}
)
HEADERS = [
    (b"host", b"127.0.0.1:8787"),
    (b"x-api-key", b"sk-ant-bench-0000"),
    (b"anthropic-version", b"2023-06-01"),
    (b"content-type", b"application/json"),
    (b"content-length", str(len(BODY)).encode()),
]


def _answer(model: str) -> bytes:
    return orjson.dumps(
        {
            "id": "msg_01Bench",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [{"type": "text", "text": "Hello!"}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": 12, "output_tokens": 4},
        }
    )


class _Answer:
    """An upstream answer that has arrived whole."""

    def __init__(self, body: bytes) -> None:
        self.status = 200
        self.raw_headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ]
        self._body = body

    async def iter_chunks(self) -> Any:
        yield self._body

    def close(self) -> None:
        pass

    def release(self) -> None:
        pass


class _InstantUpstream:
    """An ``UpstreamClient`` that answers every request at once with a short message."""

    def __init__(self) -> None:
        self._answers: dict[str, bytes] = {}

    async def send(self, method: str, target: str, headers: Any, body: Any) -> _Answer:
        model = orjson.loads(body).get("model", MODEL) if isinstance(body, bytes) else MODEL
        answer = self._answers.get(model)
        if answer is None:
            answer = self._answers[model] = _answer(model)
        return _Answer(answer)

    async def aclose(self) -> None:
        pass


def _app(case: str, workdir: Path) -> Any:
    from modelpilot.proxy.app import create_app
    from modelpilot.proxy.settings import ProxySettings

    options: dict[str, Any] = {"upstream_url": "http://127.0.0.1:9"}
    if case != "routing off":
        options |= {
            "control_plane_url": "http://127.0.0.1:9",
            "control_plane_api_key": "mp_bench_" + "0" * 32,
            "spool_path": str(workdir / f"spool-{uuid.uuid4().hex[:8]}.sqlite3"),
            "calibration_rate_bps": 0,
        }
    app = create_app(ProxySettings(**options), upstream=_InstantUpstream(), on_record=lambda record: None)
    if app.router is not None:
        _prefill(app, case)
    return app


def _prefill(app: Any, case: str) -> None:
    """Put the decision for the request's bucket in the decision cache, so none is asked for."""
    from modelpilot.proxy.features.wire_request import bucket_key, route_request_and_example
    from modelpilot.schema.wire import DecisionReason, RouteDecision

    built = route_request_and_example(orjson.loads(BODY), app.router.learner)
    assert built is not None
    request, _ = built
    routed = case == "routing on, routed"
    decision = RouteDecision(
        decision_id=str(uuid.uuid4()),
        model=CHEAPER if routed else MODEL,
        routed=routed,
        reason=DecisionReason.CHEAPER_MODEL if routed else DecisionReason.SHADOW,
        ttl_s=86_400,
        bucket=bucket_key(request),
        shadow_model=None if routed else CHEAPER,
        candidate_model=CHEAPER,
    )
    app.router.client.cache.put(MODEL, decision)


async def _one(app: Any) -> None:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/messages",
        "raw_path": b"/v1/messages",
        "query_string": b"",
        "headers": HEADERS,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8787),
    }
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": BODY, "more_body": False}
        await asyncio.Event().wait()  # the caller stays: no disconnect
        raise AssertionError("not reached")

    status = 0

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    if status != 200:
        raise RuntimeError(f"the proxy answered {status}")


async def _measure(case: str, requests: int, rounds: int) -> list[float]:
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp:
        app = _app(case, Path(tmp))
        try:
            for _ in range(200):  # warm caches and the learner's first analyses
                await _one(app)
            means = []
            for _ in range(rounds):
                started = time.process_time()
                for _ in range(requests):
                    await _one(app)
                means.append((time.process_time() - started) / requests * 1e6)
        finally:
            await app.aclose()
    return means


def _child(case: str, requests: int, rounds: int, profile: bool, sort: str = "tottime") -> None:
    if profile:
        profiler = cProfile.Profile()
        profiler.enable()
        asyncio.run(_measure(case, requests, 1))
        profiler.disable()
        pstats.Stats(profiler).sort_stats(sort).print_stats(60)
        return
    try:
        import uvloop

        means = uvloop.run(_measure(case, requests, rounds))
    except ImportError:
        means = asyncio.run(_measure(case, requests, rounds))
    print(json.dumps(means))


def _run_child(src: Path, case: str, requests: int, rounds: int) -> list[float]:
    env = {**os.environ, "PYTHONPATH": f"{src}{os.pathsep}{Path(__file__).resolve().parents[1]}"}
    cmd = [sys.executable, "-m", "bench.pipeline", "--child", case]
    cmd += ["--requests", str(requests), "--rounds", str(rounds)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{case} on {src} failed:\n{done.stderr[-2000:]}")
    return [float(x) for x in json.loads(done.stdout.strip().splitlines()[-1])]


def measure(requests: int, rounds: int, sources: Mapping[str, Path]) -> dict[str, Any]:
    """Interleaved: each round runs every case on every source in a child process of its own."""
    figures: dict[tuple[str, str], list[float]] = {}
    for _ in range(rounds):
        for case in CASES:
            for name, src in sources.items():
                means = _run_child(src, case, requests, 1)
                figures.setdefault((name, case), []).extend(means)
    rows = [
        {"source": name, "case": case, "cpu_us_per_request": statistics.median(values), "rounds": len(values)}
        for (name, case), values in figures.items()
    ]
    return {
        "requests": requests,
        "rounds": rounds,
        "sources": {k: str(v) for k, v in sources.items()},
        "rows": rows,
    }


def print_report(result: Mapping[str, Any]) -> None:
    rows = result["rows"]
    by_case: dict[str, dict[str, float]] = {}
    for row in rows:
        by_case.setdefault(row["case"], {})[row["source"]] = row["cpu_us_per_request"]
    sources = list(result["sources"])
    header = ["case", *[f"{name} µs/request" for name in sources]]
    if "base" in sources and "new" in sources:
        header += ["new − base", "new / base"]
    table: list[Sequence[str]] = []
    for case, values in by_case.items():
        line = [case, *[f"{values[name]:.1f}" for name in sources]]
        if "base" in values and "new" in values:
            line += [f"{values['new'] - values['base']:+.1f}", f"{values['new'] / values['base']:.3f}"]
        table.append(line)
    print_table(
        f"The proxy's own CPU per request (in-process, no HTTP server or client), {result['requests']} "
        f"requests per round, median of {result['rounds']} interleaved rounds",
        header,
        table,
    )
    for name, src in result["sources"].items():
        print(f"  {name}: {src}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--base-src", type=Path, help="also run each case on this source tree")
    parser.add_argument("--profile", choices=CASES, help="print cProfile's table for one case")
    parser.add_argument(
        "--sort", default="tottime", help="the profile's order (pstats: tottime, cumulative, ...)"
    )
    parser.add_argument("--child", choices=CASES, help=argparse.SUPPRESS)
    json_flag(parser)
    args = parser.parse_args(argv)
    if args.child or args.profile:
        _child(
            args.child or args.profile, args.requests, args.rounds, profile=bool(args.profile), sort=args.sort
        )
        return 0
    here = Path(__file__).resolve().parents[1] / "src"
    sources = {"new": here} if args.base_src is None else {"base": args.base_src.resolve(), "new": here}
    emit(measure(args.requests, args.rounds, sources), as_json=args.json, report=print_report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
