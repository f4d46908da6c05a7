"""`modelpilot demo` against a real `modelpilot up`: the workload, its summary, and that the
summary is what the control plane metered."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import click
import pytest

from modelpilot.demo.cli import _client, summary_table
from modelpilot.demo.metered import DeploymentSettings, Totals
from modelpilot.demo.verdicts import quality_lines, shadow_lines
from modelpilot.demo.workload import plan
from tests.stack_process import metered_requests, start_up

CATEGORIES = {
    "classification",
    "extraction",
    "summarization",
    "code",
    "math",
    "translation",
    "chat",
    "reasoning",
}


def _demo(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "MODELPILOT_"))}
    return subprocess.run(
        [sys.executable, "-m", "modelpilot.cli", "demo", *args],
        capture_output=True,
        text=True,
        timeout=100,
        env=env,
    )


def _total_row(output: str) -> list[str]:
    match = re.search(r"^total\s+(.+)$", output, re.MULTILINE)
    assert match is not None, output
    return match.group(1).split()


def test_the_demo_reports_what_the_control_plane_metered(tmp_path: Path) -> None:
    up = start_up(tmp_path, "--flush-interval", "0.5")
    try:
        result = _demo(
            "--base-url", up.base_url, "--requests", "15", "--concurrency", "3", "--state-dir", str(tmp_path)
        )
        # The demo printed its summary once the control plane had every request: read it now.
        metered = metered_requests(tmp_path)
        without_state = _demo(
            "--base-url", up.base_url, "--requests", "2", "--state-dir", str(tmp_path / "none")
        )
    finally:
        assert up.stop() == 0, up.output
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Sent 15 requests in 8 task categories" in result.stdout
    for kind in ("stream", "tool use", "structured", "multi-turn"):
        assert kind in result.stdout
    assert "as metered by the control plane" in result.stdout
    assert "response headers agree" in result.stdout
    # The measured quality follows the savings. The offline stack checks a quarter of routable
    # requests (any four routable requests reach the sampler's threshold), and the demo waits for
    # the checks to settle, so there are verdicts to show.
    assert result.stdout.index("Measured quality") > result.stdout.index("total ")
    assert "  total: " in result.stdout, result.stdout
    assert "Paired quality checks sample 25%" in up.output

    requests, routed, escalated, baseline, actual, savings, _ = _total_row(result.stdout)
    assert int(requests) == metered["requests"] == 15
    assert routed == f"{100 * metered['routed'] / 15:.1f}%"
    assert escalated == f"{100 * metered['escalated'] / 15:.1f}%"
    assert baseline == f"{metered['baseline_cost_micros'] / 1e6:.6f}"
    assert actual == f"{metered['actual_cost_micros'] / 1e6:.6f}"
    assert float(baseline) > 0
    assert savings == f"{(metered['baseline_cost_micros'] - metered['actual_cost_micros']) / 1e6:.6f}"

    assert without_state.returncode == 0, without_state.stdout + without_state.stderr
    assert "computed from the proxy's response headers" in without_state.stdout
    assert "Measured quality: unknown without `modelpilot up`'s state directory" in without_state.stdout
    assert _total_row(without_state.stdout)[0] == "2"


def test_the_demo_names_the_fix_when_no_proxy_answers(tmp_path: Path) -> None:
    result = _demo("--base-url", "http://127.0.0.1:9", "--state-dir", str(tmp_path))
    assert result.returncode == 1
    assert result.stderr.strip().startswith("Error: no ModelPilot proxy answers at http://127.0.0.1:9")
    assert "modelpilot up" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_the_demo_without_the_sdk_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "anthropic", None)
    with pytest.raises(click.ClickException, match=r"pip install .modelpilot\[demo\]."):
        _client("http://127.0.0.1:8787")


@pytest.mark.parametrize("requests", [1, 2, 3, 7, 13, 40, 101])
def test_the_plan_sends_exactly_the_requests_asked_for(requests: int) -> None:
    scripts = plan(requests)
    assert sum(script.requests for script in scripts) == requests
    assert {script.category for script in scripts} <= CATEGORIES


def test_a_plan_of_fifteen_covers_every_category() -> None:
    assert {script.category for script in plan(15)} == CATEGORIES


def test_the_summary_rows_are_per_requested_and_served_model() -> None:
    def bucket(requests: int, actual: int, baseline: int) -> Counter[str]:
        return Counter(requests=requests, actual_cost_micros=actual, baseline_cost_micros=baseline)

    totals = Totals(
        {
            ("chat", "claude-sonnet-4-6", "claude-haiku-4-5", True, False): bucket(3, 1_000, 4_000),
            ("chat", "claude-sonnet-4-6", "claude-sonnet-4-6", True, True): bucket(1, 5_000, 4_000),
            ("code", "claude-sonnet-4-6", "claude-sonnet-4-6", False, False): bucket(4, 8_000, 8_000),
        }
    )
    lines = summary_table(totals)
    rows = {(line.split()[0], line.split()[2]): line.split()[3:] for line in lines if " -> " in line}
    assert rows["claude-sonnet-4-6", "claude-haiku-4-5"] == [
        "3",
        "100.0%",
        "0.0%",
        "0.004000",
        "0.001000",
        "0.003000",
        "75.0%",
    ]
    # 1 of its 5 requests was routed and escalated (served by the requested model after all).
    assert rows["claude-sonnet-4-6", "claude-sonnet-4-6"][:3] == ["5", "20.0%", "20.0%"]
    total = next(line for line in lines if line.startswith("total")).split()
    assert total[1:] == ["8", "50.0%", "12.5%", "0.016000", "0.014000", "0.002000", "12.5%"]


def test_a_refused_key_ends_with_the_fix(tmp_path: Path) -> None:
    from modelpilot.sim import SimSettings, create_app
    from tests.servers import serve

    # An upstream that, like Anthropic, accepts only its own key; the demo's shell has none.
    with serve(create_app(SimSettings(api_keys=frozenset({"sk-ant-the-real-one"})))) as upstream:
        up = start_up(tmp_path, "--upstream", upstream)
        try:
            result = _demo("--base-url", up.base_url, "--requests", "2", "--state-dir", str(tmp_path))
        finally:
            assert up.stop() == 0, up.output
    assert result.returncode == 1
    assert "failed: AuthenticationError" in result.stderr
    assert "The upstream refused the API key: set ANTHROPIC_API_KEY in this shell too." in result.stderr
    assert result.stderr.strip().splitlines()[-1] == "Error: every request failed; see the errors above"
    assert "Traceback" not in result.stderr


def _verdict_totals(**extra: int) -> Totals:
    def bucket(requests: int, **fields: int) -> Counter[str]:
        return Counter(requests=requests, actual_cost_micros=1_000 * requests, **fields)

    return Totals(
        {
            ("chat", "claude-sonnet-4-6", "claude-haiku-4-5", True, False): bucket(
                3, judged=30, acceptable=29, calibration_cost_micros=4_000
            ),
            ("qa", "claude-sonnet-4-6", "claude-haiku-5-5", False, False): bucket(
                0, judged=10, acceptable=9, calibration_cost_micros=1_000
            ),
            ("code", "claude-sonnet-4-6", "claude-sonnet-4-6", False, False): bucket(4, **extra),
        }
    )


def test_the_demo_ends_with_measured_quality_and_calibration_spend() -> None:
    settings = DeploymentSettings(routing_mode="on", quality_target=0.95, calibration_rate_bps=200)
    lines = quality_lines(_verdict_totals(), settings)
    assert lines[1].startswith("  claude-sonnet-4-6 -> claude-haiku-4-5: 96.7% acceptable (95% CI ")
    assert lines[2].startswith("  claude-sonnet-4-6 -> claude-haiku-5-5: 90.0% acceptable (95% CI ")
    assert lines[3].startswith("  total: 95.0% acceptable (95% CI ")
    assert lines[3].endswith("40 judged), target 95.0%: not yet conclusive")
    assert lines[4].startswith("Quality checks cost $0.005000 on your Anthropic key")
    # The calibration-only pair has no row of its own in the savings table (header, 2 pairs).
    table = summary_table(_verdict_totals())
    assert sum(" -> " in line for line in table) == 3
    assert not any("claude-haiku-5-5" in line for line in table)
    assert next(line for line in table if line.startswith("total")).split()[1] == "7"


def test_with_nothing_judged_the_demo_says_how_to_turn_checks_on() -> None:
    empty = Totals({("code", "a", "a", False, False): Counter(requests=1)})
    off = DeploymentSettings(routing_mode="on", quality_target=0.95, calibration_rate_bps=0)
    (line,) = quality_lines(empty, off)
    assert "quality checks (calibration) are off" in line and "Quality checks" in line
    (line,) = quality_lines(empty, DeploymentSettings("on", 0.95, 200))
    assert "sample 2% of routable requests" in line


def test_shadow_mode_leads_with_what_routing_would_have_saved() -> None:
    settings = DeploymentSettings(routing_mode="shadow", quality_target=0.95, calibration_rate_bps=200)
    totals = _verdict_totals(shadow_requests=2, shadow_cost_micros=500)
    lines = shadow_lines(totals, settings)
    # 2 shadow requests at 1,000 each, minus 500 on the cheaper model.
    assert lines[0] == (
        "Shadow mode: nothing was routed. Routing would have saved $0.001500 on these requests "
        "(2 of 7 would have gone to a cheaper model)."
    )
    assert shadow_lines(totals, DeploymentSettings("on", 0.95, 200))  # shadow rows still count
    assert shadow_lines(_verdict_totals(), DeploymentSettings("on", 0.95, 200)) == []


def test_the_demo_finds_the_proxy_where_up_listens(tmp_path: Path) -> None:
    """`up` on any port (here one the OS chose) records where it listens; `demo` reads it, so the
    banner's "Try it" line works as printed."""
    up = start_up(tmp_path, "--flush-interval", "0.5")
    try:
        try_it = re.search(r"Try it: (modelpilot demo[^\n]*?)\s{2,}Press", up.output)
        assert try_it is not None, up.output
        argv = try_it.group(1).split()[2:]
        assert argv == ["--state-dir", str(tmp_path)]
        result = _demo(*argv, "--requests", "2")
    finally:
        assert up.stop() == 0, up.output
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Sent 2 requests" in result.stdout
    assert not (tmp_path / "listening.json").exists()
