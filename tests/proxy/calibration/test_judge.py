"""The Anthropic judge behind the upstream seam: position swap, structured verdicts, failures and
the budget it must stay within (a plain function stands in for the upstream)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

import orjson
import pytest

from modelpilot.proxy.calibration.calls import CheckFailedError
from modelpilot.proxy.calibration.judge import VERDICT_SCHEMA, AnthropicJudge, EvaluationCase
from modelpilot.proxy.upstream import RequestBody
from modelpilot.schema.catalog import load_catalog

CATALOG = load_catalog()


class _Answer:
    def __init__(self, status: int, body: bytes) -> None:
        self.status = status
        self.raw_headers: Sequence[tuple[bytes, bytes]] = [(b"content-type", b"application/json")]
        self._body = body

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        yield self._body

    def close(self) -> None:
        pass

    def release(self) -> None:
        pass


class StandInUpstream:
    """Answers every judge call with ``better`` (a letter, or raw text), records the bodies."""

    def __init__(self, better: str, *, status: int = 200, raw: str | None = None) -> None:
        self.better = better
        self.status = status
        self.raw = raw
        self.bodies: list[dict[str, Any]] = []

    async def send(
        self, method: str, target: str, headers: list[tuple[str, str]], body: RequestBody
    ) -> _Answer:
        assert isinstance(body, bytes) and (method, target) == ("POST", "/v1/messages")
        self.bodies.append({"headers": headers, "body": orjson.loads(body)})
        text = self.raw if self.raw is not None else orjson.dumps({"better": self.better}).decode()
        message = {
            "type": "message",
            "model": "claude-sonnet-4-6",
            "content": [{"type": "text", "text": text}],
            "stop_reason": "end_turn",
            "usage": {"input_tokens": 1000, "output_tokens": 10},
        }
        return _Answer(self.status, orjson.dumps(message))

    async def aclose(self) -> None:
        pass


class Budget:
    def __init__(self, allowed: int) -> None:
        self.allowed = allowed
        self.spent = 0

    def cover(self, micros: int) -> bool:
        return self.spent + micros <= self.allowed

    def spend(self, micros: int) -> None:
        self.spent += micros


def case() -> EvaluationCase:
    def answer(words: str) -> dict[str, Any]:
        return {"type": "message", "content": [{"type": "text", "text": words}], "stop_reason": "end_turn"}

    return EvaluationCase(
        request={
            "model": "claude-sonnet-4-6",
            "max_tokens": 100,
            "messages": [{"role": "user", "content": "Q"}],
        },
        reference=answer("REFERENCE"),
        candidate=answer("CANDIDATE"),
        requested_model="claude-sonnet-4-6",
        candidate_model="claude-haiku-4-5",
        headers=[("x-api-key", "sk-ant-test"), ("anthropic-version", "2023-06-01")],
    )


@pytest.mark.parametrize(("better", "acceptable"), [("A", True), ("B", True), ("tie", True)])
async def test_a_judge_that_always_prefers_one_position_cancels_out(better: str, acceptable: bool) -> None:
    upstream = StandInUpstream(better)
    judge = AnthropicJudge(upstream, CATALOG)  # type: ignore[arg-type]
    budget = Budget(10**9)
    verdict = await judge.evaluate(case(), budget)
    assert verdict.is_acceptable is acceptable
    first, second = (b["body"] for b in upstream.bodies)
    assert "<answer_a>CANDIDATE</answer_a>" in first["messages"][0]["content"]
    assert "<answer_b>CANDIDATE</answer_b>" in second["messages"][0]["content"]
    assert first["output_config"] == {"format": {"type": "json_schema", "schema": VERDICT_SCHEMA}}
    assert first["model"] == "claude-sonnet-4-6" and first["system"] == judge.rubric
    assert ("x-api-key", "sk-ant-test") in upstream.bodies[0]["headers"]  # the caller's own key
    assert budget.spent == 2 * (3 * 1000 + 15 * 10)  # sonnet: $3 / $15 per MTok


async def test_a_judge_that_prefers_the_reference_in_both_positions_rejects() -> None:
    class Consistent(StandInUpstream):
        async def send(
            self, method: str, target: str, headers: list[tuple[str, str]], body: RequestBody
        ) -> _Answer:
            assert isinstance(body, bytes)
            self.better = (
                "B" if "<answer_a>CANDIDATE" in orjson.loads(body)["messages"][0]["content"] else "A"
            )
            return await super().send(method, target, headers, body)

    judge = AnthropicJudge(Consistent("A"), CATALOG, model="claude-opus-4-6", rubric="Be strict.")  # type: ignore[arg-type]
    verdict = await judge.evaluate(case(), Budget(10**9))
    assert (verdict.is_acceptable, verdict.source) == (False, "judge")


@pytest.mark.parametrize(
    ("upstream", "reason"),
    [
        (StandInUpstream("A", raw="I think A"), "judge_malformed"),
        (StandInUpstream("C"), "judge_malformed"),
        (StandInUpstream("A", status=529), "judge_error"),
    ],
)
async def test_a_judge_failure_gives_no_verdict(upstream: StandInUpstream, reason: str) -> None:
    with pytest.raises(CheckFailedError) as failed:
        await AnthropicJudge(upstream, CATALOG).evaluate(case(), Budget(10**9))  # type: ignore[arg-type]
    assert failed.value.reason == reason


async def test_the_judge_is_not_called_beyond_its_budget() -> None:
    upstream = StandInUpstream("A")
    judge = AnthropicJudge(upstream, CATALOG)  # type: ignore[arg-type]
    worst = judge.worst_cost("claude-sonnet-4-6", prompt_bytes=10_000)
    assert worst is not None and worst > 0
    with pytest.raises(CheckFailedError, match="judge_over_budget"):
        await judge.evaluate(case(), Budget(100))
    assert upstream.bodies == []
