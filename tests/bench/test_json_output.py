"""Each benchmark runs end to end at a tiny size and prints one JSON object with its figures.

Smoke tests only: the figures are timings, so what is checked is the shape of the output and that
no request failed, never a value.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[2]


def run_bench(module: str, *args: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", f"bench.{module}", *args, "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1, done.stdout  # one JSON object, nothing else on stdout
    result = json.loads(lines[0])
    assert isinstance(result, dict)
    return result


def is_figure(value: object) -> bool:
    return isinstance(value, int | float) and math.isfinite(value) and value >= 0


@pytest.mark.slow
@pytest.mark.parametrize(("flag", "routing"), [("--routing", "warm"), ("--cold", "cold")])
def test_overhead_with_routing(flag: str, routing: str) -> None:
    result = run_bench("overhead", "--rounds", "1", "--requests", "6", "--throughput-requests", "20", flag)
    assert result["routing"] == routing
    for side in ("direct", "proxy"):
        assert {"p50_ms", "p99_ms", "ttfb_p50_ms", "rps"} <= set(result[side])
        assert all(is_figure(v) for v in result[side].values())
    assert set(result["added"]) == {"p50_ms", "p99_ms", "ttfb_p50_ms"}
    assert is_figure(result["proxy_rss_mb"])


@pytest.mark.slow
def test_overhead_at_one_and_two_workers() -> None:
    result = run_bench(
        "overhead", "--rounds", "1", "--requests", "6", "--throughput-requests", "20", "--workers", "1", "2"
    )
    assert set(result["workers"]) == {"1", "2"}
    for figures in result["workers"].values():
        assert all(
            is_figure(figures[k])
            for k in ("rps", "rps_ratio_to_direct", "rps_ratio_to_first", "cpu_us_per_request", "rss_mb")
        )
    assert result["workers"]["1"]["rps_ratio_to_first"] == 1.0


@pytest.mark.slow
def test_peers_without_the_peers() -> None:
    result = run_bench(
        "peers",
        "--rounds",
        "1",
        "--requests",
        "6",
        "--throughput-requests",
        "20",
        "--concurrency",
        "4",
        "--no-litellm",
        "--no-portkey",
    )
    assert set(result["targets"]) == {"direct", "modelpilot"}
    ours = result["targets"]["modelpilot"]
    assert ours["kinds"] == ["json", "stream", "tool"]
    for key in ("p50_ms", "p99_ms", "ttfb_p50_ms", "rps", "rss_mb"):
        assert is_figure(ours[key]), key
    assert all(key in ours for key in ("added_p50_ms", "added_p99_ms", "added_ttfb_p50_ms"))
    assert result["versions"]["litellm"] not in ("1.82.7", "1.82.8")


@pytest.mark.slow
def test_soak() -> None:
    result = run_bench("soak", "--minutes", "0.05", "--sample-s", "0.5", "--concurrency", "2")
    assert result["requests"] > 0 and result["errors"] == 0
    assert len(result["samples"]) >= 2
    for key in ("start_rss_mb", "end_rss_mb", "peak_rss_mb", "peak_hwm_mb"):
        assert is_figure(result[key]), key
    assert result["peak_rss_mb"] >= max(result["start_rss_mb"], result["end_rss_mb"])


@pytest.mark.slow
def test_control_route_on_sqlite_and_postgresql() -> None:
    args = ["--requests", "20", "--concurrency", "2", "--backend", "sqlite"]
    postgres = os.environ.get("MODELPILOT_TEST_POSTGRES_URL")
    if postgres:
        # A database of its own, beside the test database, dropped and made anew by the benchmark.
        url = make_url(postgres).set(database="bench_control_smoke").render_as_string(hide_password=False)
        args += ["postgresql", "--postgres-url", url]
    result = run_bench("control_route", *args)
    assert set(result["backends"]) == ({"sqlite", "postgresql"} if postgres else {"sqlite"})
    for figures in result["backends"].values():
        assert figures["errors"] == 0
        assert all(is_figure(figures[k]) for k in ("decisions_per_s", "p50_ms", "p99_ms", "rss_mb"))


@pytest.mark.slow
def test_upstream_clients() -> None:
    result = run_bench("upstream_clients", "--requests", "10", "--concurrency", "2", "--rounds", "1")
    paths = {row["path"] for row in result["rows"]}
    assert {
        "direct (no relay)",
        "raw relay (uvloop + httptools, no HTTP library)",
        "bare relay, uvicorn + aiohttp",
        "modelpilot proxy, routing off",
    } <= paths
    assert all(row["errors"] == 0 and row["cpu_us_per_request"] >= 0 for row in result["rows"])


@pytest.mark.slow
def test_routing_faults() -> None:
    result = run_bench("routing_faults", "--requests", "2")
    rows = {(row["row"], row["breaker"]) for row in result["rows"]}
    assert ("no control plane (baseline)", "-") in rows
    assert ("refused", "open") in rows and ("timeout", "closed") in rows


@pytest.mark.slow
def test_features(tmp_path: Path) -> None:
    # An outcome table's shape (one request a row): 3 requests of ~4,000 tokens take 21 of its rows.
    table = tmp_path / "table.jsonl"
    prompt = "Which of these ledger entries is out of balance, and by how much? Entry 17 shows 4,310. " * 25
    rows = [{"id": str(i), "request": {"messages": [{"role": "user", "content": prompt}]}} for i in range(30)]
    table.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    args = ["--tokens", "100", "4000", "--repeat", "3", "--agent-turns", "3"]
    result = run_bench("features", *args, "--real", str(table), "--real-requests", "3")
    # Prose at each size, plus the worst case the learner reads (all-distinct words) at the largest,
    # an agent's conversation with its tools' tally kept and walked anew, and real text.
    assert [(row["tokens"], row["text"]) for row in result["rows"]] == [
        (100, "prose"),
        (4000, "prose"),
        (4000, "varied"),
        (3, "agent"),
        (3, "agent, nothing kept"),
        (4000, "real text (3 requests)"),
    ]
    for row in result["rows"]:
        assert row["input_tokens_estimate"] >= row["tokens"] * 0.5
        assert all(is_figure(row[k]) for k in ("median_us", "p99_us", "us_per_1k_tokens"))


@pytest.mark.slow
def test_ab_of_this_checkout_against_itself() -> None:
    args = ["--base-src", str(ROOT / "src"), "--rounds", "1", "--requests", "4"]
    result = run_bench("ab", *args, "--throughput-requests", "10", "--concurrency", "2")
    for side in ("base", "new"):
        assert all(is_figure(result[side][k]) for k in ("p50_ms", "p99_ms", "rps", "cpu_us_per_request"))
    assert set(result["new_minus_base"]) == set(result["base"])


@pytest.mark.slow
def test_profile_proxy() -> None:
    result = run_bench("profile_proxy", "--requests", "20", "--concurrency", "2")
    assert is_figure(result["rps_while_profiled"])
    assert result["session"]["sample_count"] > 0


def test_spool() -> None:
    result = run_bench("spool", "--adds", "50", "--rounds", "2", "--pace", "200", "--seconds", "0.2")
    assert (result["adds"], result["rounds"]) == (50, 2)
    assert len(result["median_us"]) == 3
    assert all(is_figure(value) for value in result["median_us"].values())
    assert all(is_figure(value) for value in result["paced"].values())


@pytest.mark.slow
def test_pipeline() -> None:
    result = run_bench("pipeline", "--requests", "20", "--rounds", "1")
    assert {row["case"] for row in result["rows"]} == {
        "routing off",
        "routing on, shadow",
        "routing on, routed",
    }
    assert all(row["source"] == "new" and is_figure(row["cpu_us_per_request"]) for row in result["rows"])
