"""The SSE scanner and the usage tap, at generator level: every split point of a real stream."""

from __future__ import annotations

import gzip

import orjson
import pytest

from modelpilot.proxy.recording import MessageTap
from modelpilot.proxy.sse import SseScanner
from modelpilot.schema.usage import Usage
from tests.proxy.streams import TEXT_STREAM

WANTED = (b"message_start", b"message_delta", b"message_stop", b"error")
EXPECTED_USAGE = Usage(input_tokens=12, output_tokens=6, service_tier="standard")


def scan(chunks: list[bytes]) -> list[tuple[bytes, bytes]]:
    scanner = SseScanner(WANTED)
    found: list[tuple[bytes, bytes]] = []
    for chunk in chunks:
        found.extend(scanner.feed(chunk))
    return found


def expected_events(stream: bytes) -> list[tuple[bytes, bytes]]:
    return scan([stream])


@pytest.mark.parametrize("newline", [b"\n", b"\r\n", b"\r"])
def test_every_two_way_split_gives_the_same_events(newline: bytes) -> None:
    stream = TEXT_STREAM.replace(b"\n", newline)
    whole = expected_events(stream)
    assert [name for name, _ in whole] == [b"message_start", b"message_delta", b"message_stop"]
    assert orjson.loads(whole[1][1])["usage"] == {"output_tokens": 6}
    for cut in range(1, len(stream)):
        assert scan([stream[:cut], stream[cut:]]) == whole, cut


@pytest.mark.parametrize("newline", [b"\n", b"\r\n"])
def test_byte_by_byte_and_three_way_splits(newline: bytes) -> None:
    stream = TEXT_STREAM.replace(b"\n", newline)
    whole = expected_events(stream)
    assert scan([stream[i : i + 1] for i in range(len(stream))]) == whole
    step = 37
    for first in range(1, len(stream), step):
        for second in range(first + 1, len(stream), step):
            assert scan([stream[:first], stream[first:second], stream[second:]]) == whole


def test_unwanted_events_multiline_data_and_comments() -> None:
    stream = (
        b": a comment\n"
        b'event:content_block_delta\ndata: {"big": 1}\n\n'
        b'data: {"no event line": 1}\n\n'
        b'event: error\ndata: {"type":"error",\ndata: "x":1}\n\n'
    )
    assert scan([stream]) == [(b"error", b'{"type":"error",\n"x":1}')]


def test_tap_reads_usage_from_a_stream_split_anywhere() -> None:
    for cut in range(1, len(TEXT_STREAM), 3):
        tap = MessageTap()
        tap.feed_stream(TEXT_STREAM[:cut])
        tap.feed_stream(TEXT_STREAM[cut:])
        assert tap.usage == EXPECTED_USAGE
        assert tap.served_model == "claude-sonnet-4-6"
        assert tap.stop_reason == "end_turn"
        assert tap.is_complete


def test_tap_counts_what_a_cut_stream_reported() -> None:
    tap = MessageTap()
    tap.feed_stream(TEXT_STREAM[: TEXT_STREAM.index(b"event: message_delta")])
    assert tap.usage == Usage(input_tokens=12, output_tokens=1, service_tier="standard")
    assert not tap.is_complete


def test_tap_records_a_midstream_error() -> None:
    tap = MessageTap()
    head = TEXT_STREAM[: TEXT_STREAM.index(b"event: content_block_stop")]
    tap.feed_stream(head + b'event: error\ndata: {"type":"error","error":{"type":"overloaded_error"}}\n\n')
    assert tap.error_type == "overloaded_error"
    assert not tap.is_complete


def test_tap_reads_json_and_gzip_json_answers() -> None:
    answer = orjson.dumps(
        {
            "id": "msg_1",
            "type": "message",
            "model": "claude-haiku-4-5",
            "stop_reason": "end_turn",
            "usage": {"input_tokens": 100, "output_tokens": 20, "cache_read_input_tokens": 50},
        }
    )
    for body, encoding in ((answer, None), (gzip.compress(answer), b"gzip")):
        tap = MessageTap()
        tap.feed_body(body[:10])
        tap.feed_body(body[10:])
        tap.finish_body(content_encoding=encoding)
        assert tap.served_model == "claude-haiku-4-5"
        assert tap.usage == Usage(input_tokens=100, output_tokens=20, cache_read_tokens=50)
        assert tap.is_complete


def test_tap_ignores_bodies_that_are_not_json() -> None:
    tap = MessageTap()
    tap.feed_body(b"<html>")
    tap.finish_body(content_encoding=None)
    assert tap.usage is None and tap.served_model is None
