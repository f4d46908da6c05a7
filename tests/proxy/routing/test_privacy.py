"""The privacy contract, tested as an outsider would: plant canaries in every part of requests
that may hold content or secrets, capture every byte the proxy sends the control plane over a
run (routing and metering), and look for any trace of them."""

from __future__ import annotations

import base64
import hashlib
import random
import string
import time
from pathlib import Path
from typing import Any

import anthropic
import orjson

from modelpilot.proxy.learning import LocalLearner
from modelpilot.schema.wire import RouteRequest
from tests.proxy.routing.conftest import CHEAP, REQUESTED, Harness

_rng = random.Random(20261128)  # fixed: a chance collision would show on every run, not once


def canary(label: str) -> str:
    return label + "".join(_rng.choice(string.ascii_letters) for _ in range(24))


CANARIES = {
    name: canary(name.upper())
    for name in (
        "system",
        "user",
        "assistant",
        "tooldesc",
        "toolname",
        "toolprop",
        "toolinput",
        "toolresult",
        "image",
        "pdf",
        "doctext",
        "doctitle",
        "userid",
        "stop",
        "schemaprop",
        "apikey",
    )
}
IMAGE_DATA = base64.b64encode(CANARIES["image"].encode()).decode()
PDF_DATA = base64.b64encode(b"%PDF-1.4 " + CANARIES["pdf"].encode()).decode()
TOOL = {
    "name": "lookup_" + CANARIES["toolname"],
    "description": CANARIES["tooldesc"],
    "input_schema": {
        "type": "object",
        "properties": {CANARIES["toolprop"]: {"type": "string", "description": CANARIES["tooldesc"]}},
        "required": [CANARIES["toolprop"]],
    },
}


def request_body(n: int, **extra: Any) -> dict[str, Any]:
    """Request ``n`` (a conversation of its own, so each asks the control plane)."""
    return {
        "model": REQUESTED,
        "max_tokens": 300,
        "system": [{"type": "text", "text": "You help. " + CANARIES["system"]}],
        "metadata": {"user_id": CANARIES["userid"]},
        "stop_sequences": [CANARIES["stop"]],
        "tools": [TOOL],
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": f"Please look at this ({n}). " + CANARIES["user"]},
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": "image/png", "data": IMAGE_DATA},
                    },
                    {
                        "type": "document",
                        "source": {"type": "base64", "media_type": "application/pdf", "data": PDF_DATA},
                    },
                    {
                        "type": "document",
                        "title": CANARIES["doctitle"],
                        "source": {"type": "text", "media_type": "text/plain", "data": CANARIES["doctext"]},
                    },
                ],
            },
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": CANARIES["assistant"]},
                    {
                        "type": "tool_use",
                        "id": "toolu_01A",
                        "name": TOOL["name"],
                        "input": {CANARIES["toolprop"]: CANARIES["toolinput"]},
                    },
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_01A", "content": CANARIES["toolresult"]}
                ],
            },
        ],
        **extra,
    }


def traces(secret: str) -> list[bytes]:
    """What must never appear: the secret, any 8-byte window of it, and its common digests."""
    raw = secret.encode()
    found = [raw[i : i + 8] for i in range(len(raw) - 7)]
    for algorithm in ("sha256", "md5", "sha1"):
        digest = hashlib.new(algorithm, raw).hexdigest()
        found += [digest.encode(), digest.upper().encode()]
    found.append(base64.b64encode(raw))
    return found


def test_nothing_of_the_content_or_the_key_reaches_the_control_plane(harness: Harness) -> None:
    control, url = harness.control_plane()
    proxy = harness.proxy(url, lifespan=True, flush_interval_s=0.05)
    schema = {"type": "object", "properties": {CANARIES["schemaprop"]: {"type": "string"}}}
    with anthropic.Anthropic(
        base_url=proxy.url, api_key="sk-ant-" + CANARIES["apikey"], max_retries=0
    ) as sdk:
        sdk.messages.create(**request_body(1))
        sdk.messages.create(**request_body(2), extra_headers={"x-sim-behaviour": "refusal"})  # escalated
        with sdk.messages.stream(**request_body(3)) as stream:
            stream.get_final_message()
        structured = {"format": {"type": "json_schema", "schema": schema}}
        sdk.messages.create(**request_body(4, tools=[], output_config=structured))
        unmetered = ("max_tokens", "metadata", "stop_sequences")
        sdk.messages.count_tokens(**{k: v for k, v in request_body(5).items() if k not in unmetered})
    deadline = time.monotonic() + 10
    while not any(c.path == "/v1/meter" for c in control.captured):
        assert time.monotonic() < deadline, "the meter flusher sent nothing"
        time.sleep(0.01)
    assert control.route_calls >= 4
    # The lifespan connected ahead of the first request with a featureless warm-up question.
    assert control.captured[0].path == "/v1/route"
    assert b"claude-haiku-4-5" in control.captured[0].raw()
    wire = b"\n".join(c.raw() for c in control.captured)
    wire_folded = wire.lower()
    for name, secret in CANARIES.items():
        for trace in traces(secret) + (traces(IMAGE_DATA) if name == "image" else []):
            assert trace not in wire and trace.lower() not in wire_folded, (
                f"a trace of the {name} canary was sent"
            )


