"""ModelPilot beside its peers: the simulator directly, ModelPilot (routing, shadow), LiteLLM, Portkey.

    python -m bench.peers [--rounds 3] [--requests 48] [--concurrency 64]
        [--throughput-requests 600] [--no-litellm] [--no-portkey] [--json]

Every target gets the same request mix (JSON, streaming and tool-use ``POST /v1/messages``) and the
same simulator, in interleaved rounds (the order rotates each round). Per round: latency at
concurrency 1 and streaming time to first byte against an unpaced simulator, then requests/s at
``--concurrency`` against a second simulator that answers after 20 ms. Figures are medians over
rounds; "added" is the target minus the direct hit in the same round.

ModelPilot runs as ``modelpilot proxy`` with routing in shadow mode: every request is decided by a
local ``modelpilot control`` (SQLite, one worker; the decision cache warmed by a pass over the mix
before the rounds) and metered, but the requested model is served, so ModelPilot does the same
upstream work as the other targets (routed to a cheaper model, the simulator would answer faster
and flatter the figures).

LiteLLM's proxy (``litellm==1.110.2``: never 1.82.7 or 1.82.8, which were published compromised)
is installed with the proxy extra's requirements that the registry has into a throwaway virtualenv
under ``~/.cache/modelpilot-bench`` and configured (config written here) to forward Anthropic
``/v1/messages`` to the simulators, with a master key and no database. Portkey's gateway
(``@portkey-ai/gateway``, npm) is installed beside it and reached with ``x-portkey-provider:
anthropic`` and ``x-portkey-custom-host``. A peer that fails a streaming probe is measured on the
non-streaming part of the mix (against a direct baseline on the same part), and the table says so.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from bench._harness import (
    BENCH_KEY,
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
    start_routed_proxy,
)
from bench._traffic import (
    HEADERS,
    KINDS,
    MODEL,
    latency_round,
    request_mix,
    throughput_body,
    throughput_round,
)

LITELLM_VERSION = "1.110.2"
COMPROMISED_LITELLM = frozenset({"1.82.7", "1.82.8"})
PORTKEY_VERSION = "1.15.2"
LITELLM_MASTER_KEY = "sk-litellm-bench-master-0000"
#: The throughput rounds ask for this model: the peers map it to the 20 ms simulator.
SLOW_MODEL = "claude-haiku-4-5"
NON_STREAMING = frozenset(KINDS - {"stream"})


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "modelpilot-bench"


@dataclass
class Target:
    """One column of the comparison: where its latency and throughput requests go."""

    name: str
    latency_url: str
    throughput_url: str
    service: Service | None = None
    latency_headers: dict[str, str] = field(default_factory=dict)
    throughput_headers: dict[str, str] = field(default_factory=dict)
    kinds: frozenset[str] = KINDS
    note: str = ""


# -- installing the peers ----------------------------------------------------------------------
def _proxy_extra_requirements(python: Path) -> list[str]:
    script = (
        "from importlib.metadata import requires\n"
        "from packaging.requirements import Requirement\n"
        "for text in requires('litellm') or []:\n"
        "    req = Requirement(text)\n"
        "    if req.marker and req.marker.evaluate({'extra': 'proxy'})"
        " and not req.marker.evaluate({'extra': ''}):\n"
        "        print(str(req).split(';')[0].strip())\n"
    )
    done = subprocess.run([str(python), "-c", script], capture_output=True, text=True, check=True)
    return done.stdout.split()


def ensure_litellm(root: Path) -> Path:
    """The throwaway virtualenv holding LiteLLM's proxy (created once, then reused)."""
    if LITELLM_VERSION in COMPROMISED_LITELLM:
        raise SystemExit(f"litellm {LITELLM_VERSION} was published compromised; pick another release")
    venv = root / f"litellm-{LITELLM_VERSION}"
    marker = venv / ".bench-ready"
    if marker.exists():
        return venv
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    print(f"installing litellm=={LITELLM_VERSION} into {venv} ...", file=sys.stderr)
    subprocess.run([*pip, f"litellm=={LITELLM_VERSION}"], check=True)
    # litellm[proxy] pins a few packages the registry does not have: install the rest.
    wanted = _proxy_extra_requirements(python)
    skipped: list[str] = []
    while True:
        done = subprocess.run([*pip, *wanted], capture_output=True, text=True, check=False)
        if done.returncode == 0:
            break
        missing = re.search(r"No matching distribution found for (\S+)", done.stderr)
        if missing is None or missing.group(1) not in wanted:
            raise RuntimeError(f"installing litellm's proxy requirements failed:\n{done.stderr[-3000:]}")
        wanted.remove(missing.group(1))
        skipped.append(missing.group(1))
    marker.write_text(json.dumps({"litellm": LITELLM_VERSION, "not_on_registry": skipped}))
    print(f"litellm proxy extra: not on the registry, skipped: {', '.join(skipped)}", file=sys.stderr)
    return venv


