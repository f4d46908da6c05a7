"""Stage 5, relay: the answer reaches the caller chunk by chunk, and the charge is committed
before the caller's last byte, whatever the answer's shape (the one place that does it)."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from modelpilot.proxy.errors import UpstreamTimeoutError, UpstreamUnavailableError
from modelpilot.proxy.pipeline.relay import Relay
from modelpilot.proxy.recording import RequestRecord
from modelpilot.proxy.settings import ProxySettings
from modelpilot.proxy.watch import DisconnectWatch
from tests.proxy.pipeline.memory import Caller, MemoryUpstream, Reply
from tests.proxy.streams import TEXT_STREAM, events

SETTINGS = ProxySettings(upstream_url="http://127.0.0.1:9")
ANSWER = orjson.dumps(
    {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-haiku-4-5",
        "content": [{"type": "text", "text": "hi"}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 11, "output_tokens": 7},
    }
)


def relay_for(caller: Caller, path: str = "/v1/messages") -> Relay:
    task = asyncio.current_task()
    assert task is not None
    scope = {"type": "http", "method": "POST", "path": path, "headers": [(b"host", b"proxy.test")]}
    relay: Relay

    def make_record() -> RequestRecord:
        tap = relay.tap
        return RequestRecord(
            request_id=relay.request_id,
            method="POST",
            path=path,
            status=relay.status,
            requested_model=None,
            served_model=tap.served_model if tap is not None else None,
            usage=tap.usage if tap is not None else None,
            cost=None,
            is_stream=relay.is_stream,
            is_complete=relay.is_complete,
            is_client_disconnected=False,
            error_type=relay.error_type,
            stop_reason=None,
            latency_ms=relay.elapsed_ms(),
            ttfb_ms=relay.ttfb_ms,
        )

    relay = Relay(
        scope,
        caller.send,
        DisconnectWatch(caller.receive, task),
        SETTINGS,
        started=0.0,
        make_record=make_record,
        deliver=caller.deliver,
    )
    return relay


async def relayed(reply: Reply, path: str = "/v1/messages") -> tuple[Caller, Relay]:
    caller = Caller()
    relay = relay_for(caller, path)
    upstream = MemoryUpstream(lambda _r: reply)
    await relay.relay(await upstream.send("POST", path, [], b"{}"))
    assert upstream.responses[0].released and relay.response is None
    return caller, relay


async def test_a_json_answer_is_committed_before_its_last_chunk_goes_out() -> None:
    caller, relay = await relayed(Reply(chunks=[ANSWER[:30], ANSWER[30:60], ANSWER[60:]]))
    assert caller.kinds() == ["start", "body", "body", "commit", "last"]
    assert caller.body() == ANSWER
    [record] = [item[1] for item in caller.out if isinstance(item, tuple)]
    assert record.usage is not None and record.usage.output_tokens == 7 and record.is_complete


async def test_an_unframed_answer_still_ends_after_its_commit() -> None:
    caller, _ = await relayed(Reply(chunks=[ANSWER[:30], ANSWER[30:]], framed=False))
    assert caller.kinds() == ["start", "body", "body", "commit", "last"]
    assert caller.body() == ANSWER


async def test_a_stream_is_committed_before_the_chunk_carrying_message_stop() -> None:
    chunks = events(TEXT_STREAM)
    caller, relay = await relayed(
        Reply(headers=[(b"content-type", b"text/event-stream")], chunks=chunks, framed=False)
    )
    kinds = caller.kinds()
    assert kinds.count("commit") == 1
    stop = next(
        i for i, m in enumerate(caller.out) if isinstance(m, dict) and b"message_stop" in m.get("body", b"")
    )
    assert kinds[stop - 1] == "commit" and kinds[-1] == "last"
    assert caller.body() == TEXT_STREAM and relay.is_stream and relay.is_complete


async def test_a_stream_cut_short_is_committed_incomplete_and_ends_where_it_broke() -> None:
    caller = Caller()
    relay = relay_for(caller)
    reply = Reply(
        headers=[(b"content-type", b"text/event-stream")], chunks=events(TEXT_STREAM), break_after=3
    )
    response = await MemoryUpstream(lambda _r: reply).send("POST", "/v1/messages", [], b"{}")
    with pytest.raises(UpstreamUnavailableError) as caught:
        await relay.relay(response)
    await relay.fail(caught.value)  # what the exchange does with it
    assert caller.kinds() == ["start", "body", "body", "body", "commit", "last"]
    [record] = [item[1] for item in caller.out if isinstance(item, tuple)]
    assert not record.is_complete and record.usage is not None  # the usage reported so far


async def test_our_own_error_answer_is_committed_before_it_is_sent() -> None:
    caller = Caller()
    relay = relay_for(caller)
    relay.extra_headers = [(b"x-modelpilot-routed", b"false")]
    await relay.fail(UpstreamTimeoutError("the upstream did not answer in time"))
    assert caller.kinds() == ["commit", "start", "last"]
    start = caller.out[1]
    assert start["status"] == 504 and (b"x-modelpilot-routed", b"false") in start["headers"]
    assert orjson.loads(caller.body())["error"]["type"] == "timeout_error"
    assert relay.commit() is caller.out[0][1]  # once: a second commit hands over nothing new


async def test_a_batch_object_has_its_results_url_rewritten_and_is_committed_first() -> None:
    batch = orjson.dumps(
        {
            "id": "msgbatch_1",
            "results_url": "https://api.anthropic.com/v1/messages/batches/msgbatch_1/results",
        }
    )
    caller, _ = await relayed(Reply(chunks=[batch]), path="/v1/messages/batches/msgbatch_1")
    assert caller.kinds() == ["commit", "start", "last"]
    assert (
        orjson.loads(caller.body())["results_url"]
        == "http://proxy.test/v1/messages/batches/msgbatch_1/results"
    )
