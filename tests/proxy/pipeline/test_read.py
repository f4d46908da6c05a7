"""Stage 1, read: one loop over the caller's body messages, its limits, inflation, JSON check."""

from __future__ import annotations

import asyncio
import gzip
import zlib

import orjson
import pytest

from modelpilot.proxy.errors import InvalidRequestError, RequestTooLargeError
from modelpilot.proxy.pipeline.read import RequestReader
from modelpilot.proxy.settings import ProxySettings
from modelpilot.proxy.watch import ClientDisconnected, DisconnectWatch
from tests.proxy.pipeline.memory import Caller

SETTINGS = ProxySettings(upstream_url="http://127.0.0.1:9", max_body_bytes=1000, max_upload_bytes=2000)
DOCUMENT = {
    "model": "claude-sonnet-4-6",
    "max_tokens": 16,
    "stream": True,
    "messages": [{"role": "user", "content": "hi"}],
}


def reader_for(
    caller: Caller, path: str = "/v1/messages", method: str = "POST"
) -> tuple[RequestReader, DisconnectWatch]:
    task = asyncio.current_task()
    assert task is not None
    watch = DisconnectWatch(caller.receive, task)
    return RequestReader(caller.receive, watch, SETTINGS, method=method, path=path), watch


def headers(**values: str) -> list[tuple[bytes, bytes]]:
    return [(name.replace("_", "-").encode(), value.encode()) for name, value in values.items()]


async def test_a_messages_body_in_pieces_is_read_whole_and_parsed() -> None:
    raw = orjson.dumps(DOCUMENT)
    caller = Caller(raw[:10], raw[10:30], raw[30:])
    reader, _ = reader_for(caller)
    body = await reader.read(headers(content_length=str(len(raw))))
    assert body == raw and caller.received == 3
    assert reader.document == DOCUMENT and not reader.is_encoded
    assert (reader.requested_model, reader.is_stream) == ("claude-sonnet-4-6", True)


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
async def test_an_encoded_body_is_inflated_for_the_check_and_sent_as_it_came(encoding: str) -> None:
    raw = orjson.dumps(DOCUMENT)
    packed = gzip.compress(raw) if encoding == "gzip" else zlib.compress(raw)
    reader, _ = reader_for(Caller(packed))
    body = await reader.read(headers(content_encoding=encoding))
    assert body == packed and reader.document == DOCUMENT and reader.is_encoded


async def test_a_body_that_inflates_beyond_the_limit_is_refused() -> None:
    bomb = gzip.compress(b'{"model": "' + b"a" * 5000 + b'"}')
    assert len(bomb) < SETTINGS.max_body_bytes
    reader, _ = reader_for(Caller(bomb))
    with pytest.raises(RequestTooLargeError, match="inflates beyond the 1000 byte limit"):
        await reader.read(headers(content_encoding="gzip"))


async def test_a_body_that_is_not_json_is_an_invalid_request() -> None:
    reader, _ = reader_for(Caller(b"{not json"))
    with pytest.raises(InvalidRequestError, match="not valid JSON"):
        await reader.read([])


async def test_a_body_over_the_limit_is_read_to_its_end_before_the_error() -> None:
    caller = Caller(b"x" * 600, b"x" * 600, b"x" * 600)
    reader, _ = reader_for(caller)
    with pytest.raises(RequestTooLargeError, match="exceeds the 1000 byte limit for /v1/messages"):
        await reader.read([])
    assert caller.received == 3  # drained, so the caller can read the answer


async def test_another_path_streams_its_upload_chunk_by_chunk() -> None:
    caller = Caller(b"a" * 10, b"b" * 10)
    reader, _ = reader_for(caller, path="/v1/files")
    body = await reader.read(headers(transfer_encoding="chunked"))
    assert not isinstance(body, bytes | None)
    assert caller.received == 0  # nothing read before the upstream asks for it
    assert [chunk async for chunk in body] == [b"a" * 10, b"b" * 10]
    assert reader.document is None and reader.upload_error is None


async def test_a_streamed_upload_over_its_limit_stops_at_once_and_says_why() -> None:
    caller = Caller(b"a" * 1500, b"b" * 1500, b"c")
    reader, _ = reader_for(caller, path="/v1/files")
    body = await reader.read(headers(transfer_encoding="chunked"))
    assert not isinstance(body, bytes | None)
    with pytest.raises(RequestTooLargeError):
        _ = [chunk async for chunk in body]
    assert isinstance(reader.upload_error, RequestTooLargeError) and caller.received == 2


async def test_a_caller_leaving_mid_body_is_noticed() -> None:
    reader, watch = reader_for(Caller(b"{", b"}", disconnect_after=1))
    with pytest.raises(ClientDisconnected):
        await reader.read([])
    assert watch.is_disconnected


async def test_no_length_and_no_chunking_means_no_body() -> None:
    caller = Caller(b"")
    reader, _ = reader_for(caller, path="/v1/models", method="GET")
    assert await reader.read([]) is None and caller.received == 0