def ensure_portkey(root: Path) -> Path | None:
    """Portkey's gateway entry point (installed once with npm), or None without node/npm."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        return None
    prefix = root / f"portkey-{PORTKEY_VERSION}"
    entry = prefix / "node_modules" / "@portkey-ai" / "gateway" / "build" / "start-server.js"
    if not entry.exists():
        prefix.mkdir(parents=True, exist_ok=True)
        print(f"installing @portkey-ai/gateway@{PORTKEY_VERSION} into {prefix} ...", file=sys.stderr)
        subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", f"@portkey-ai/gateway@{PORTKEY_VERSION}"],
            cwd=prefix,
            check=True,
            stdout=subprocess.DEVNULL,
        )
    return entry


# -- starting the peers ------------------------------------------------------------------------
def litellm_config(fast_url: str, slow_url: str) -> str:
    """LiteLLM's config: each model name to one simulator, a master key, no database."""

    def entry(model: str, api_base: str) -> str:
        return (
            f'  - model_name: "{model}"\n'
            "    litellm_params:\n"
            f'      model: "anthropic/{model}"\n'
            f'      api_base: "{api_base}"\n'
            f'      api_key: "{BENCH_KEY}"\n'
        )

    return (
        "model_list:\n"
        + entry(MODEL, fast_url)
        + entry(SLOW_MODEL, slow_url)
        + f'general_settings:\n  master_key: "{LITELLM_MASTER_KEY}"\n'
        + "litellm_settings:\n  telemetry: false\n"
    )


def start_litellm(venv: Path, workdir: Path, fast_url: str, slow_url: str) -> Service:
    config = workdir / "litellm.yaml"
    config.write_text(litellm_config(fast_url, slow_url))
    port = free_port()
    env: dict[str, str | None] = {
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",  # no fetch of the price list at start-up
        "LITELLM_LOG": "ERROR",
        "DATABASE_URL": None,
    }
    cmd = [str(venv / "bin" / "litellm"), "--config", str(config), "--host", "127.0.0.1"]
    cmd += ["--port", str(port), "--num_workers", "1"]
    return start_process("litellm", cmd, port, env=env, cwd=workdir, timeout_s=180)


def start_portkey(entry: Path, workdir: Path) -> Service:
    port = free_port()
    cmd = ["node", str(entry), f"--port={port}", "--headless"]
    return start_process("portkey", cmd, port, env={"NODE_ENV": "production"}, cwd=workdir, timeout_s=60)


async def streaming_failure(target: Target) -> str | None:
    """None if ``target`` relays a stream, else what went wrong."""
    body = next(body for kind, body in request_mix() if kind == "stream")
    headers = {**HEADERS, **target.latency_headers}
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{target.latency_url}/v1/messages", data=body, headers=headers) as response,
    ):
        text = await response.text()
        if response.status != 200 or "message_stop" not in text:
            return f"streaming /v1/messages answered {response.status}: {text[:120]}"
    return None


