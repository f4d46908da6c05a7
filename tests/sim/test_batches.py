"""Message Batches: create, list, retrieve, cancel, delete and JSON Lines results."""

from __future__ import annotations

from typing import Any

import aiohttp
import anthropic
import orjson
import pytest

from modelpilot.sim import SimSettings, create_app
from tests.servers import serve
from tests.sim.conftest import API_KEY


def _request(custom_id: str, model: str = "claude-sonnet-4-6", **extra: Any) -> dict[str, Any]:
    params = {"model": model, "max_tokens": 60, "messages": [{"role": "user", "content": custom_id}], **extra}
    return {"custom_id": custom_id, "params": params}


def test_create_then_results_from_the_sims_own_origin(client: anthropic.Anthropic, sim_url: str) -> None:
    batch = client.messages.batches.create(
        requests=[_request("a"), _request("b", "claude-haiku-4-5"), _request("c", "claude-nope")]
    )
    assert batch.id.startswith("msgbatch_01") and batch.processing_status == "in_progress"
    assert batch.request_counts.processing == 3 and batch.results_url is None
    ended = client.messages.batches.retrieve(batch.id)
    assert ended.processing_status == "ended" and ended.ended_at is not None
    assert ended.results_url == f"{sim_url}/v1/messages/batches/{batch.id}/results"
    assert (ended.request_counts.succeeded, ended.request_counts.errored) == (2, 1)
    results = {r.custom_id: r.result for r in client.messages.batches.results(batch.id)}
    assert results["a"].type == "succeeded" and results["b"].type == "succeeded"
    assert results["a"].message.usage.service_tier == "batch"
    assert results["b"].message.model == "claude-haiku-4-5"
    assert results["c"].type == "errored"
    assert results["c"].error.error.type == "not_found_error"
    direct = client.messages.create(**_request("a")["params"])
    assert direct.content == results["a"].message.content


def test_list_cancel_and_delete() -> None:
    with (
        serve(create_app(SimSettings(batch_processing_s=3600))) as url,
        anthropic.Anthropic(
            base_url=url, api_key=API_KEY, max_retries=0, _strict_response_validation=True
        ) as sdk,
    ):
        ids = [sdk.messages.batches.create(requests=[_request(f"r{i}")]).id for i in range(3)]
        assert [b.id for b in sdk.messages.batches.list(limit=2)] == ids[::-1]
        assert sdk.messages.batches.retrieve(ids[0]).processing_status == "in_progress"
        with pytest.raises(anthropic.BadRequestError, match="still processing"):
            sdk.messages.batches.delete(ids[0])
        with pytest.raises(anthropic.AnthropicError, match="results_url"):
            sdk.messages.batches.results(ids[0])
        canceling = sdk.messages.batches.cancel(ids[0])
        assert canceling.processing_status == "canceling" and canceling.cancel_initiated_at is not None
        canceled = sdk.messages.batches.retrieve(ids[0])
        assert canceled.processing_status == "ended" and canceled.request_counts.canceled == 1
        assert [r.result.type for r in sdk.messages.batches.results(ids[0])] == ["canceled"]
        deleted = sdk.messages.batches.delete(ids[0])
        assert deleted.id == ids[0] and deleted.type == "message_batch_deleted"
        with pytest.raises(anthropic.NotFoundError):
            sdk.messages.batches.retrieve(ids[0])


@pytest.mark.parametrize(
    "requests",
    [
        [],
        [{"custom_id": "a"}],
        [_request("a"), _request("a")],
        [_request("bad id!")],
        [{"custom_id": "a", "params": {"model": "claude-sonnet-4-6", "messages": []}}],
        [_request("a", stream=True)],
    ],
)
def test_malformed_creates_are_rejected(client: anthropic.Anthropic, requests: list[dict[str, Any]]) -> None:
    with pytest.raises(anthropic.BadRequestError):
        client.messages.batches.create(requests=requests)


async def test_results_url_follows_the_host_the_client_used(sim_url: str) -> None:
    headers = {"x-api-key": API_KEY, "host": "proxy.internal:9999"}
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{sim_url}/v1/messages/batches", json={"requests": [_request("x")]}, headers=headers
        ) as response:
            batch_id = orjson.loads(await response.read())["id"]
        async with http.get(f"{sim_url}/v1/messages/batches/{batch_id}", headers=headers) as response:
            batch = orjson.loads(await response.read())
    assert batch["results_url"] == f"http://proxy.internal:9999/v1/messages/batches/{batch_id}/results"
