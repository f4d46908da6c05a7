"""The wire schemas, and hypothesis strategies for valid payloads (reused by the firewall tests);
the property that the firewall passes every valid payload is checked here, on the payloads the
schema round trip is checked on."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from modelpilot.schema.catalog import load_catalog
from modelpilot.schema.firewall import find_violation
from modelpilot.schema.wire import (
    Category,
    IngestAck,
    LogBatch,
    MeterBatch,
    RouteDecision,
    RouteRequest,
    TelemetryBatch,
)

VALID_EXAMPLES = 400

_ID_CHARACTERS = "abcdefghijklmnopqrstuvwxyz0123456789"
catalog_ids = sorted({name for model in load_catalog().models for name in (model.id, *model.aliases)})
model_ids = st.one_of(
    st.sampled_from(catalog_ids),
    # A segment "sk" before a long one ("claude-a-sk-abcdefgh") or one like "xoxb" reads as an API
    # key to the firewall, on purpose; no catalog id looks like that (and the control plane stores
    # catalog ids only).
    # The language of r"\Aclaude-[a-z0-9]{1,16}(-[a-z0-9]{1,16}){0,3}\Z", built from whole
    # segments: st.from_regex draws it a character at a time, which made it most of the cost of
    # a generated payload (3 ms of 5) and of the firewall's property tests that inject into them.
    st.lists(st.text(_ID_CHARACTERS, min_size=1, max_size=16), min_size=1, max_size=4)
    .map(lambda segments: "claude-" + "-".join(segments))
    .filter(lambda s: len(s) <= 64 and "-sk-" not in s and re.search(r"xox[abposr]-", s) is None),
)
opaque_ids = st.uuids().map(str)
categories = st.sampled_from([c.value for c in Category])
counts = st.integers(0, 10_000_000)
tokens = st.integers(0, 10**12)
micros = st.integers(0, 10**13)
_moments = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2100, 1, 1))
offsets = st.integers(-14 * 60, 14 * 60).map(lambda minutes: timezone(timedelta(minutes=minutes)))


def _iso(value: datetime, zulu: bool) -> str:
    text = value.isoformat()
    return text.replace("+00:00", "Z") if zulu else text


timestamps = st.builds(
    lambda moment, tz, zulu: _iso(moment.replace(tzinfo=UTC).astimezone(tz), zulu),
    _moments,
    offsets,
    st.booleans(),
)
hours = st.builds(
    lambda moment, zulu: _iso(moment.replace(minute=0, second=0, microsecond=0, tzinfo=UTC), zulu),
    _moments,
    st.booleans(),
)


def objects(
    required: dict[str, st.SearchStrategy[Any]], optional: dict[str, st.SearchStrategy[Any]] | None = None
):
    return st.fixed_dictionaries(required, optional=optional or {})


features = objects(
    {},
    {
        "input_tokens_estimate": tokens,
        "max_tokens": tokens,
        **{
            name: counts
            for name in ("message_count", "turn_count", "tool_count", "image_count", "document_count")
        },
        **{
            name: st.booleans()
            for name in (
                "has_tools",
                "tool_choice_forced",
                "thinking",
                "has_response_schema",
                "streaming",
                "cache_control",
                "has_code",
                "has_math",
            )
        },
        "difficulty": st.floats(0, 1),
    },
)
route_requests = objects(
    {"requested_model": model_ids, "category": categories, "features": features},
    {"conversation_turn": counts},
)
# Plausible per request (MeterRow and LogRecord refuse more tokens or cost than their requests
# could use): four fields of at most 2.5M tokens and $1,000 each.
_token_fields = {
    name: st.integers(0, 2_500_000)
    for name in ("input_tokens", "output_tokens", "cache_write_tokens", "cache_read_tokens")
}
plausible_micros = st.integers(0, 10**9)
meter_rows = objects(
    {
        "hour": hours,
        "category": categories,
        "requested_model": model_ids,
        "served_model": model_ids,
        "routed": st.booleans(),
        "escalated": st.booleans(),
        "requests": st.integers(1, 10_000_000),
        "actual_cost_micros": plausible_micros,
        "baseline_cost_micros": plausible_micros,
    },
    _token_fields,
)
meter_batches = objects({"batch_id": opaque_ids, "rows": st.lists(meter_rows, min_size=1, max_size=3)})
_counter_names = (
    "route_calls",
    "route_cache_hits",
    "fail_open_timeouts",
    "fail_open_errors",
    "circuit_open_skips",
    "escalations",
    "spool_backlog_rows",
)
_latency_names = (
    "le_5_ms",
    "le_10_ms",
    "le_25_ms",
    "le_50_ms",
    "le_100_ms",
    "le_250_ms",
    "le_1000_ms",
    "gt_1000_ms",
)
telemetry_batches = objects(
    {
        "batch_id": opaque_ids,
        "window_start": timestamps,
        "window_s": st.integers(1, 86_400),
        "counters": objects({}, {name: counts for name in _counter_names}),
        "route_latency": objects({}, {name: counts for name in _latency_names}),
    }
)
log_records = objects(
    {
        "ts": timestamps,
        "category": categories,
        "requested_model": model_ids,
        "served_model": model_ids,
        "routed": st.booleans(),
        "escalated": st.booleans(),
        "status": st.integers(100, 599),
    },
    {
        **_token_fields,
        "cost_micros": plausible_micros,
        "latency_ms": st.integers(0, 86_400_000),
        "decision_id": st.one_of(st.none(), opaque_ids),
    },
)
log_batches = objects({"batch_id": opaque_ids, "records": st.lists(log_records, min_size=1, max_size=3)})

#: (schema, strategy of valid JSON payloads) for every ingestion request body.
INGESTION_PAYLOADS: list[tuple[type[BaseModel], st.SearchStrategy[dict[str, Any]]]] = [
    (RouteRequest, route_requests),
    (MeterBatch, meter_batches),
    (TelemetryBatch, telemetry_batches),
    (LogBatch, log_batches),
]
any_ingestion_payload = st.one_of([strategy for _, strategy in INGESTION_PAYLOADS])


@pytest.mark.parametrize(("schema", "strategy"), INGESTION_PAYLOADS, ids=lambda v: getattr(v, "__name__", ""))
def test_generated_payloads_are_valid_round_trip_and_pass_the_firewall(schema, strategy):
    """Each generated payload is valid for its schema and round-trips, and the content firewall
    (tests/schema/test_firewall.py) never refuses it, as sent or after a JSON round trip.

    One property test for both: they were two, each drawing its own 400 payloads from the same
    strategy, and drawing them was most of their cost. Each check still sees 400 payloads per
    schema, from the same strategies."""

    @settings(
        max_examples=VALID_EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(strategy)
    def check(payload):
        model = schema.model_validate(payload)
        assert schema.model_validate(model.model_dump(mode="json")) == model
        assert find_violation(payload) is None
        assert find_violation(json.loads(json.dumps(payload))) is None

    check()


@pytest.mark.parametrize(("schema", "strategy"), INGESTION_PAYLOADS, ids=lambda v: getattr(v, "__name__", ""))
def test_unknown_fields_are_refused(schema, strategy):
    @settings(max_examples=50, deadline=None, database=None)
    @given(strategy, st.sampled_from(["extra", "note", "features_v2"]))
    def check(payload, name):
        with pytest.raises(ValidationError):
            schema.model_validate({**payload, name: 1})

    check()


def test_every_wire_schema_forbids_extra_fields_and_is_frozen():
    for schema in (RouteRequest, RouteDecision, MeterBatch, TelemetryBatch, LogBatch, IngestAck):
        assert schema.model_config["extra"] == "forbid"
        assert schema.model_config["frozen"] is True


@pytest.mark.parametrize(
    "hour",
    ["2026-11-28T10:30:00Z", "2026-11-28T10:00:00", "2026-11-28T10:00:00.5Z", "2026-11-28T12:00:00+02:00"],
)
def test_meter_hours_are_whole_utc_hours(hour):
    with pytest.raises(ValidationError):
        MeterBatch.model_validate(
            {
                "batch_id": "0e4a3c5e-2b7f-4c0e-9f0a-1b2c3d4e5f60",
                "rows": [
                    {
                        "hour": hour,
                        "category": "qa",
                        "requested_model": "claude-opus-4-5",
                        "served_model": "claude-opus-4-5",
                        "routed": False,
                        "escalated": False,
                        "requests": 1,
                        "actual_cost_micros": 1,
                        "baseline_cost_micros": 1,
                    }
                ],
            }
        )


@pytest.mark.parametrize(
    "hour", ["2026-11-28T10:00:00Z", "2026-11-28T10:00:00+00:00", "2026-11-28T10:00:00.000Z"]
)
def test_meter_hours_are_whole_hours_in_utc(hour):
    row = MeterBatch.model_validate(
        {
            "batch_id": "0e4a3c5e-2b7f-4c0e-9f0a-1b2c3d4e5f60",
            "rows": [
                {
                    "hour": hour,
                    "category": "qa",
                    "requested_model": "claude-opus-4-5",
                    "served_model": "claude-opus-4-5",
                    "routed": False,
                    "escalated": False,
                    "requests": 1,
                    "actual_cost_micros": 1,
                    "baseline_cost_micros": 1,
                }
            ],
        }
    ).rows[0]
    assert row.hour == datetime(2026, 11, 28, 10, tzinfo=UTC)


@pytest.mark.parametrize("bad", ["gpt-4o", "claude-", "claude-Sonnet", "claude-" + "a" * 17, "claude-a b"])
def test_model_ids_are_strict(bad):
    with pytest.raises(ValidationError):
        RouteRequest.model_validate({"requested_model": bad, "category": "qa", "features": {}})
