"""Prompt caching: creation then read, TTL split, isolation per key and model, expiry."""

from __future__ import annotations

from typing import Any

import anthropic

from modelpilot.sim import create_app
from modelpilot.sim.prompt_cache import PromptCache
from modelpilot.sim.tokens import BASE_TOKENS, count_input_tokens, prompt_segments
from tests.servers import serve

LONG = "Reference manual section. " * 200


def _params(question: str, *, ttl: str = "5m", model: str = "claude-sonnet-4-6") -> dict[str, Any]:
    return {
        "model": model,
        "max_tokens": 20,
        "system": [{"type": "text", "text": LONG, "cache_control": {"type": "ephemeral", "ttl": ttl}}],
        "messages": [{"role": "user", "content": question}],
    }


def test_first_request_writes_the_cache_and_the_next_reads_it(client: anthropic.Anthropic) -> None:
    first = client.messages.create(**_params("What is in section one?"))
    total = client.messages.count_tokens(
        **{k: v for k, v in _params("What is in section one?").items() if k != "max_tokens"}
    )
    assert first.usage.cache_creation_input_tokens > 1000 and first.usage.cache_read_input_tokens == 0
    assert first.usage.cache_creation.ephemeral_5m_input_tokens == first.usage.cache_creation_input_tokens
    assert first.usage.input_tokens + first.usage.cache_creation_input_tokens == total.input_tokens
    second = client.messages.create(**_params("And in section two?"))
    assert second.usage.cache_read_input_tokens == first.usage.cache_creation_input_tokens
    assert second.usage.cache_creation_input_tokens == 0 and second.usage.input_tokens < 50
    other_model = client.messages.create(**_params("And in section two?", model="claude-opus-4-6"))
    assert (
        other_model.usage.cache_read_input_tokens == 0 and other_model.usage.cache_creation_input_tokens > 0
    )


def test_one_hour_ttl_and_per_key_isolation(sim_url: str) -> None:
    with (
        anthropic.Anthropic(base_url=sim_url, api_key="sk-ant-one", max_retries=0) as one,
        anthropic.Anthropic(base_url=sim_url, api_key="sk-ant-two", max_retries=0) as two,
    ):
        first = one.messages.create(**_params("q", ttl="1h"))
        assert (
            first.usage.cache_creation.ephemeral_1h_input_tokens
            == first.usage.cache_creation_input_tokens
            > 0
        )
        assert two.messages.create(**_params("q", ttl="1h")).usage.cache_read_input_tokens == 0
        assert one.messages.create(**_params("q2", ttl="1h")).usage.cache_read_input_tokens > 0


def test_top_level_cache_control_caches_the_whole_conversation() -> None:
    with serve(create_app()) as url, anthropic.Anthropic(base_url=url, api_key="k", max_retries=0) as sdk:
        turns = [{"role": "user", "content": LONG}]
        first = sdk.messages.create(
            model="claude-sonnet-4-6", max_tokens=10, messages=turns, cache_control={"type": "ephemeral"}
        )
        assert first.usage.cache_creation_input_tokens > 1000
        turns += [{"role": "assistant", "content": "Noted."}, {"role": "user", "content": "Go on."}]
        second = sdk.messages.create(
            model="claude-sonnet-4-6", max_tokens=10, messages=turns, cache_control={"type": "ephemeral"}
        )
        assert second.usage.cache_read_input_tokens == first.usage.cache_creation_input_tokens
        assert 0 < second.usage.cache_creation_input_tokens < 50


def test_entries_expire_after_their_ttl() -> None:
    now = [0.0]
    cache = PromptCache(clock=lambda: now[0])
    body = _params("q")
    segments = prompt_segments(body)
    first = cache.use("k", "m", segments, BASE_TOKENS)
    assert first.cache_write_5m_tokens > 0
    assert first.input_tokens + first.cache_creation_tokens == count_input_tokens(body)
    now[0] = 299.0
    assert cache.use("k", "m", segments, BASE_TOKENS).cache_read_tokens == first.cache_write_5m_tokens
    now[0] = 299.0 + 301.0  # the read at 299 s refreshed the entry until 599 s
    assert cache.use("k", "m", segments, BASE_TOKENS).cache_read_tokens == 0


def test_apps_share_no_state() -> None:
    with serve(create_app()) as first_url, serve(create_app()) as second_url:
        with anthropic.Anthropic(base_url=first_url, api_key="k", max_retries=0) as first:
            assert first.messages.create(**_params("q")).usage.cache_creation_input_tokens > 0
            assert first.messages.create(**_params("q")).usage.cache_read_input_tokens > 0
        with anthropic.Anthropic(base_url=second_url, api_key="k", max_retries=0) as second:
            assert second.messages.create(**_params("q")).usage.cache_read_input_tokens == 0
