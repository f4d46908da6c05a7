"""Stage 4, attempt: a routed request sent to the cheaper model through an in-memory upstream,
and its answer judged: relayed, or escalated with what it cost and nothing sent to the caller."""

from __future__ import annotations

import orjson
import pytest

from modelpilot.proxy.errors import UpstreamTimeoutError
from modelpilot.proxy.pipeline.attempt import Escalation, HeldResponse, StartedResponse, attempt_routed
from modelpilot.proxy.routing import RoutePlan, rewrite_model
from tests.proxy.pipeline.memory import MemoryUpstream, Reply, Sent
from tests.proxy.streams import TEXT_STREAM, events

REQUESTED, CHEAP = "claude-sonnet-4-6", "claude-haiku-4-5"
SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
DOCUMENT = {
    "model": REQUESTED,
    "max_tokens": 64,
    "messages": [{"role": "user", "content": "Where?"}],
    "output_config": {"format": {"type": "json_schema", "schema": SCHEMA}},
}
BODY = orjson.dumps(DOCUMENT)
HEADERS = [("x-api-key", "sk-test"), ("content-length", str(len(BODY)))]


def plan(*, checked_stream: bool = False) -> RoutePlan:
    return RoutePlan(
        requested_model=REQUESTED,
        routed_model=CHEAP,
        routed_body=rewrite_model(BODY, DOCUMENT, CHEAP),
        is_checked_stream=checked_stream,
    )


def message(text: str) -> bytes:
    return orjson.dumps(
        {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": CHEAP,
            "content": [{"type": "text", "text": text}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": 11, "output_tokens": 7},
        }
    )


async def test_a_passing_answer_is_held_whole_then_handed_to_the_relay() -> None:
    answer = message('{"city": "Paris"}')
    upstream = MemoryUpstream(lambda _r: Reply(chunks=[answer[:20], answer[20:]]))
    outcome = await attempt_routed(upstream, "POST", "/v1/messages", HEADERS, plan(), DOCUMENT)
    assert isinstance(outcome, HeldResponse)
    assert b"".join([c async for c in outcome.iter_chunks()]) == answer
    [sent] = upstream.sent
    assert orjson.loads(sent.body or b"")["model"] == CHEAP
    assert sent.header("content-length") == str(len(sent.body or b""))  # the routed body's own length
    assert upstream.responses[0].released


async def test_an_answer_failing_its_schema_is_escalated_with_its_cost() -> None:
    upstream = MemoryUpstream(lambda _r: Reply(chunks=[message('{"town": 1}')]))
    outcome = await attempt_routed(upstream, "POST", "/v1/messages", HEADERS, plan(), DOCUMENT)
    assert isinstance(outcome, Escalation) and outcome.reason == "bad_json"
    assert outcome.attempt.served_model == CHEAP and outcome.attempt.status == 200
    assert outcome.attempt.usage is not None and outcome.attempt.usage.output_tokens == 7


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (Reply(status=529, chunks=[b'{"type":"error"}']), "status_529"),
        (Reply(chunks=[b"{"], break_after=0), "upstream_unavailable"),
    ],
)
async def test_a_failed_answer_is_escalated(reply: Reply, reason: str) -> None:
    upstream = MemoryUpstream(lambda _r: reply)
    outcome = await attempt_routed(upstream, "POST", "/v1/messages", HEADERS, plan(), DOCUMENT)
    assert isinstance(outcome, Escalation) and outcome.reason == reason


async def test_no_answer_at_all_is_escalated_as_a_timeout() -> None:
    def timeout(_request: Sent) -> Reply:
        raise UpstreamTimeoutError("no answer")

    outcome = await attempt_routed(MemoryUpstream(timeout), "POST", "/v1/messages", HEADERS, plan(), DOCUMENT)
    assert isinstance(outcome, Escalation)
    assert (outcome.reason, outcome.attempt.status, outcome.attempt.usage) == ("upstream_timeout", 0, None)


STREAM = Reply(headers=[(b"content-type", b"text/event-stream")], chunks=events(TEXT_STREAM), framed=False)


async def test_an_unchecked_stream_goes_live_from_its_first_chunk() -> None:
    upstream = MemoryUpstream(lambda _r: STREAM)
    outcome = await attempt_routed(upstream, "POST", "/v1/messages", HEADERS, plan(), DOCUMENT)
    assert isinstance(outcome, StartedResponse)
    assert b"".join([c async for c in outcome.iter_chunks()]) == TEXT_STREAM


async def test_a_stream_breaking_before_its_first_chunk_is_escalated() -> None:
    broken = Reply(headers=STREAM.headers, chunks=STREAM.chunks, break_after=0, framed=False)
    upstream = MemoryUpstream(lambda _r: broken)
    outcome = await attempt_routed(upstream, "POST", "/v1/messages", HEADERS, plan(), DOCUMENT)
    assert isinstance(outcome, Escalation) and outcome.reason == "upstream_unavailable"
    assert upstream.responses[0].closed


async def test_a_checked_stream_without_its_structured_answer_is_escalated() -> None:
    upstream = MemoryUpstream(lambda _r: STREAM)  # plain text where JSON was asked for
    outcome = await attempt_routed(
        upstream, "POST", "/v1/messages", HEADERS, plan(checked_stream=True), DOCUMENT
    )
    assert isinstance(outcome, Escalation) and outcome.reason == "bad_json"
    assert outcome.attempt.served_model == "claude-sonnet-4-6"  # the model the stream named
