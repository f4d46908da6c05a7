"""The routing policy end to end: the anthropic SDK → the proxy → the simulator, with the real
control plane (SQLite) deciding and receiving the meter. Routing on serves a cheaper model;
shadow mode serves the requested model and the control plane's aggregates show what routing
would have saved."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from tests.proxy.routing.conftest import REQUESTED, Harness, body_for

pytest.importorskip("fastapi")


@dataclass
class ControlPlane:
    url: str
    secret: str
    engine: Engine
    account_id: uuid.UUID
    deployment_id: uuid.UUID

    def set_mode(self, mode: str) -> None:
        from modelpilot.control import deployments
        from modelpilot.control.policy.settings import RoutingSettings
        from modelpilot.schema.catalog import load_catalog

        with Session(self.engine) as db:
            deployments.update_routing_settings(
                db,
                account_id=self.account_id,
                deployment_id=self.deployment_id,
                settings=RoutingSettings(mode=mode),  # type: ignore[arg-type]
                catalog=load_catalog(),
                max_retention_days=365,
            )

    def aggregates(self) -> list[tuple[str, str, bool, int, int, int, int]]:
        from modelpilot.control.store.tables import UsageAggregate

        with Session(self.engine) as db:
            rows = db.scalars(
                select(UsageAggregate).where(UsageAggregate.deployment_id == self.deployment_id)
            )
            return [
                (
                    r.requested_model,
                    r.served_model,
                    r.routed,
                    r.requests,
                    r.baseline_cost_micros,
                    r.shadow_requests,
                    r.shadow_cost_micros,
                )
                for r in rows
            ]

    def wait_for_requests(self, count: int) -> list[tuple[str, str, bool, int, int, int, int]]:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            rows = self.aggregates()
            if sum(r[3] for r in rows) >= count:
                return rows
            time.sleep(0.05)
        raise AssertionError(f"the control plane metered {self.aggregates()}")


@pytest.fixture
def control_plane(tmp_path: Path) -> Iterator[ControlPlane]:
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

    async def deployment_key() -> tuple[str, str, str]:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://test"
        ) as client:
            tenant = await sign_up(client, "policy-e2e@example.com")
            deployment = await tenant.create_deployment()
            _, secret = await tenant.create_key(deployment)
            return tenant.account_id, deployment, secret

    account_id, deployment, secret = asyncio.run(deployment_key())
    try:
        with serve(app) as url:
            yield ControlPlane(url, secret, engine, uuid.UUID(account_id), uuid.UUID(deployment))
    finally:
        engine.dispose()


def easy_body(i: int) -> dict[str, Any]:
    return body_for(f"Hi! Thanks a lot for your help yesterday, talk soon ({i}).", max_tokens=100)


def test_routing_on_serves_a_cheaper_model_and_meters_the_savings(
    harness: Harness, control_plane: ControlPlane
):
    from modelpilot.schema.catalog import load_catalog

    proxy = harness.proxy(
        control_plane.url, control_plane_api_key=control_plane.secret, lifespan=True, flush_interval_s=0.1
    )
    with proxy.sdk() as sdk:
        raw = sdk.messages.with_raw_response.create(**easy_body(1))
    served = raw.headers["x-modelpilot-served-model"]
    assert raw.headers["x-modelpilot-routed"] == "true"
    assert raw.parse().model == served != REQUESTED
    catalog = load_catalog()
    requested_spec, served_spec = catalog.get(REQUESTED), catalog.get(served)
    assert requested_spec and served_spec and served_spec.pricing and requested_spec.pricing
    assert served_spec.pricing.base.output < requested_spec.pricing.base.output
    assert raw.headers["x-modelpilot-escalated"] == "false"
    rows = control_plane.wait_for_requests(1)
    assert [(r[0], r[1], r[2], r[5]) for r in rows] == [(REQUESTED, served, True, 0)]


def test_shadow_mode_serves_the_requested_model_and_meters_what_routing_would_have_saved(
    harness: Harness, control_plane: ControlPlane
):
    control_plane.set_mode("shadow")
    proxy = harness.proxy(
        control_plane.url, control_plane_api_key=control_plane.secret, lifespan=True, flush_interval_s=0.1
    )
    with proxy.sdk() as sdk:
        answers = [sdk.messages.with_raw_response.create(**easy_body(i)) for i in range(3)]
    for raw in answers:
        assert raw.parse().model == REQUESTED
        assert raw.headers["x-modelpilot-routed"] == "false"
    shadow_model = answers[0].headers["x-modelpilot-shadow-model"]
    assert shadow_model != REQUESTED
    records = proxy.wait_records(3)
    assert {r.shadow_model for r in records} == {shadow_model}

    rows = control_plane.wait_for_requests(3)
    assert len(rows) == 1
    requested, served, routed, requests, baseline, shadow_requests, shadow_cost = rows[0]
    assert (requested, served, routed, requests, shadow_requests) == (REQUESTED, REQUESTED, False, 3, 3)
    assert 0 < shadow_cost < baseline  # what routing would have cost, for the same usage
