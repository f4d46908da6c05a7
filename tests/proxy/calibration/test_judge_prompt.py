"""A judge prompt and model given to ``modelpilot proxy`` (``--judge-prompt-file`` /
``MODELPILOT_JUDGE_PROMPT_FILE``, ``--judge-model``) are what the judge calls send upstream: the
two judge requests the simulator receives carry that rubric as their system prompt and that model,
the built-in rubric appears nowhere, and the candidate's request is left as the caller sent it."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelpilot.proxy.calibration.judge import DEFAULT_RUBRIC
from modelpilot.sim import make_prompt
from tests.proxy.calibration.cli_settings import settings_from_cli
from tests.proxy.calibration.conftest import CHEAP, REQUESTED, Harness, body_for

RUBRIC = (
    "You are the house style checker of Example Corp. Prefer the answer that cites a ticket number; "
    "answer with the letter of the better answer, or tie. (rubric 7f3a)"
)
JUDGE = "claude-opus-4-6"
DEPLOYMENT_KEY = "mp_live_" + "k" * 43


@pytest.mark.parametrize("via", ["option", "environment"])
def test_a_configured_judge_prompt_and_model_are_what_the_judge_sends(
    harness: Harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, via: str
) -> None:
    rubric_file = tmp_path / "rubric.txt"
    rubric_file.write_text(RUBRIC, encoding="utf-8")
    _, cp = harness.control_plane(mode="candidate")  # served as requested, Haiku the candidate
    args = ["--control-plane", cp, "--spool", str(tmp_path / "cli-spool.sqlite3"), "--judge-model", JUDGE]
    env = {"MODELPILOT_API_KEY": DEPLOYMENT_KEY}
    if via == "option":
        args += ["--judge-prompt-file", str(rubric_file)]
    else:
        env["MODELPILOT_JUDGE_PROMPT_FILE"] = str(rubric_file)
    settings = settings_from_cli(monkeypatch, args, env)
    assert settings.judge_prompt == RUBRIC and settings.judge_model == JUDGE

    proxy = harness.proxy(cp, judge_prompt=settings.judge_prompt, judge_model=settings.judge_model)
    # A hard prompt: the candidate's answer differs from the requested model's and is not short,
    # so neither the exact comparison nor the answer checks decide; the judge does.
    caller_body = body_for(make_prompt(1, seed=11), system="You answer support tickets.")
    with proxy.sdk() as sdk:
        message = sdk.messages.create(**caller_body)
    assert message.model == REQUESTED
    proxy.settle(1)

    sent = [e.document for e in proxy.sim_requests()]
    judge_calls = [e.document for e in proxy.sim_requests() if e.is_judge]
    assert len(judge_calls) == 2
    for document in judge_calls:
        assert document["model"] == JUDGE
        assert document["system"] == RUBRIC
        assert "<answer_a>" in document["messages"][0]["content"]
    # The candidate's request is the caller's, only the model changed: the rubric is not in it.
    (candidate,) = [d for d in sent if d["model"] == CHEAP]
    assert candidate["system"] == "You answer support tickets."
    assert candidate["messages"] == caller_body["messages"]
    assert not any(DEFAULT_RUBRIC in str(d) for d in sent)
    assert sum(RUBRIC in str(d) for d in sent) == 2
    assert proxy.verdicts("judge", False) + proxy.verdicts("judge", True) == 1


def test_without_a_prompt_the_judge_sends_the_built_in_rubric(harness: Harness) -> None:
    _, cp = harness.control_plane(mode="candidate")
    proxy = harness.proxy(cp)
    with proxy.sdk() as sdk:
        sdk.messages.create(**body_for(make_prompt(1, seed=11)))
    proxy.settle(1)
    judge_calls = [e.document for e in proxy.sim_requests() if e.is_judge]
    assert [(d["model"], d["system"]) for d in judge_calls] == [(REQUESTED, DEFAULT_RUBRIC)] * 2
