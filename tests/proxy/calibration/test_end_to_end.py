"""Paired checks through the real proxy: the SDK as the caller, the simulator upstream (its latent
difficulty decides what the cheaper model gets wrong), a stand-in control plane."""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

import aiohttp
import orjson
import pytest

from modelpilot.sim import make_prompt
from tests.proxy.calibration.conftest import API_KEY, CHEAP, REQUESTED, Harness, body_for

_IDS = re.compile(rb"(msg|req|toolu)_01\w+")


def post_raw(url: str, body: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
    """The caller's answer as bytes (ids masked: the simulator draws fresh ones per answer)."""

    async def run() -> tuple[int, dict[str, str], bytes]:
        async with aiohttp.ClientSession(auto_decompress=False) as session:
            headers = {
                "content-type": "application/json",
                "x-api-key": API_KEY,
                "anthropic-version": "2023-06-01",
            }
            async with session.post(
                url + "/v1/messages", data=orjson.dumps(body), headers=headers
            ) as response:
                kept = {
                    k.lower(): v for k, v in response.headers.items() if k.lower().startswith("x-modelpilot")
                }
                kept.pop("x-modelpilot-decision-id", None)
                return response.status, kept, _IDS.sub(rb"\1_01X", await response.read())

    return asyncio.run(run())


@pytest.mark.parametrize("stream", [False, True])
def test_a_sampled_request_answers_the_caller_exactly_like_an_unsampled_one(
    harness: Harness, stream: bool
) -> None:
    _, cp = harness.control_plane(mode="candidate")
    sampled = harness.proxy(cp)
    unsampled = harness.proxy(cp, calibration_rate_bps=0)
    body = body_for(make_prompt(1, seed=4), stream=stream)
    assert post_raw(sampled.url, body) == post_raw(unsampled.url, body)
    sampled.settle(1)
    assert unsampled.metrics.calibration_checks.value() == 0
    # The order of events: the caller's request upstream, its answer committed for the caller,
    # and only then the candidate's request and the judge's two calls.
    events = [e for e in harness.events if e.kind == "record" or e.model is not None]
    first_record = next(i for i, e in enumerate(events) if e.kind == "record")
    side = [(i, e) for i, e in enumerate(events) if e.kind == "sim" and (e.model == CHEAP or e.is_judge)]
    assert [e.model for _, e in side] == [CHEAP, REQUESTED, REQUESTED]
    assert all(i > first_record for i, _ in side)
    candidate = side[0][1].document
    assert candidate.get("stream", False) is False  # the candidate is asked without streaming
    unchanged = ("model", "stream")
    assert {k: v for k, v in candidate.items() if k not in unchanged} == {
        k: v for k, v in body.items() if k not in unchanged
    }


def test_a_sampled_request_the_policy_routed_is_served_by_the_requested_model(harness: Harness) -> None:
    control, cp = harness.control_plane(mode="route")
    proxy = harness.proxy(cp, calibration_rate_bps=5_000)
    with proxy.sdk() as sdk:
        served = []
        for i in range(6):
            raw = sdk.messages.with_raw_response.create(**body_for(make_prompt(0, seed=i)))
            served.append((raw.parse().model, raw.headers["x-modelpilot-routed"]))
    proxy.settle(3)
    # 50 % of 6 routable requests: exactly 3 sampled (never more than the rate rounded up, never
    # fewer than it rounded down), each served by the requested model; the others routed.
    assert set(served) == {(CHEAP, "true"), (REQUESTED, "false")}
    assert served.count((REQUESTED, "false")) == 3
    assert proxy.verdicts("judge", True) == 3


def test_verdicts_follow_the_latent_difficulty(harness: Harness) -> None:
    _, cp = harness.control_plane(mode="candidate")
    proxy = harness.proxy(cp)
    with proxy.sdk() as sdk:
        for level, short in ((0, False), (1, False), (0, True), (1, True)):
            sdk.messages.create(**body_for(make_prompt(level, seed=7, short=short)))
    proxy.settle(4)
    assert proxy.verdicts("judge", True) == 1  # easy: haiku's answer is the strong one
    assert proxy.verdicts("judge", False) == 1  # hard: the judge finds haiku's answer worse
    assert proxy.verdicts("exact", True) == 1
    assert proxy.verdicts("exact", False) == 1


def test_exact_comparison_short_circuits_the_judge(harness: Harness) -> None:
    _, cp = harness.control_plane(mode="shadow")
    proxy = harness.proxy(cp)
    tool = {
        "name": "get_weather",
        "description": "Weather for a city",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    }
    with proxy.sdk() as sdk:
        sdk.messages.create(**body_for(make_prompt(0, seed=2, short=True)))
        forced = {"type": "tool", "name": "get_weather"}
        sdk.messages.create(**body_for(make_prompt(0, seed=2), tools=[tool], tool_choice=forced))
        sdk.messages.create(**body_for(make_prompt(1, seed=2), tools=[tool], tool_choice=forced))
    proxy.settle(3)
    assert not [e for e in proxy.sim_requests() if e.is_judge]
    assert (proxy.verdicts("exact", True), proxy.verdicts("exact", False)) == (2, 1)


def test_the_judge_is_asked_twice_with_the_answers_swapped(harness: Harness) -> None:
    _, cp = harness.control_plane(mode="candidate")
    proxy = harness.proxy(cp, judge_model="claude-opus-4-6")
    with proxy.sdk() as sdk:
        sdk.messages.create(**body_for(make_prompt(1, seed=11)))
    proxy.settle(1)
    judge_calls = [e.document for e in proxy.sim_requests() if e.is_judge]
    assert [d["model"] for d in judge_calls] == ["claude-opus-4-6"] * 2
    texts = [d["messages"][0]["content"] for d in judge_calls]
    weak_first = sorted("<answer_a>I am not certain" in text for text in texts)
    assert weak_first == [False, True]  # the candidate's (weak) answer was A once and B once
    assert proxy.verdicts("judge", False) == 1


def test_failed_checks_are_counted_and_never_reach_the_caller(harness: Harness) -> None:
    _, cp = harness.control_plane(mode="candidate")
    proxy = harness.proxy(cp, judge_model="claude-opus-4-6")
    faults = {
        "candidate_error": {"x-sim-fault": f"status=500;model={CHEAP}"},
        "judge_error": {"x-sim-fault": "status=529;model=claude-opus-4-6"},
        "judge_malformed": {"x-sim-behaviour": "bad_json"},
    }
    for reason, headers in faults.items():
        with proxy.sdk(**headers) as sdk:
            message = sdk.messages.create(**body_for(make_prompt(1, seed=3)))
        assert message.model == REQUESTED and message.stop_reason == "end_turn", reason
    proxy.settle(3)
    for reason in faults:
        assert proxy.metrics.calibration_failures.value(reason) == 1, reason
    assert proxy.metrics.calibration_verdicts.samples() == []


def test_no_checks_when_the_rate_or_the_cap_is_zero(harness: Harness) -> None:
    _, cp = harness.control_plane(mode="route")
    for settings in ({"calibration_rate_bps": 0}, {"calibration_daily_cap_micros": 0}):
        proxy = harness.proxy(cp, **settings)
        with proxy.sdk() as sdk:
            models = {sdk.messages.create(**body_for(make_prompt(0, seed=i))).model for i in range(3)}
        assert models == {CHEAP}
        assert proxy.metrics.calibration_checks.value() == 0
    assert not [e for e in harness.events if e.kind == "sim" and e.is_judge]


def test_calibration_rows_carry_verdicts_and_spend_and_no_savings(harness: Harness) -> None:
    control, cp = harness.control_plane(mode="route")
    proxy = harness.proxy(cp, lifespan=True, flush_interval_s=0.05)
    with proxy.sdk() as sdk:
        sdk.messages.create(**body_for(make_prompt(0, seed=1)))
        sdk.messages.create(**body_for(make_prompt(1, seed=1)))
    proxy.settle(2)
    deadline = time.monotonic() + 20
    while sum(r.judged for r in control.meter_rows()) < 2:
        assert time.monotonic() < deadline, control.meter_rows()
        time.sleep(0.01)
    rows = control.meter_rows()
    calibration = [r for r in rows if r.requests == 0]
    served = [r for r in rows if r.requests > 0]
    # The two checks' rows (one bucket, unless a flush fell between them).
    assert {(r.served_model, r.requested_model, r.routed, r.escalated) for r in calibration} == {
        (CHEAP, REQUESTED, True, False)
    }
    assert (sum(r.judged for r in calibration), sum(r.acceptable for r in calibration)) == (2, 1)
    assert all(
        (r.actual_cost_micros, r.baseline_cost_micros, r.input_tokens, r.output_tokens) == (0, 0, 0, 0)
        for r in calibration
    )
    assert proxy.app.calibrator is not None
    assert (
        sum(r.calibration_cost_micros for r in calibration) == proxy.app.calibrator.ledger.spent_today() > 0
    )
    # The callers' own rows: served by the requested model (both were sampled), no calibration.
    assert {(r.served_model, r.routed) for r in served} == {(REQUESTED, False)}
    assert sum(r.requests for r in served) == 2
    assert all(r.calibration_cost_micros == 0 and r.judged == 0 for r in served)
    assert all(r.actual_cost_micros == r.baseline_cost_micros for r in served)
