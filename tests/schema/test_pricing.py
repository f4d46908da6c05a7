"""Cost arithmetic against hand-computed cases (prices from anthropic-api.md §7)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelpilot.schema.catalog import load_catalog
from modelpilot.schema.pricing import UnpricedModelError, cost_micros, exact_cost, price_request
from modelpilot.schema.usage import Usage

CATALOG = load_catalog()


def cost(model_id: str, usage: Usage) -> int:
    return cost_micros(usage, CATALOG.get(model_id), CATALOG)


def test_plain_input_and_output() -> None:
    # Haiku 4.5: $1 in, $5 out per MTok -> 1,000 * 1 + 500 * 5 = 3,500 micro-dollars
    assert cost("claude-haiku-4-5", Usage(input_tokens=1_000, output_tokens=500)) == 3_500


def test_cache_writes_by_ttl_and_cache_reads_are_priced_separately() -> None:
    # Sonnet 4.6: in 3, 5m write 3.75, 1h write 6, read 0.30, out 15
    # 100*3 + 1500*3.75 + 500*6 + 10000*0.30 + 300*15 = 300 + 5625 + 3000 + 3000 + 4500
    usage = Usage.from_api(
        {
            "input_tokens": 100,
            "cache_creation_input_tokens": 2_000,
            "cache_creation": {"ephemeral_5m_input_tokens": 1_500, "ephemeral_1h_input_tokens": 500},
            "cache_read_input_tokens": 10_000,
            "output_tokens": 300,
        }
    )
    assert cost("claude-sonnet-4-6", usage) == 16_425


def test_cache_writes_without_a_ttl_breakdown_count_as_five_minute_writes() -> None:
    usage = Usage.from_api({"input_tokens": 0, "cache_creation_input_tokens": 1_000, "output_tokens": 0})
    assert usage.cache_write_5m_tokens == 1_000 and usage.cache_write_1h_tokens == 0
    assert cost("claude-sonnet-4-6", usage) == 3_750


def test_batch_usage_is_half_price() -> None:
    # Opus 4.6 batch: (10,000 * 5 + 2,000 * 25) * 0.5 = 50,000
    usage = Usage.from_api({"input_tokens": 10_000, "output_tokens": 2_000, "service_tier": "batch"})
    assert usage.is_batch
    assert cost("claude-opus-4-6", usage) == 50_000


def test_long_context_tier_prices_the_whole_request_above_the_threshold() -> None:
    # Haiku 5.5: $0.10/$0.50 up to 100K prompt tokens, $0.50/$2.50 above
    assert cost("claude-haiku-5-5", Usage(input_tokens=100_000, output_tokens=1_000)) == 10_500
    assert cost("claude-haiku-5-5", Usage(input_tokens=150_000, output_tokens=1_000)) == 77_500
    # cached tokens count toward the threshold: 60K fresh + 50K read = 110K prompt tokens
    # 60,000 * 0.50 + 50,000 * 0.05 + 1,000 * 2.50 = 30,000 + 2,500 + 2,500
    assert (
        cost("claude-haiku-5-5", Usage(input_tokens=60_000, cache_read_tokens=50_000, output_tokens=1_000))
        == 35_000
    )


def test_fractions_of_a_micro_dollar_round_half_up_once_per_request() -> None:
    # Haiku 5.5 5m cache write is $0.125/MTok: 3 tokens = 0.375 -> 0; 4 tokens = 0.5 -> 1
    assert cost("claude-haiku-5-5", Usage(cache_write_5m_tokens=3)) == 0
    assert cost("claude-haiku-5-5", Usage(cache_write_5m_tokens=4)) == 1
    # rounding once: 3 cache-write tokens (0.375) + 2 input tokens (0.2) = 0.575 -> 1
    assert cost("claude-haiku-5-5", Usage(cache_write_5m_tokens=3, input_tokens=2)) == 1


TOKENS = st.integers(min_value=0, max_value=2_000_000)


@given(
    model_id=st.sampled_from([m.id for m in CATALOG.models if m.pricing is not None]),
    counts=st.tuples(TOKENS, TOKENS, TOKENS, TOKENS, TOKENS),
    service_tier=st.sampled_from([None, "standard", "batch"]),
    inference_geo=st.sampled_from([None, "us", "global", "elsewhere"]),
)
def test_the_integer_fast_path_rounds_exactly_like_the_exact_cost(
    model_id: str, counts: tuple[int, int, int, int, int], service_tier: str | None, inference_geo: str | None
) -> None:
    usage = Usage(*counts, service_tier=service_tier, inference_geo=inference_geo)
    exact = exact_cost(usage, CATALOG.get(model_id), CATALOG)
    assert cost(model_id, usage) == int((exact * 2 + 1) // 2)


def test_us_inference_geo_costs_ten_percent_more() -> None:
    usage = Usage.from_api({"input_tokens": 1_000, "output_tokens": 1_000, "inference_geo": "us"})
    assert cost("claude-sonnet-4-6", usage) == 19_800  # (3,000 + 15,000) * 1.1


def test_unpriced_model_raises() -> None:
    with pytest.raises(UnpricedModelError):
        cost("claude-fable-5-2", Usage(input_tokens=1))


def test_routed_request_saves_the_difference_to_the_requested_model() -> None:
    usage = Usage(input_tokens=2_000, output_tokens=400)
    breakdown = price_request(usage, served="claude-haiku-4-5", requested="claude-opus-4-6", catalog=CATALOG)
    assert breakdown.actual_micros == 2_000 * 1 + 400 * 5
    assert breakdown.baseline_micros == 2_000 * 5 + 400 * 25
    assert breakdown.savings_micros == 20_000 - 4_000


def test_unknown_or_unpriced_models_have_no_cost_rather_than_a_wrong_one() -> None:
    usage = Usage(input_tokens=10)
    assert price_request(usage, served="gpt-4", requested="gpt-4", catalog=CATALOG).actual_micros is None
    breakdown = price_request(usage, served="claude-haiku-4-5", requested="claude-fable-5-2", catalog=CATALOG)
    assert breakdown.actual_micros == 10 and breakdown.baseline_micros is None
    assert breakdown.savings_micros is None


def test_stream_deltas_overwrite_cumulative_totals_and_keep_the_rest() -> None:
    start = Usage.from_api(
        {
            "input_tokens": 12,
            "cache_read_input_tokens": 7,
            "cache_creation_input_tokens": 0,
            "output_tokens": 1,
        }
    )
    final = start.merged_with_stream_delta({"output_tokens": 58, "input_tokens": None})
    assert (final.input_tokens, final.cache_read_tokens, final.output_tokens) == (12, 7, 58)
    assert start.merged_with_stream_delta("garbage") is start


def test_malformed_usage_counts_as_zero() -> None:
    usage = Usage.from_api({"input_tokens": "12", "output_tokens": -3, "cache_read_input_tokens": True})
    assert usage == Usage()
