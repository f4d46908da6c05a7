"""An answer the caller holds whole is an answer already metered: the proxy commits the charge
to its spool before the chunk that completes the answer (the last chunk of a body, or a stream's
``message_stop``), so a ``kill -9`` can never land between "the caller has it" and "it is counted".

The ``on_record`` hook here is slow on purpose. It runs after the spool commit; were the charge
committed after the last byte, the SDK would return before the hook finished and the checks below
would see a missing record."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import anthropic
import pytest

from modelpilot.proxy.app import create_app
from modelpilot.proxy.recording import RequestRecord
from modelpilot.proxy.settings import ProxySettings
from modelpilot.sim import SimSettings
from modelpilot.sim import create_app as create_sim
from tests.proxy.metering.records import spooled_rows
from tests.servers import serve

HOOK_DELAY_S = 0.2


class SlowHook:
    def __init__(self) -> None:
        self.records: list[RequestRecord] = []
        self._lock = threading.Lock()

    def __call__(self, record: RequestRecord) -> None:
        time.sleep(HOOK_DELAY_S)
        with self._lock:
            self.records.append(record)

    def count(self) -> int:
        with self._lock:
            return len(self.records)


@pytest.fixture
def proxied(tmp_path: Path) -> Iterator[tuple[anthropic.Anthropic, SlowHook, Path]]:
    hook = SlowHook()
    spool_path = tmp_path / "spool.sqlite3"
    with serve(create_sim(SimSettings(cheap_failure_rate=0.0))) as sim_url:
        settings = ProxySettings(upstream_url=sim_url, spool_path=str(spool_path))
        with (
            serve(create_app(settings, on_record=hook)) as proxy_url,
            anthropic.Anthropic(base_url=proxy_url, api_key="sk-ant-test", max_retries=0) as sdk,
        ):
            yield sdk, hook, spool_path


def spooled_requests(spool_path: Path) -> int:
    return sum(row.requests for row in spooled_rows(spool_path))


PROMPT = [{"role": "user", "content": "Say something short."}]


def test_a_json_answer_is_metered_before_the_sdk_returns(proxied) -> None:
    sdk, hook, spool_path = proxied
    message = sdk.messages.create(model="claude-sonnet-4-6", max_tokens=32, messages=PROMPT)
    assert hook.count() == 1
    [record] = hook.records
    assert record.is_complete and record.request_id == message._request_id
    assert record.usage is not None and record.usage.output_tokens == message.usage.output_tokens
    assert spooled_requests(spool_path) == 1


def test_a_stream_is_metered_before_the_sdk_sees_message_stop(proxied) -> None:
    sdk, hook, spool_path = proxied
    with sdk.messages.stream(model="claude-sonnet-4-6", max_tokens=32, messages=PROMPT) as stream:
        message = stream.get_final_message()
        # Still inside the stream: the terminating chunk may not even have been read yet.
        assert hook.count() == 1
    [record] = hook.records
    assert record.is_stream and record.is_complete and record.stop_reason == message.stop_reason
    assert record.usage is not None and record.usage.output_tokens == message.usage.output_tokens
    assert spooled_requests(spool_path) == 1


def test_an_error_answer_is_recorded_before_the_caller_gets_it(proxied) -> None:
    sdk, hook, _ = proxied
    with pytest.raises(anthropic.InternalServerError):
        sdk.messages.create(
            model="claude-sonnet-4-6",
            max_tokens=32,
            messages=PROMPT,
            extra_headers={"x-sim-fault": "status=500"},
        )
    assert hook.count() == 1
    assert hook.records[0].status == 500