# -- measuring ---------------------------------------------------------------------------------
async def warm(target: Target) -> None:
    """One pass over the mix (warms connection pools and ModelPilot's decision cache)."""
    await latency_round(
        target.latency_url, len(request_mix(target.kinds)), target.latency_headers, target.kinds
    )


async def measure(args: argparse.Namespace, targets: list[Target]) -> dict[str, Any]:
    direct = targets[0]
    subsets = sorted({t.kinds for t in targets}, key=len, reverse=True)
    for target in targets:
        await warm(target)
    per_round: list[dict[str, dict[str, float]]] = []
    for round_no in range(args.rounds):
        shift = round_no % len(targets)
        order = targets[shift:] + targets[:shift]
        figures: dict[str, dict[str, float]] = {}
        for target in order:
            sample = await latency_round(
                target.latency_url, args.requests, target.latency_headers, target.kinds
            )
            figures[target.name] = sample.figures()
        for kinds in subsets[1:]:  # the direct baseline for peers measured without streams
            sample = await latency_round(direct.latency_url, args.requests, direct.latency_headers, kinds)
            figures[_direct_on(kinds)] = sample.figures()
        for target in order:
            figures[target.name]["rps"] = await throughput_round(
                target.throughput_url,
                args.throughput_requests,
                args.concurrency,
                target.throughput_headers,
                throughput_body(SLOW_MODEL),
            )
        per_round.append(figures)

    results: dict[str, Any] = {}
    for target in targets:
        baseline = direct.name if target.kinds == KINDS else _direct_on(target.kinds)

        def med(key: str, name: str = target.name) -> float:
            return median([r[name][key] for r in per_round])

        def added(key: str, name: str = target.name, base: str = baseline) -> float:
            return median([r[name][key] - r[base][key] for r in per_round])

        service = target.service
        results[target.name] = {
            "p50_ms": med("p50_ms"),
            "p99_ms": med("p99_ms"),
            "ttfb_p50_ms": med("ttfb_p50_ms") if "stream" in target.kinds else None,
            "added_p50_ms": added("p50_ms"),
            "added_p99_ms": added("p99_ms"),
            "added_ttfb_p50_ms": added("ttfb_p50_ms") if "stream" in target.kinds else None,
            "rps": med("rps"),
            "rss_mb": service.tree_rss_mb() if service is not None else None,
            "kinds": sorted(target.kinds),
            "note": target.note,
        }
    ours = results["modelpilot"]
    for name, figures in results.items():
        if name in ("direct", "modelpilot"):
            continue
        figures["modelpilot_rps_ratio"] = ours["rps"] / figures["rps"]
        figures["added_p50_ratio"] = figures["added_p50_ms"] / max(ours["added_p50_ms"], 1e-3)
    return {
        "rounds": args.rounds,
        "requests_per_round": args.requests,
        "concurrency": args.concurrency,
        "throughput_requests": args.throughput_requests,
        "versions": {"litellm": LITELLM_VERSION, "portkey_gateway": PORTKEY_VERSION},
        "targets": results,
    }


def _direct_on(kinds: frozenset[str]) -> str:
    return "direct[" + "+".join(sorted(kinds)) + "]"


