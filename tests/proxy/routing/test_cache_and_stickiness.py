"""Decisions reused without a round trip: the bucket cache (server TTL) and conversations."""

from __future__ import annotations

from typing import Any

from modelpilot.proxy.decisions import bucket_key, build_route_request
from tests.proxy.routing.conftest import CHEAP, REQUESTED, Harness, cheap_behaves, plain_body


def headers_of(proxy: Any, body: dict[str, Any]) -> Any:
    with proxy.sdk() as sdk:
        return sdk.messages.with_raw_response.create(**body).headers


def test_a_cached_decision_needs_no_round_trip(harness: Harness) -> None:
    control, url = harness.control_plane(ttl_s=300)
    proxy = harness.proxy(url)
    first, second = plain_body(1), plain_body(2)
    requests = [build_route_request(b) for b in (first, second)]
    assert requests[0] is not None and requests[1] is not None
    assert bucket_key(requests[0]) == bucket_key(requests[1])  # same bucket, other conversation
    one, two = headers_of(proxy, first), headers_of(proxy, second)
    assert control.route_calls == 1
    assert one["x-modelpilot-decision-id"] == two["x-modelpilot-decision-id"]
    assert two["x-modelpilot-routed"] == "true"
    assert proxy.counts["cache_hits"] == 1


def test_a_zero_ttl_is_not_cached(harness: Harness) -> None:
    control, url = harness.control_plane(ttl_s=0)
    proxy = harness.proxy(url)
    headers_of(proxy, plain_body(1))
    headers_of(proxy, plain_body(2))
    assert control.route_calls == 2


def conversation(first: str, turns: int, system: str = "Be brief.") -> dict[str, Any]:
    messages: list[dict[str, Any]] = [{"role": "user", "content": first}]
    for i in range(turns - 1):
        messages += [
            {"role": "assistant", "content": f"Answer {i}."},
            {"role": "user", "content": f"And {i}?"},
        ]
    return {"model": REQUESTED, "max_tokens": 100, "system": system, "messages": messages}


def test_a_conversation_stays_on_its_first_decision(harness: Harness) -> None:
    control, url = harness.control_plane(mode="route", ttl_s=0)
    proxy = harness.proxy(url)
    body = cheap_behaves("normal", lambda i: conversation(f"Tell me about gardens {i}.", 1))
    first = body["messages"][0]["content"]
    assert headers_of(proxy, body)["x-modelpilot-routed"] == "true"
    control.mode = "requested"  # the control plane would now say "do not route"
    later = cheap_behaves("normal", lambda i: conversation(first, 2 + i))
    headers = headers_of(proxy, later)
    assert headers["x-modelpilot-routed"] == "true" and headers["x-modelpilot-served-model"] == CHEAP
    assert control.route_calls == 1  # no round trip for the conversation's later turns
    other = headers_of(proxy, conversation(first, 2, system="Be verbose."))  # another conversation
    assert other["x-modelpilot-routed"] == "false" and control.route_calls == 2


def test_after_an_escalation_the_conversation_stays_on_the_requested_model(harness: Harness) -> None:
    control, url = harness.control_plane(mode="route", ttl_s=0)
    proxy = harness.proxy(url)
    body = cheap_behaves("refusal", lambda i: conversation(f"Plan a trip {i}.", 1))
    assert headers_of(proxy, body)["x-modelpilot-escalated"] == "true"
    headers = headers_of(proxy, conversation(body["messages"][0]["content"], 2))
    assert headers["x-modelpilot-routed"] == "false" and headers["x-modelpilot-served-model"] == REQUESTED
    assert control.route_calls == 1


def test_stickiness_keys_are_process_local_hashes(harness: Harness) -> None:
    _, url = harness.control_plane()
    proxy = harness.proxy(url)
    headers_of(proxy, plain_body(3))
    assert proxy.app.router is not None
    keys = list(proxy.app.router.sticky._entries)
    assert len(keys) == 1 and len(keys[0]) == 16  # a keyed 128-bit digest, nothing of the text
