"""The local learner converges on a deployment's own workload, end to end.

The official SDK sends a synthetic workload through the real proxy to the simulator, with the
real control plane (SQLite) deciding. Half of the prompts are easy (the simulator's haiku answers
them as well as the requested sonnet) and half are hard (haiku's answer is worse): the difference
lies only in their words (:mod:`modelpilot.sim.difficulty`), which the shipped offline prior does
not know. Paired checks on a sample of requests give the learner its verdicts. Over the workload
the share of easy requests routed to the cheaper model rises, the share of hard ones falls, and
the quality of what was routed (known exactly here, from the simulator's latent difficulty) stays
at or above the deployment's quality target.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import anthropic
import pytest

from modelpilot.proxy.app import ProxyApp, create_app
from modelpilot.proxy.calibration.sampling import Sampler
from modelpilot.proxy.settings import ProxySettings
from modelpilot.sim import SimSettings, make_prompt
from modelpilot.sim import create_app as create_sim
from tests.proxy.routing.conftest import serve_with_lifespan
from tests.servers import serve

pytest.importorskip("fastapi")

REQUESTED = "claude-sonnet-4-6"
CHEAP = "claude-haiku-4-5"
QUALITY_TARGET = 0.95
ROUNDS = 16
PER_ROUND = 40  # half easy, half hard
CHECK_RATE_BPS = 2_500  # a quarter of routable requests get a paired check (served as requested)
#: The sampler's thresholds come from this seed (its randomness is the test's only one besides
#: timing); SAMPLER_SEED=<n> tries another. Seeds 1-6 pass too.
SAMPLER_SEED = int(os.environ.get("SAMPLER_SEED", "20261206"))


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[tuple[str, ProxyApp]]:
    import httpx2 as httpx
    from sqlalchemy.orm import Session

    from modelpilot.control import deployments
    from modelpilot.control.app import create_app as create_control
    from modelpilot.control.policy.settings import RoutingSettings
    from modelpilot.control.store.engine import create_db_engine
    from modelpilot.control.store.tables import Base
    from modelpilot.schema.catalog import load_catalog
    from tests.control.conftest import make_settings, sign_up

    db_url = f"sqlite:///{tmp_path / 'control.sqlite3'}"
    engine = create_db_engine(db_url)
    Base.metadata.create_all(engine)
    control = create_control(make_settings(db_url), engine=engine)

    async def deployment_key() -> tuple[str, str, str]:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=control), base_url="http://test"
        ) as client:
            tenant = await sign_up(client, "learning-e2e@example.com")
            deployment = await tenant.create_deployment()
            _, secret = await tenant.create_key(deployment)
            return tenant.account_id, deployment, secret

    account_id, deployment_id, secret = asyncio.run(deployment_key())
    # One cheaper candidate, the line the simulator makes fail on hard prompts.
    with Session(engine) as db:
        deployments.update_routing_settings(
            db,
            account_id=uuid.UUID(account_id),
            deployment_id=uuid.UUID(deployment_id),
            settings=RoutingSettings(allowed_models=[REQUESTED, CHEAP], quality_target=QUALITY_TARGET),
            catalog=load_catalog(),
            max_retention_days=365,
        )
    plain = {"server_header": False, "date_header": False}
    try:
        with (
            serve(control, **plain) as control_url,
            # Only the latent difficulty decides quality: no random refusals or empty answers.
            serve(create_sim(SimSettings(cheap_failure_rate=0.0)), **plain) as sim_url,
        ):
            settings = ProxySettings(
                upstream_url=sim_url,
                control_plane_url=control_url,
                control_plane_api_key=secret,
                routing_budget_ms=2000.0,  # loaded CI machines must not fail open by chance
                spool_path=str(tmp_path / f"spool-{uuid.uuid4().hex}.sqlite3"),
                flush_interval_s=0.2,
                calibration_rate_bps=CHECK_RATE_BPS,
                calibration_daily_cap_micros=100_000_000,
            )
            app = create_app(settings)
            with serve_with_lifespan(app, **plain) as proxy_url:
                yield proxy_url, app
    finally:
        engine.dispose()


def test_the_router_learns_which_requests_the_cheaper_model_answers_well(
    stack: tuple[str, ProxyApp],
) -> None:
    proxy_url, app = stack
    calibrator = app.calibrator
    assert calibrator is not None and app.router is not None and app.router.learner is not None
    learner = app.router.learner
    calibrator.sampler = Sampler(random.Random(SAMPLER_SEED))
    routed_share: list[tuple[float, float]] = []
    routed_quality: list[tuple[int, int]] = []  # (routed answers, of which acceptable) per round
    with anthropic.Anthropic(base_url=proxy_url, api_key="sk-ant-offline", max_retries=0) as sdk:
        for round_ in range(ROUNDS):
            routed = {0: 0, 1: 0}
            good = 0
            for i in range(PER_ROUND):
                level = i % 2
                n = round_ * PER_ROUND + i
                # A number makes each prompt its own conversation (a repeated one keeps its first
                # decision) without adding a word.
                prompt = f"{make_prompt(level, seed=n)} (ticket {n})"
                raw = sdk.messages.with_raw_response.create(
                    model=REQUESTED, max_tokens=200, messages=[{"role": "user", "content": prompt}]
                )
                assert raw.parse().content  # every caller gets an answer
                if raw.headers["x-modelpilot-routed"] == "true":
                    assert raw.headers["x-modelpilot-served-model"] == CHEAP
                    routed[level] += 1
                    good += level == 0  # haiku answers level 0 as well as sonnet, level 1 worse
            routed_share.append((routed[0] / (PER_ROUND / 2), routed[1] / (PER_ROUND / 2)))
            routed_quality.append((routed[0] + routed[1], good))
            # Checks run after each caller's answer; let this round's verdicts land before the next.
            _settle(lambda: calibrator.in_flight == 0 and learner.pending == 0)
    report = f"routed share (easy, hard) by round: {routed_share}; quality: {routed_quality}"
    assert learner.outcomes(REQUESTED) >= 20, report
    # The cold prior cannot tell the two kinds apart (it routes some of each, as many easy as
    # hard or more by chance); the learned router can. Compare its first two rounds with the
    # last three.
    cold_easy, cold_hard = _mean(routed_share[:2])
    late_easy, late_hard = _mean(routed_share[-3:])
    # Where the cheap model is not acceptable, less is routed, down to (almost) nothing ...
    assert (late_hard < cold_hard or late_hard == 0.0) and late_hard <= 0.1, report
    # ... and where it is, a good share is (at most 75 %: a sampled request is served by the
    # requested model), far more than of the hard ones.
    assert late_easy >= 0.3 and late_easy - late_hard >= 0.3, report
    # What is routed is acceptable more often than under the cold prior, and at the target or better.
    cold_routed, cold_good = map(sum, zip(*routed_quality[:2], strict=True))
    late_routed, late_good = map(sum, zip(*routed_quality[ROUNDS // 2 :], strict=True))
    assert late_routed > 0 and late_good / late_routed >= QUALITY_TARGET, report
    assert cold_routed == 0 or late_good / late_routed >= cold_good / cold_routed, report


def _mean(shares: list[tuple[float, float]]) -> tuple[float, float]:
    return sum(e for e, _ in shares) / len(shares), sum(h for _, h in shares) / len(shares)


def _settle(is_settled: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 30
    while not is_settled():
        assert time.monotonic() < deadline, "paired checks did not finish"
        time.sleep(0.01)
