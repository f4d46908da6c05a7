from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import aiohttp
import anthropic
import pytest

from modelpilot.sim import SimSettings, create_app
from tests.servers import serve

API_KEY = "sk-ant-test"


@pytest.fixture(scope="module")
def sim_url() -> Iterator[str]:
    """One simulator per test module, default settings, on a loopback port."""
    with serve(create_app(SimSettings())) as url:
        yield url


@pytest.fixture
def client(sim_url: str) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(
        base_url=sim_url, api_key=API_KEY, max_retries=0, _strict_response_validation=True
    ) as sdk:
        yield sdk


@pytest.fixture
async def aclient(sim_url: str) -> AsyncIterator[anthropic.AsyncAnthropic]:
    async with anthropic.AsyncAnthropic(
        base_url=sim_url, api_key=API_KEY, max_retries=0, _strict_response_validation=True
    ) as sdk:
        yield sdk


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A raw HTTP client that leaves bodies compressed, for byte-level checks."""
    async with aiohttp.ClientSession(auto_decompress=False) as session:
        yield session
