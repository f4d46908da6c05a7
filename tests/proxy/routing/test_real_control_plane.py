"""The proxy against the real control plane app (its firewall, key check and schema), over
loopback HTTP: a signed-up tenant's deployment key, a real decision."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from tests.proxy.routing.conftest import REQUESTED, Harness, plain_body

pytest.importorskip("fastapi")


@pytest.fixture
def control_plane(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """``(url, deployment key)`` of a real control plane on a fresh SQLite database."""
    import asyncio

    import httpx2 as httpx

    from modelpilot.control.app import create_app
    from modelpilot.control.store.engine import create_db_engine
    from modelpilot.control.store.tables import Base
    from tests.control.conftest import make_settings, sign_up
    from tests.servers import serve

    db_url = f"sqlite:///{tmp_path / 'control.sqlite3'}"
    engine = create_db_engine(db_url)
    Base.metadata.create_all(engine)
    app = create_app(make_settings(db_url), engine=engine)

    async def deployment_key() -> str:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://test"
        ) as client:
            tenant = await sign_up(client, "routing@example.com")
            deployment = await tenant.create_deployment()
            _, secret = await tenant.create_key(deployment)
            return secret

    secret = asyncio.run(deployment_key())
    try:
        with serve(app) as url:
            yield url, secret
    finally:
        engine.dispose()


def test_the_real_control_plane_accepts_what_the_proxy_sends(
    harness: Harness, control_plane: tuple[str, str]
) -> None:
    url, secret = control_plane
    proxy = harness.proxy(url, control_plane_api_key=secret)
    bodies = [plain_body(1), {**plain_body(2), "stream": True}]
    with proxy.sdk() as sdk:
        raw = sdk.messages.with_raw_response.create(**bodies[0])
        with sdk.messages.stream(**{k: v for k, v in bodies[1].items() if k != "stream"}) as stream:
            streamed = stream.get_final_message().model
    assert "x-modelpilot-fail-open" not in raw.headers  # firewall, key and schema all passed
    # The policy routes these short requests to a cheaper catalog model; both share a bucket.
    served = raw.headers["x-modelpilot-served-model"]
    assert raw.headers["x-modelpilot-routed"] == "true"
    assert raw.parse().model == served == streamed != REQUESTED
    assert len(raw.headers["x-modelpilot-decision-id"]) == 36
    assert proxy.counts["decisions"] >= 1 and not [k for k in proxy.counts if k.startswith("fail_open")]
    assert orjson.loads(orjson.dumps(dict(proxy.counts)))  # plain counters, nothing else


def test_a_revoked_or_wrong_key_fails_open(harness: Harness, control_plane: tuple[str, str]) -> None:
    url, _ = control_plane
    proxy = harness.proxy(url, control_plane_api_key="mp_live_" + "x" * 43)
    with proxy.sdk() as sdk:
        raw = sdk.messages.with_raw_response.create(**plain_body(3))
    assert raw.parse().model == REQUESTED
    assert raw.headers["x-modelpilot-fail-open"] == "status_4xx"
