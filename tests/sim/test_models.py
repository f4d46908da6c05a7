"""GET /v1/models and /v1/models/{id}, from the catalog, paginated like the real API."""

from __future__ import annotations

import aiohttp
import anthropic
import orjson
import pytest

from modelpilot.schema.catalog import load_catalog
from tests.sim.conftest import API_KEY


def test_auto_pagination_walks_every_model_newest_first(client: anthropic.Anthropic) -> None:
    models = list(client.models.list(limit=2))
    catalog = load_catalog()
    assert sorted(m.id for m in models) == sorted(m.id for m in catalog.models)
    created = [m.created_at for m in models]
    assert created == sorted(created, reverse=True)
    haiku = next(m for m in models if m.id == "claude-haiku-4-5")
    assert haiku.line == "haiku" and haiku.max_tokens == 64000 and haiku.lifecycle == "active"
    assert haiku.type == "model" and haiku.display_name == "Claude Haiku 4.5"


def test_pages_and_cursors(client: anthropic.Anthropic) -> None:
    first = client.models.list(limit=3)
    assert len(first.data) == 3 and first.has_more and first.first_id == first.data[0].id
    second = client.models.list(limit=3, after_id=first.last_id)
    assert second.data[0].id not in {m.id for m in first.data}
    back = client.models.list(limit=3, before_id=second.first_id)
    assert [m.id for m in back.data] == [m.id for m in first.data] and not back.has_more
    everything = client.models.list(limit=1000)
    assert not everything.has_more and len(everything.data) == len(load_catalog().models)
    assert len(client.models.list().data) == min(20, len(load_catalog().models))


def test_retrieve_by_id_and_alias(client: anthropic.Anthropic) -> None:
    assert client.models.retrieve("claude-sonnet-4-6").id == "claude-sonnet-4-6"
    assert client.models.retrieve("claude-haiku-4-5-20251001").id == "claude-haiku-4-5"
    deprecated = client.models.retrieve("claude-sonnet-4-5")
    assert deprecated.lifecycle == "deprecated"
    with pytest.raises(anthropic.NotFoundError) as caught:
        client.models.retrieve("claude-nope")
    assert caught.value.body["error"] == {"type": "not_found_error", "message": "model: claude-nope"}


@pytest.mark.parametrize("limit", ["0", "1001", "x"])
async def test_limit_is_range_checked(http: aiohttp.ClientSession, sim_url: str, limit: str) -> None:
    async with http.get(
        f"{sim_url}/v1/models", params={"limit": limit}, headers={"x-api-key": API_KEY}
    ) as response:
        assert response.status == 400
        assert orjson.loads(await response.read())["error"]["type"] == "invalid_request_error"