def print_report(result: Mapping[str, Any]) -> None:
    def num(value: float | None, fmt: str) -> str:
        return "-" if value is None else format(value, fmt)

    rows = []
    for name, f in result["targets"].items():
        is_direct = name == "direct"
        rows.append(
            [
                name + ("" if f["kinds"] == sorted(KINDS) else " (no streams)"),
                num(f["p50_ms"], ".2f"),
                "-" if is_direct else num(f["added_p50_ms"], "+.2f"),
                "-" if is_direct else num(f["added_p99_ms"], "+.2f"),
                num(f["ttfb_p50_ms"], ".2f"),
                "-" if is_direct else num(f["added_ttfb_p50_ms"], "+.2f"),
                num(f["rps"], ",.0f"),
                num(f["rss_mb"], ".0f"),
                num(f.get("modelpilot_rps_ratio"), ".1f") + "x" if "modelpilot_rps_ratio" in f else "-",
                num(f.get("added_p50_ratio"), ".1f") + "x" if "added_p50_ratio" in f else "-",
            ]
        )
    print_table(
        f"ModelPilot and peers: median of {result['rounds']} interleaved rounds; latency over "
        f"{result['requests_per_round']} sequential requests, requests/s over "
        f"{result['throughput_requests']} at concurrency {result['concurrency']} (20 ms upstream)",
        [
            "target",
            "p50 ms",
            "added p50",
            "added p99",
            "TTFB p50",
            "added TTFB",
            "req/s",
            "RSS MB",
            "MP req/s ratio",
            "peer/MP added p50",
        ],
        rows,
    )
    for name, f in result["targets"].items():
        if f["note"]:
            print(f"\n{name}: {f['note']}")


@contextmanager
def running_targets(args: argparse.Namespace, workdir: Path) -> Iterator[list[Target]]:
    with ExitStack() as stack:

        def started(service: Service) -> Service:
            stack.callback(service.stop)
            return service

        fast = started(start_modelpilot("simulator", ["sim"]))
        slow = started(start_modelpilot("slow simulator", ["sim", "--ttft-ms", "20"]))
        targets = [Target("direct", fast.url, slow.url, service=fast)]
        # Shadow mode: every decision is asked for and metered, the requested model is served,
        # so ModelPilot does the same upstream work as direct and the peers.
        plane = stack.enter_context(
            control_plane(f"sqlite:///{workdir / 'control.sqlite3'}", workdir, routing_mode="shadow")
        )
        ours = started(start_routed_proxy(fast.url, plane, workdir))
        # ModelPilot forwards the caller's headers: the simulator's pacing header reaches it.
        targets.append(
            Target(
                "modelpilot",
                ours.url,
                ours.url,
                service=ours,
                throughput_headers={"x-sim-latency": "ttft_ms=20"},
            )
        )
        if not args.no_litellm:
            venv = ensure_litellm(cache_root())
            litellm = started(start_litellm(venv, workdir, fast.url, slow.url))
            key = {"x-api-key": LITELLM_MASTER_KEY}
            targets.append(
                Target(
                    "litellm", litellm.url, litellm.url, litellm, latency_headers=key, throughput_headers=key
                )
            )
        if not args.no_portkey:
            entry = ensure_portkey(cache_root())
            if entry is None:
                print("portkey: skipped, node/npm not found", file=sys.stderr)
            else:
                portkey = started(start_portkey(entry, workdir))

                def via(upstream: Service) -> dict[str, str]:
                    return {"x-portkey-provider": "anthropic", "x-portkey-custom-host": upstream.url + "/v1"}

                targets.append(Target("portkey", portkey.url, portkey.url, portkey, via(fast), via(slow)))
        for target in targets[2:]:
            failure = asyncio.run(streaming_failure(target))
            if failure is not None:
                target.kinds = NON_STREAMING
                target.note = f"measured without streams: {failure}"
        yield targets


def main(argv: list[str] | None = None) -> int:
    parser = bench_parser(__doc__)
    round_options(parser, rounds=3, requests=48, throughput_requests=600)
    parser.add_argument("--no-litellm", action="store_true", help="leave LiteLLM out")
    parser.add_argument("--no-portkey", action="store_true", help="leave Portkey out")
    json_flag(parser)
    args = parser.parse_args(argv)
    with (
        tempfile.TemporaryDirectory(prefix="bench-peers-") as tmp,
        running_targets(args, Path(tmp)) as targets,
    ):
        result = asyncio.run(measure(args, targets))
    emit(result, as_json=args.json, report=print_report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
