"""What paired checks may spend: the accumulator never samples more than rate x routable, and
the daily cap holds exactly (reserve the worst case first, settle to the actual), across restarts."""

from __future__ import annotations

import random
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from modelpilot.proxy.accounting import Charge
from modelpilot.proxy.calibration.sampling import BPS, CalibrationLimits, LimitsFeed, Sampler, SpendLedger
from modelpilot.proxy.spool import Spool
from modelpilot.schema.wire import Category
from modelpilot.sim import make_prompt
from tests.proxy.calibration.conftest import CHEAP, REQUESTED, Harness, body_for


@pytest.mark.parametrize("rate_bps", [1, 200, 333, 5_000, 9_999, 10_000])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_sampler_never_exceeds_the_rate_at_any_point(rate_bps: int, seed: int) -> None:
    sampler = Sampler(random.Random(seed))
    for n in range(1, 3_001):
        if sampler.offer(rate_bps):
            sampler.take()
        assert sampler.sampled <= -(-rate_bps * n // BPS)  # rate x routable, rounded up
        assert sampler.sampled >= rate_bps * n // BPS  # and it takes all it may
    assert sampler.routable == 3_000


def test_samples_do_not_fall_in_step_with_a_periodic_workload() -> None:
    """At 50 % a plain accumulator checks every second request: a workload alternating two kinds
    of request would only ever have one kind checked."""
    sampler = Sampler(random.Random(4))
    by_parity = [0, 0]
    for n in range(2_000):
        if sampler.offer(5_000):
            sampler.take()
            by_parity[n % 2] += 1
    assert min(by_parity) >= 300, by_parity


def test_credit_a_blocked_check_could_not_use_does_not_pile_up() -> None:
    sampler = Sampler(random.Random(5))
    offered = [sampler.offer(5_000) for _ in range(10)]  # the cap refuses every one: never taken
    assert offered[2:] == [True] * 8  # by the second request the credit holds a whole
    # No burst: after the cap lets checks through again, at most one whole was saved.
    for _ in range(10):
        if sampler.offer(5_000):
            sampler.take()
    assert sampler.sampled <= 5 + 1


def test_rate_zero_counts_nothing_and_limits_resolve_overrides_first() -> None:
    sampler = Sampler()
    assert not any(sampler.offer(0) for _ in range(100))
    assert sampler.routable == 0
    feed = LimitsFeed()
    assert feed.current() == CalibrationLimits(200, 1_000_000)  # the wire defaults: 2 %, $1
    feed.update(rate_bps=700, daily_cap_micros=5_000_000)
    assert feed.current() == CalibrationLimits(700, 5_000_000)
    local = LimitsFeed(rate_bps=0)
    local.update(rate_bps=700, daily_cap_micros=5_000_000)
    assert local.current().is_off
    with pytest.raises(ValueError):
        CalibrationLimits(rate_bps=10_001)


def test_the_ledger_holds_reservations_against_the_cap_exactly() -> None:
    now = [datetime(2026, 12, 6, 23, 59, tzinfo=UTC)]
    ledger = SpendLedger(None, clock=lambda: now[0])
    first = ledger.reserve(400, cap_micros=1_000)
    second = ledger.reserve(600, cap_micros=1_000)  # 400 + 600 == 1000: fits exactly
    assert first is not None and second is not None
    assert ledger.reserve(1, cap_micros=1_000) is None
    ledger.settle(first, actual_micros=150)
    assert ledger.reserve(251, cap_micros=1_000) is None  # 150 + 600 + 251 > 1000
    third = ledger.reserve(250, cap_micros=1_000)
    assert third is not None
    assert (ledger.spent_today(), ledger.reserved_now()) == (150, 850)
    now[0] += timedelta(minutes=2)  # a new UTC day: a fresh budget
    assert ledger.spent_today() == 0 and ledger.reserve(1_000, cap_micros=1_000) is not None
    ledger.settle(second, actual_micros=500)  # yesterday's check settles on yesterday
    assert ledger.spent_today() == 0


def _charge(micros: int) -> Charge:
    return Charge(
        hour=datetime(2026, 12, 6, 10, tzinfo=UTC),
        category=Category.QA,
        requested_model=REQUESTED,
        served_model=CHEAP,
        routed=False,
        escalated=False,
        input_tokens=0,
        output_tokens=0,
        cache_write_tokens=0,
        cache_read_tokens=0,
        actual_micros=0,
        baseline_micros=0,
        requests=0,
        judged=1,
        acceptable=1,
        calibration_micros=micros,
    )


def test_the_days_spend_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "spool.sqlite3"
    day = date(2026, 12, 6)
    spool = Spool.open(path)
    assert spool.add_calibration(_charge(1_200), day=day)
    assert spool.add_calibration(_charge(300), day=day)
    spool.close()
    reopened = Spool.open(path)
    try:
        assert reopened.calibration_spent(day) == 1_500
        assert reopened.calibration_spent(day + timedelta(days=1)) == 0
        ledger = SpendLedger(reopened, clock=lambda: datetime(2026, 12, 6, 18, tzinfo=UTC))
        assert ledger.spent_today() == 1_500
        assert ledger.reserve(501, cap_micros=2_000) is None
        batch = reopened.take_batch()
        assert batch is not None
        (row,) = batch.batch.rows  # type: ignore[union-attr]
        assert (row.requests, row.judged, row.acceptable, row.calibration_cost_micros) == (0, 2, 2, 1_500)
        assert (row.actual_cost_micros, row.baseline_cost_micros) == (0, 0)
    finally:
        reopened.close()


def test_a_tiny_cap_is_never_exceeded_through_the_proxy(harness: Harness, tmp_path: Path) -> None:
    _, cp = harness.control_plane(mode="candidate")
    spool_path = str(tmp_path / f"spool-{uuid.uuid4().hex}.sqlite3")
    cap = 120_000  # about two checks' worst case; each actually costs a few thousand micros
    proxy = harness.proxy(cp, spool_path=spool_path, calibration_daily_cap_micros=cap)
    calibrator = proxy.app.calibrator
    assert calibrator is not None
    checks = 0
    with proxy.sdk() as sdk:
        for i in range(40):
            body = body_for(make_prompt(i % 2, seed=i))
            sdk.messages.create(**body)
            if proxy.metrics.calibration_skipped.value("daily_cap"):
                break
            checks += 1
            proxy.settle(checks)
            assert calibrator.ledger.spent_today() + calibrator.ledger.reserved_now() <= cap
    spent = calibrator.ledger.spent_today()
    assert checks >= 2 and proxy.metrics.calibration_skipped.value("daily_cap") == 1
    assert 0 < spent <= cap
    assert proxy.metrics.calibration_spend.value() == spent
    spool = proxy.app.spool
    assert spool is not None
    assert spool.calibration_spent(datetime.now(UTC).date()) == spent
    # A restart on the same spool starts from the day's spend: the request the cap refused is
    # refused again. (The first proxy lets go of the spool first: a spool is locked by one process.)
    spool.close()
    again = harness.proxy(cp, spool_path=spool_path, calibration_daily_cap_micros=cap)
    assert again.app.calibrator is not None
    assert again.app.calibrator.ledger.spent_today() == spent
    with again.sdk() as sdk:
        sdk.messages.create(**body)
    deadline = time.monotonic() + 10
    while not again.metrics.calibration_skipped.value("daily_cap"):
        assert time.monotonic() < deadline
        time.sleep(0.005)
    assert again.metrics.calibration_checks.value() == 0


def test_the_cli_options_reach_the_settings_and_refuse_bad_values(tmp_path: Path) -> None:
    import socket

    from click.testing import CliRunner

    from modelpilot.proxy.cli import proxy_command

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = str(probe.getsockname()[1])
    runner = CliRunner()
    refused = runner.invoke(proxy_command, ["--port", port, "--calibration-rate", "101"])
    assert refused.exit_code == 2 and "--calibration-rate" in refused.output
    off_loopback = runner.invoke(proxy_command, ["--port", port, "--judge-url", "http://example.com/grade"])
    assert off_loopback.exit_code == 2 and "--judge-url (MODELPILOT_JUDGE_URL)" in off_loopback.output
    both = runner.invoke(
        proxy_command, ["--port", port, "--judge-url", "http://127.0.0.1:9/", "--judge-callable", "a:b"]
    )
    assert both.exit_code == 2 and "set one" in both.output
    missing = runner.invoke(
        proxy_command,
        ["--port", port, "--judge-callable", "no_such_module:grade", "--control-plane", "http://127.0.0.1:9"],
        env={"MODELPILOT_API_KEY": "mp_live_" + "k" * 40, "XDG_STATE_HOME": str(tmp_path)},
    )
    assert missing.exit_code == 1 and "--judge-callable" in missing.output
