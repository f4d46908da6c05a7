"""A team's own evaluator instead of the judge: a Python callable or a loopback URL."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from modelpilot.proxy.calibration.judge import CallableEvaluator, EvaluatorLoadError, UrlEvaluator
from modelpilot.proxy.settings import ProxySettings
from modelpilot.sim import make_prompt
from tests.proxy.calibration import evaluators
from tests.proxy.calibration.conftest import CHEAP, REQUESTED, Harness, body_for


def test_a_callable_replaces_the_judge(harness: Harness) -> None:
    evaluators.CASES.clear()
    _, cp = harness.control_plane(mode="candidate")
    proxy = harness.proxy(cp, judge_callable="tests.proxy.calibration.evaluators:reject_unless_identical")
    with proxy.sdk() as sdk:
        sdk.messages.create(**body_for(make_prompt(0, seed=5)))  # easy: the same strong answer
        sdk.messages.create(**body_for(make_prompt(1, seed=5)))
        sdk.messages.create(**body_for(make_prompt(1, seed=5, short=True)))  # decided exactly
    proxy.settle(3)
    assert not [e for e in proxy.sim_requests() if e.is_judge]
    assert (proxy.verdicts("evaluator", True), proxy.verdicts("evaluator", False)) == (1, 1)
    assert proxy.verdicts("exact", False) == 1
    assert len(evaluators.CASES) == 2
    case = evaluators.CASES[0]
    assert set(case) == {"request", "reference", "candidate", "requested_model", "candidate_model"}
    assert (case["requested_model"], case["candidate_model"]) == (REQUESTED, CHEAP)
    assert case["request"]["messages"] == body_for(make_prompt(0, seed=5))["messages"]
    assert case["reference"]["model"] == REQUESTED and case["candidate"]["model"] == CHEAP


def test_a_coroutine_callable_works_and_a_broken_one_is_counted(harness: Harness) -> None:
    _, cp = harness.control_plane(mode="candidate")
    for name, outcome in (
        ("accept_all", None),
        ("broken", "evaluator_error"),
        ("malformed", "evaluator_malformed"),
    ):
        proxy = harness.proxy(cp, judge_callable=f"tests.proxy.calibration.evaluators:{name}")
        with proxy.sdk() as sdk:
            assert sdk.messages.create(**body_for(make_prompt(1, seed=6))).model == REQUESTED
        proxy.settle(1)
        if outcome is None:
            assert proxy.verdicts("evaluator", True) == 1
        else:
            assert proxy.metrics.calibration_failures.value(outcome) == 1


def test_a_loopback_url_replaces_the_judge(harness: Harness) -> None:
    received: list[dict[str, Any]] = []

    async def evaluator(scope: Any, receive: Any, send: Any) -> None:
        parts, more = [], True
        while more:
            message = await receive()
            parts.append(message.get("body", b""))
            more = message.get("more_body", False)
        case = orjson.loads(b"".join(parts))
        received.append({"path": scope["path"], "headers": dict(scope["headers"]), "case": case})
        answer = orjson.dumps({"acceptable": "certain" not in orjson.dumps(case["candidate"]).decode()})
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": answer})

    url = harness.serve(evaluator)
    _, cp = harness.control_plane(mode="candidate")
    proxy = harness.proxy(cp, judge_url=url + "/evaluate")
    with proxy.sdk() as sdk:
        sdk.messages.create(**body_for(make_prompt(0, seed=8)))
        sdk.messages.create(**body_for(make_prompt(1, seed=8)))
    proxy.settle(2)
    assert (proxy.verdicts("evaluator", True), proxy.verdicts("evaluator", False)) == (1, 1)
    assert [r["path"] for r in received] == ["/evaluate"] * 2
    # The case, never the caller's key.
    assert all(b"x-api-key" not in r["headers"] and b"authorization" not in r["headers"] for r in received)
    assert set(received[0]["case"]) == {
        "request",
        "reference",
        "candidate",
        "requested_model",
        "candidate_model",
    }


def test_an_evaluator_url_must_be_on_loopback_and_a_callable_must_exist() -> None:
    for url in ("http://example.com/evaluate", "http://127.example.com/", "ftp://127.0.0.1/"):
        with pytest.raises(ValueError, match="loopback"):
            UrlEvaluator(url)
        with pytest.raises(ValueError, match="judge_url"):
            ProxySettings(judge_url=url)
    UrlEvaluator("http://[::1]:9/x")
    for spec in ("nomodule", "tests.proxy.calibration.evaluators:missing", "no.such.module:f"):
        with pytest.raises(EvaluatorLoadError):
            CallableEvaluator.load(spec)
    with pytest.raises(ValueError, match="set one"):
        ProxySettings(judge_url="http://127.0.0.1:9/", judge_callable="a:b")