def test_the_local_learner_trained_on_canaries_sends_only_its_score(
    harness: Harness, client_bytes: Any, tmp_path: Path
) -> None:
    """The learner learns from canary-bearing requests (verdicts, an escalation, feedback); what
    leaves is one probability and a count: no canary, piece or hash of one, and nothing of the
    learner's weights or examples, in routing, metering, metadata logs or telemetry."""
    path = tmp_path / "learner.json"
    learner = LocalLearner(path)
    for i in range(40):
        learner.record(
            learner.example_of(request_body(100 + i)),
            requested_model=REQUESTED,
            candidate_model=CHEAP,
            acceptable=i % 3 != 0,
            source="verdict",
        )
    learner.drain()
    learner.save()
    control, url = harness.control_plane()
    proxy = harness.proxy(
        url,
        lifespan=True,
        flush_interval_s=0.05,
        telemetry_interval_s=0.05,
        metadata_logs=True,
        learner_path=str(path),
    )
    assert proxy.app.router is not None and proxy.app.router.learner is not None
    running = proxy.app.router.learner
    with anthropic.Anthropic(
        base_url=proxy.url, api_key="sk-ant-" + CANARIES["apikey"], max_retries=0
    ) as sdk:
        sdk.messages.create(**request_body(1), extra_headers={"x-sim-behaviour": "refusal"})  # escalated
        raw = sdk.messages.with_raw_response.create(**request_body(2))
        client_bytes(
            proxy.url + "/modelpilot/feedback", orjson.dumps({"request_id": raw.headers["request-id"]})
        )
        sdk.messages.create(**request_body(3))
    deadline = time.monotonic() + 10
    paths = lambda: {c.path for c in control.captured}  # noqa: E731
    while not {"/v1/meter", "/v1/telemetry", "/v1/logs"} <= paths() or running.outcomes(REQUESTED) < 42:
        assert time.monotonic() < deadline, (
            f"only {sorted(paths())} sent, {running.outcomes(REQUESTED)} learned"
        )
        time.sleep(0.01)
    routes = [RouteRequest.model_validate_json(body) for body in control.route_bodies()[1:]]
    assert routes and all(r.features.learned_acceptable is not None for r in routes)
    assert all(r.features.learned_verdicts == 40 for r in routes)
    wire = b"\n".join(c.raw() for c in control.captured)
    wire_folded = wire.lower()
    for name, secret in CANARIES.items():
        for trace in traces(secret) + (traces(IMAGE_DATA) if name == "image" else []):
            assert trace not in wire and trace.lower() not in wire_folded, (
                f"a trace of the {name} canary was sent"
            )
    # Nothing of what the learner holds: no weight, no example's buckets or numbers.
    head = running._heads[REQUESTED]
    for weight in [*head.text.values(), *head.numeric, head.bias, head.level_bias]:
        if abs(weight) > 1e-6:
            assert repr(weight).encode() not in wire
    for item in head.ring:
        assert orjson.dumps(list(item.example.buckets)[:4])[:-1] not in wire
        assert repr(item.example.prior_logit).encode() not in wire


def test_paired_checks_send_nothing_new_beyond_counts(harness: Harness) -> None:
    """With calibration on every request (candidate and judge calls on the side), what reaches the
    control plane is still only decisions' questions and meter rows: verdict counts and spend."""
    from modelpilot.schema.wire import MeterBatch

    control, url = harness.control_plane()
    proxy = harness.proxy(
        url, lifespan=True, flush_interval_s=0.05, calibration_rate_bps=10_000, judge_model="claude-opus-4-6"
    )
    calibrator = proxy.app.calibrator
    assert calibrator is not None
    with anthropic.Anthropic(
        base_url=proxy.url, api_key="sk-ant-" + CANARIES["apikey"], max_retries=0
    ) as sdk:
        sdk.messages.create(**request_body(11))
        with sdk.messages.stream(**request_body(12)) as stream:
            stream.get_final_message()
        sdk.messages.create(**request_body(13, tools=[]))
    deadline = time.monotonic() + 20
    while calibrator.in_flight or proxy.app.metrics.calibration_checks.value() < 3:
        assert time.monotonic() < deadline, "the paired checks did not finish"
        time.sleep(0.01)

    def calibration_rows() -> list[Any]:
        return [
            row
            for c in control.captured
            if c.path == "/v1/meter"
            for row in MeterBatch.model_validate_json(c.body).rows
            if row.requests == 0
        ]

    verdicts = sum(
        proxy.app.metrics.calibration_verdicts.value(source, outcome)
        for source in ("exact", "check", "judge", "evaluator")
        for outcome in ("true", "false")
    )
    assert verdicts >= 1
    while sum(r.judged for r in calibration_rows()) < verdicts:
        assert time.monotonic() < deadline, "the verdicts were not metered"
        time.sleep(0.01)
    assert {c.path for c in control.captured} <= {"/v1/route", "/v1/meter", "/v1/telemetry", "/v1/config"}
    assert all(r.calibration_cost_micros > 0 for r in calibration_rows())
    wire = b"\n".join(c.raw() for c in control.captured)
    wire_folded = wire.lower()
    for name, secret in CANARIES.items():
        for trace in traces(secret) + (traces(IMAGE_DATA) if name == "image" else []):
            assert trace not in wire and trace.lower() not in wire_folded, (
                f"a trace of the {name} canary was sent"
            )
