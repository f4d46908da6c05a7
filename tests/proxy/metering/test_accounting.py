"""Per-request cost, baseline and savings, checked by hand against the catalog's prices
(micro-dollars per token = $/MTok): haiku-4-5 1/5 in/out, 1.25/2 cache write 5m/1h, 0.1 read;
sonnet-4-5 3/15, 3.75/6, 0.3; opus-4-5 5/25, 6.25/10, 0.5; haiku-5-5 above 100k prompt tokens
0.5/2.5; batch x0.5; inference_geo "us" x1.1."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from modelpilot.proxy.accounting import charge_request, hour_of, metadata_log_entry
from modelpilot.proxy.recording import Attempt
from modelpilot.schema.catalog import load_catalog
from modelpilot.schema.usage import Usage
from modelpilot.schema.wire import Category
from tests.proxy.metering.records import HOUR, NOW, record

CATALOG = load_catalog()


def charge_of(rec):
    return charge_request(rec, catalog=CATALOG, now=NOW)


def test_an_unrouted_answer_costs_its_usage_and_saves_nothing():
    charge = charge_of(record(Usage(input_tokens=1000, output_tokens=500)))
    assert charge is not None
    assert (charge.actual_micros, charge.baseline_micros, charge.savings_micros) == (10_500, 10_500, 0)
    assert (charge.hour, charge.category, charge.routed, charge.escalated) == (
        HOUR,
        Category.OTHER,
        False,
        False,
    )
    assert (charge.requested_model, charge.served_model) == ("claude-sonnet-4-5", "claude-sonnet-4-5")


def test_a_routed_answer_is_compared_with_the_requested_model_on_the_same_usage_with_cache_tiers():
    usage = Usage(
        input_tokens=2000,
        output_tokens=1000,
        cache_write_5m_tokens=400,
        cache_write_1h_tokens=100,
        cache_read_tokens=3000,
    )
    charge = charge_of(
        record(usage, requested="claude-opus-4-5", served="claude-haiku-4-5", routed=True, category="code")
    )
    assert charge is not None
    # haiku: 2000*1 + 1000*5 + 400*1.25 + 100*2 + 3000*0.1
    assert charge.actual_micros == 2000 + 5000 + 500 + 200 + 300
    # opus: 2000*5 + 1000*25 + 400*6.25 + 100*10 + 3000*0.5
    assert charge.baseline_micros == 10_000 + 25_000 + 2_500 + 1_000 + 1_500
    assert charge.savings_micros == 32_000
    assert (
        charge.input_tokens,
        charge.output_tokens,
        charge.cache_write_tokens,
        charge.cache_read_tokens,
    ) == (
        2000,
        1000,
        500,
        3000,
    )
    assert charge.category is Category.CODE and charge.routed


def test_an_escalation_pays_for_both_answers_and_saves_a_negative_amount():
    rec = record(
        Usage(input_tokens=1000, output_tokens=300),
        requested="claude-sonnet-4-5",
        served="claude-sonnet-4-5",
        routed=True,
        escalated=True,
        attempts=(Attempt("claude-haiku-4-5", Usage(input_tokens=1000, output_tokens=200), 200),),
    )
    charge = charge_of(rec)
    assert charge is not None
    # haiku attempt 1000 + 1000, then sonnet 3000 + 4500; baseline is sonnet on the final usage
    assert (charge.actual_micros, charge.baseline_micros, charge.savings_micros) == (9500, 7500, -2000)
    assert (charge.input_tokens, charge.output_tokens) == (2000, 500)
    assert charge.escalated and charge.served_model == "claude-sonnet-4-5"


def test_an_attempt_without_usage_costs_nothing():
    rec = record(
        Usage(input_tokens=1000),
        escalated=True,
        attempts=(Attempt("claude-haiku-4-5", None, 529),),
    )
    charge = charge_of(rec)
    assert charge is not None and charge.actual_micros == charge.baseline_micros == 3000


def test_the_batch_tier_halves_the_price():
    charge = charge_of(record(Usage(input_tokens=1000, output_tokens=1000, service_tier="batch")))
    assert charge is not None and charge.actual_micros == (3000 + 15_000) // 2


def test_the_us_inference_geo_adds_ten_percent():
    charge = charge_of(record(Usage(input_tokens=1000, inference_geo="us")))
    assert charge is not None and charge.actual_micros == 3300


def test_long_context_rates_apply_to_the_whole_request_above_the_threshold():
    usage = Usage(input_tokens=150_000, output_tokens=1000)
    own = charge_of(record(usage, requested="claude-haiku-5-5"))
    assert own is not None and own.actual_micros == 150_000 * 0.5 + 1000 * 2.5
    routed = charge_of(record(usage, requested="claude-sonnet-4-5", served="claude-haiku-5-5", routed=True))
    assert routed is not None
    assert (routed.actual_micros, routed.baseline_micros) == (77_500, 150_000 * 3 + 1000 * 15)


def test_a_stream_cut_short_is_charged_for_what_it_reported():
    rec = record(
        Usage(input_tokens=1200, output_tokens=37), is_stream=True, is_complete=False, error_type="api_error"
    )
    charge = charge_of(rec)
    assert charge is not None and charge.actual_micros == 3600 + 555


def test_half_micro_dollars_round_up_once_per_answer():
    charge = charge_of(record(Usage(cache_read_tokens=5), requested="claude-haiku-4-5"))  # 0.5 µ$
    assert charge is not None and charge.actual_micros == 1


@pytest.mark.parametrize(
    ("requested", "served"),
    [
        ("claude-fable-5-2", "claude-fable-5-2"),  # in the catalog without a price
        ("claude-nova-9", "claude-nova-9"),  # not in the catalog
        ("claude-fable-5-2", "claude-haiku-4-5"),  # no baseline to compare with
        ("claude-sonnet-4-5", "claude-nova-9"),  # no actual price: no provable savings either
    ],
)
def test_unpriced_models_are_counted_at_zero_cost_and_flagged(requested, served):
    charge = charge_of(record(Usage(input_tokens=1000, output_tokens=10), requested=requested, served=served))
    assert charge is not None
    assert (charge.actual_micros, charge.baseline_micros, charge.is_unpriced) == (0, 0, True)
    assert charge.input_tokens == 1000


def test_aliases_fold_into_the_catalog_id():
    charge = charge_of(record(Usage(input_tokens=10), requested="claude-haiku-4-5-20251001"))
    assert charge is not None
    assert (charge.requested_model, charge.served_model) == ("claude-haiku-4-5", "claude-haiku-4-5")


@pytest.mark.parametrize(
    "rec",
    [
        record(None),  # an error answer: nothing billed
        record(Usage(input_tokens=10), path="/v1/messages/count_tokens"),
        record(Usage(input_tokens=10), method="GET"),
        record(Usage(input_tokens=10), requested="gpt-4o", served="gpt-4o"),  # cannot go on the wire
    ],
    ids=["no-usage", "count-tokens", "get", "foreign-model-id"],
)
def test_requests_without_a_meterable_answer_are_not_charged(rec):
    assert charge_of(rec) is None


def test_an_unknown_category_is_other():
    charge = charge_of(record(Usage(input_tokens=1), category="poetry"))
    assert charge is not None and charge.category is Category.OTHER


def test_the_hour_is_the_whole_utc_hour():
    moment = datetime(2026, 11, 28, 10, 59, 59, 999_999, tzinfo=timezone(timedelta(hours=2)))
    assert hour_of(moment) == datetime(2026, 11, 28, 8, tzinfo=UTC)


def test_a_metadata_log_entry_holds_numbers_models_and_flags_only():
    rec = record(
        Usage(input_tokens=1000, output_tokens=500, cache_read_tokens=7),
        requested="claude-opus-4-5",
        served="claude-haiku-4-5",
        routed=True,
        category="code",
        latency_ms=1234.4,
        decision_id="0f0e0d0c-0b0a-4908-8706-050403020100",
        decision_reason="cheaper_model",
    )
    entry = metadata_log_entry(rec, charge_of(rec), catalog=CATALOG, now=NOW)
    assert entry is not None
    assert entry.model_dump(mode="json") == {
        "ts": "2026-11-28T10:17:01.766000Z",  # when the request started
        "category": "code",
        "requested_model": "claude-opus-4-5",
        "served_model": "claude-haiku-4-5",
        "routed": True,
        "escalated": False,
        "status": 200,
        "input_tokens": 1000,
        "output_tokens": 500,
        "cache_write_tokens": 0,
        "cache_read_tokens": 7,
        "cost_micros": 1000 + 2500 + 1,  # 0.7 µ$ of cache reads, rounded half up
        "latency_ms": 1234,
        "decision_id": "0f0e0d0c-0b0a-4908-8706-050403020100",
        "decision_reason": "cheaper_model",
        "escalation_reason": None,
    }


def test_an_error_answer_is_logged_without_usage():
    rec = record(None, status=529, error_type="overloaded_error", decision_id="not-a-uuid")
    entry = metadata_log_entry(rec, None, catalog=CATALOG, now=NOW)
    assert entry is not None
    assert (entry.status, entry.served_model, entry.cost_micros, entry.decision_id) == (
        529,
        "claude-sonnet-4-5",
        0,
        None,
    )


@pytest.mark.parametrize(
    "rec",
    [
        record(None, status=0),  # the caller left before any answer
        record(None, requested="gpt-4o", status=400),
        record(None, path="/v1/models", method="GET"),
    ],
    ids=["no-status", "foreign-model-id", "not-messages"],
)
def test_some_requests_have_no_metadata_log_entry(rec):
    assert metadata_log_entry(rec, None, catalog=CATALOG, now=NOW) is None


def test_a_routed_batch_result_halves_every_token_price_including_cache_writes_and_reads():
    usage = Usage(
        input_tokens=1000,
        output_tokens=1000,
        cache_write_5m_tokens=400,
        cache_write_1h_tokens=100,
        cache_read_tokens=2000,
        service_tier="batch",
    )
    charge = charge_of(record(usage, requested="claude-opus-4-5", served="claude-haiku-4-5", routed=True))
    assert charge is not None
    # haiku (1000*1 + 1000*5 + 400*1.25 + 100*2 + 2000*0.1) / 2
    assert charge.actual_micros == (1000 + 5000 + 500 + 200 + 200) // 2
    # opus (1000*5 + 1000*25 + 400*6.25 + 100*10 + 2000*0.5) / 2
    assert charge.baseline_micros == (5000 + 25_000 + 2500 + 1000 + 1000) // 2
    assert charge.savings_micros == 17_250 - 3_450


def test_an_escalation_pays_for_the_abandoned_attempts_cache_writes_too():
    rec = record(
        Usage(input_tokens=100, output_tokens=100, cache_read_tokens=1000),
        requested="claude-sonnet-4-5",
        routed=True,
        escalated=True,
        attempts=(
            Attempt(
                "claude-haiku-4-5", Usage(input_tokens=100, output_tokens=50, cache_write_5m_tokens=1000), 200
            ),
        ),
    )
    charge = charge_of(rec)
    assert charge is not None
    # haiku attempt 100*1 + 50*5 + 1000*1.25 = 1600; sonnet 100*3 + 100*15 + 1000*0.3 = 2100
    assert (charge.actual_micros, charge.baseline_micros) == (1600 + 2100, 2100)
    assert (charge.cache_write_tokens, charge.cache_read_tokens) == (1000, 1000)


@pytest.mark.parametrize(
    ("failure", "reason"),
    [
        ("status_429", "rate_limited"),
        ("status_529", "overloaded"),
        ("status_500", "server_error"),
        ("status_400", "client_error"),
        ("bad_tool_input", "bad_tool_input"),
        ("upstream_timeout", "upstream_timeout"),
        ("something new", "other"),
    ],
)
def test_an_escalation_travels_as_a_closed_reason(failure, reason):
    rec = record(
        Usage(input_tokens=10),
        requested="claude-opus-4-5",
        served="claude-opus-4-5",
        routed=True,
        escalated=True,
        escalation_reason=failure,
        decision_id="0f0e0d0c-0b0a-4908-8706-050403020100",
        decision_reason="not a reason",
    )
    entry = metadata_log_entry(rec, charge_of(rec), catalog=CATALOG, now=NOW)
    assert entry is not None
    assert entry.escalation_reason == reason
    assert entry.decision_reason is None  # only the control plane's own vocabulary travels
