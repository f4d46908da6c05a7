"""The latent difficulty: who answers well, what a weak answer looks like, and the sim as judge."""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import orjson
import pytest

from modelpilot.proxy.calibration.judge import DEFAULT_RUBRIC, VERDICT_SCHEMA, judge_prompt
from modelpilot.sim import WEAK_MARKER, SimSettings, can_answer, create_app, make_prompt, prompt_difficulty
from modelpilot.sim.difficulty import HARD_WORDS, HARDEST_WORDS, text_difficulty
from tests.servers import serve
from tests.sim.conftest import API_KEY

HAIKU, SONNET, OPUS = "claude-haiku-4-5", "claude-sonnet-4-6", "claude-opus-4-6"
WEATHER = {
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}, "days": {"type": "integer", "minimum": 1, "maximum": 14}},
        "required": ["city", "days"],
    },
}


@pytest.fixture(scope="module")
def sdk() -> Iterator[anthropic.Anthropic]:
    # No random misbehaviour: the only failures are the latent ones.
    with (
        serve(create_app(SimSettings(cheap_failure_rate=0))) as url,
        anthropic.Anthropic(
            base_url=url, api_key=API_KEY, max_retries=0, _strict_response_validation=True
        ) as client,
    ):
        yield client


def _ask(sdk: anthropic.Anthropic, model: str, prompt: str, **extra: object) -> anthropic.types.Message:
    return sdk.messages.create(
        model=model,
        max_tokens=400,
        messages=[{"role": "user", "content": prompt}],
        **extra,  # type: ignore[arg-type]
    )


def _text(message: anthropic.types.Message) -> str:
    return "".join(b.text for b in message.content if b.type == "text")


def test_levels_come_from_words_and_lines_answer_up_to_their_level() -> None:
    assert [text_difficulty(make_prompt(level, seed=seed)) for level in (0, 1, 2) for seed in (0, 5)] == [
        0, 0, 1, 1, 2, 2,
    ]  # fmt: skip
    assert text_difficulty(f"Could you {sorted(HARD_WORDS)[0].upper()} this?") == 1
    assert text_difficulty(f"a {sorted(HARDEST_WORDS)[0]} b") == 2
    body = {"system": "Prove it.", "messages": [{"role": "assistant", "content": "lemma"}]}
    assert prompt_difficulty(body) == 1  # the system prompt counts, the assistant's turns do not
    assert [can_answer(line, 1) for line in ("haiku", "sonnet", "opus", "fable")] == [False, True, True, True]
    assert [can_answer(line, 2) for line in ("haiku", "sonnet", "opus", "mythos")] == [
        False,
        False,
        True,
        True,
    ]


def test_models_that_answer_well_give_the_strong_answer(sdk: anthropic.Anthropic) -> None:
    easy = make_prompt(0, seed=3)
    answers = {_text(_ask(sdk, model, easy)) for model in (HAIKU, SONNET, OPUS)}
    assert len(answers) == 1
    assert not answers.pop().startswith(WEAK_MARKER)


def test_a_prompt_too_hard_for_a_model_gets_a_worse_answer(sdk: anthropic.Anthropic) -> None:
    hard = make_prompt(1, seed=3)
    haiku, sonnet, opus = (_text(_ask(sdk, model, hard)) for model in (HAIKU, SONNET, OPUS))
    assert sonnet == opus and not opus.startswith(WEAK_MARKER)
    assert haiku.startswith(WEAK_MARKER)
    hardest = make_prompt(2, seed=3)
    assert _text(_ask(sdk, SONNET, hardest)).startswith(WEAK_MARKER)
    assert not _text(_ask(sdk, OPUS, hardest)).startswith(WEAK_MARKER)


def test_short_answers_differ_exactly_where_the_model_is_too_weak(sdk: anthropic.Anthropic) -> None:
    for seed in range(6):
        easy, hard = make_prompt(0, seed=seed, short=True), make_prompt(1, seed=seed, short=True)
        assert _text(_ask(sdk, HAIKU, easy)) == _text(_ask(sdk, OPUS, easy))
        strong = _text(_ask(sdk, OPUS, hard))
        weak = _text(_ask(sdk, HAIKU, hard))
        assert len(strong.split()) == len(weak.split()) == 1
        assert weak.lower() != strong.lower()
        assert _text(_ask(sdk, SONNET, hard)) == strong


def test_weak_tool_calls_differ_and_strong_ones_match(sdk: anthropic.Anthropic) -> None:
    def call(model: str, prompt: str) -> object:
        message = _ask(
            sdk, model, prompt, tools=[WEATHER], tool_choice={"type": "tool", "name": "get_weather"}
        )
        (block,) = [b for b in message.content if b.type == "tool_use"]
        return block.input

    easy, hard = make_prompt(0, seed=1), make_prompt(1, seed=1)
    assert call(HAIKU, easy) == call(OPUS, easy)
    assert call(SONNET, hard) == call(OPUS, hard)
    assert call(HAIKU, hard) != call(OPUS, hard)


def test_a_weak_answer_streams_as_it_answers(sdk: anthropic.Anthropic) -> None:
    hard = make_prompt(1, seed=9)
    whole = _ask(sdk, HAIKU, hard)
    with sdk.messages.stream(
        model=HAIKU, max_tokens=400, messages=[{"role": "user", "content": hard}]
    ) as stream:
        streamed = stream.get_final_message()
    assert _text(streamed) == _text(whole)
    assert _text(streamed).startswith(WEAK_MARKER)


@pytest.mark.parametrize("judge", [SONNET, HAIKU])
def test_the_sim_judges_the_proxy_judge_request(sdk: anthropic.Anthropic, judge: str) -> None:
    request = {"model": OPUS, "max_tokens": 400, "messages": [{"role": "user", "content": make_prompt(1)}]}
    strong = _ask(sdk, OPUS, make_prompt(1)).model_dump()
    weak = _ask(sdk, HAIKU, make_prompt(1)).model_dump()

    def verdict(first: dict[str, object], second: dict[str, object]) -> str:
        message = sdk.messages.create(
            model=judge,
            max_tokens=64,
            system=DEFAULT_RUBRIC,
            messages=[{"role": "user", "content": judge_prompt(request, first, second)}],
            extra_body={"output_config": {"format": {"type": "json_schema", "schema": VERDICT_SCHEMA}}},
        )
        return str(orjson.loads(_text(message))["better"])

    assert verdict(weak, strong) == "B"
    assert verdict(strong, weak) == "A"
    assert verdict(strong, strong) == "tie"
