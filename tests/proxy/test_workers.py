"""``modelpilot proxy --workers N``: one spool per worker, left-over spools delivered, the paired
checks' daily cap split exactly, and (with real processes on loopback) every metering row of N = 2
workers reaching a real control plane exactly once."""

from __future__ import annotations

import dataclasses
from contextlib import ExitStack
from datetime import UTC, date, datetime
from pathlib import Path

import anthropic
import httpx2
import pytest
from bench._harness import listening_sockets

from modelpilot.control.store.engine import create_db_engine
from modelpilot.proxy.calibration.sampling import CapShare, SpendLedger
from modelpilot.proxy.settings import ProxySettings
from modelpilot.proxy.spool import Spool, deployment_fingerprint
from modelpilot.proxy.workers import left_over_spools, worker_file, worker_settings, worker_spools
from modelpilot.sim import SimSettings
from modelpilot.sim import create_app as create_sim
from tests.metering_totals import metered_totals
from tests.proxy.metering.records import charge
from tests.reliability import canaries, processes
from tests.reliability.processes import Child
from tests.servers import serve

DAY = date(2026, 12, 6)
KEY = "mp_live_" + "W" * 43


def settings_for(spool: Path, **fields: object) -> ProxySettings:
    return ProxySettings(
        upstream_url="http://127.0.0.1:9",
        control_plane_url="http://127.0.0.1:9",
        control_plane_api_key=KEY,
        spool_path=str(spool),
        **fields,  # type: ignore[arg-type]
    )


def spend(path: Path, micros: int, day: date = DAY) -> None:
    spool = Spool.open(path, deployment=deployment_fingerprint(KEY))
    try:
        spool.add_calibration(charge(requests=0, judged=1, calibration_micros=micros), day=day)
    finally:
        spool.close()


def test_worker_zero_keeps_the_spool_and_the_others_get_their_own_files(tmp_path: Path) -> None:
    spool = tmp_path / "spool-ab.sqlite3"
    assert worker_file(spool, 0) == spool
    assert worker_file(spool, 3) == tmp_path / "spool-ab-w3.sqlite3"
    settings = worker_settings(settings_for(spool, learner_path=str(tmp_path / "mine.json")), 3, today=DAY)
    assert [s.spool_path for s in settings] == [str(worker_file(spool, i)) for i in range(3)]
    assert [s.learner_path for s in settings] == [
        str(tmp_path / "mine.json"),
        str(tmp_path / "mine-w1.json"),
        str(tmp_path / "mine-w2.json"),
    ]
    assert [s.calibration_share for s in settings] == [
        CapShare(index=i, count=3, day=DAY, elsewhere_micros=0) for i in range(3)
    ]


def test_spools_of_a_run_with_more_workers_are_left_over(tmp_path: Path) -> None:
    spool = tmp_path / "spool.sqlite3"
    for index in (0, 1, 2, 5):
        spend(worker_file(spool, index), 10)
    (tmp_path / "spool-w1.sqlite3.lock").touch()  # the lock files are not spools
    (tmp_path / "spool-wx.sqlite3").touch()
    assert sorted(worker_spools(spool)) == [0, 1, 2, 5]
    assert left_over_spools(spool, 2) == [worker_file(spool, 2), worker_file(spool, 5)]
    assert left_over_spools(spool, 6) == []


@pytest.mark.parametrize("cap", [0, 1, 999, 1_000, 1_000_003])
@pytest.mark.parametrize("count", [1, 2, 3, 7])
def test_the_split_of_a_cap_adds_up_to_the_cap(cap: int, count: int) -> None:
    parts = [CapShare(index=i, count=count).split(cap) for i in range(count)]
    assert sum(parts) == cap
    assert max(parts) - min(parts) <= 1


def test_the_workers_caps_add_up_to_the_cap_with_what_was_spent_before(tmp_path: Path) -> None:
    # One worker ran earlier today and spent 700; a run with four workers left 50 in w3.
    spool = tmp_path / "spool.sqlite3"
    spend(spool, 700)
    spend(worker_file(spool, 3), 50)
    spend(worker_file(spool, 1), 999, day=date(2026, 12, 5))  # yesterday's does not count
    settings = worker_settings(settings_for(spool), 2, today=DAY)
    shares = [s.calibration_share for s in settings]
    assert all(share is not None for share in shares)
    for cap in (0, 600, 1_000, 1_001, 50_000):
        own = [700, 0]
        caps = [
            share.cap_micros(cap, day=DAY, own_at_start=spent)
            for share, spent in zip(shares, own, strict=True)
            if share is not None
        ]
        if cap >= 750:
            assert sum(caps) + 50 == cap  # exactly the cap, with the left-over spool's 50
        else:
            assert caps == own  # nothing is left today: nobody spends more
        # The next day every worker gets an even part of the whole cap.
        assert sum(s.cap_micros(cap, day=date(2026, 12, 7), own_at_start=0) for s in shares if s) == cap


def test_ledgers_of_two_workers_never_reserve_more_than_the_cap_together(tmp_path: Path) -> None:
    spool = tmp_path / "spool.sqlite3"
    spend(spool, 300)
    settings = worker_settings(settings_for(spool), 2, today=DAY)
    clock = lambda: datetime(2026, 12, 6, 12, tzinfo=UTC)  # noqa: E731
    ledgers = []
    spools = []
    for worker in settings:
        opened = Spool.open(str(worker.spool_path), deployment=deployment_fingerprint(KEY))
        spools.append(opened)
        ledgers.append(SpendLedger(opened, clock=clock, share=worker.calibration_share))
    try:
        held = 0
        for _ in range(100):
            for ledger in ledgers:
                if ledger.reserve(7, cap_micros=1_000) is not None:
                    held += 7
        assert 300 + held <= 1_000
        assert 1_000 - (300 + held) < 2 * 7  # each worker filled its share to within one check
    finally:
        for opened in spools:
            opened.close()


def test_one_worker_and_no_left_overs_change_nothing(tmp_path: Path) -> None:
    spool = tmp_path / "spool.sqlite3"
    spend(spool, 250)
    (only,) = worker_settings(settings_for(spool), 1, today=DAY)
    assert dataclasses.replace(only, calibration_share=None) == settings_for(spool)
    assert only.calibration_share is not None
    assert only.calibration_share.cap_micros(1_000, day=DAY, own_at_start=250) == 1_000


# -- real processes on loopback ---------------------------------------------------------------


def _sdk(base_url: str) -> anthropic.Anthropic:
    # A new connection per request, so the kernel spreads them over the workers.
    http = httpx2.Client(limits=httpx2.Limits(max_keepalive_connections=0), timeout=30)
    return anthropic.Anthropic(
        base_url=base_url, api_key=canaries.ANTHROPIC_KEY, http_client=http, max_retries=0
    )


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_two_workers_serve_the_sdk_and_every_row_reaches_the_control_plane_once(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'control-workers.sqlite3'}"
    spool = tmp_path / "spool-workers.sqlite3"
    children: list[Child] = []
    engine = create_db_engine(db_url)
    # A simulator whose cheaper models never misbehave: no escalation (which meters both answers
    # while the SDK sees one), so the SDK's usage is what must be metered.
    with ExitStack() as stack:
        sim_url = stack.enter_context(serve(create_sim(SimSettings(cheap_failure_rate=0))))
        stack.callback(engine.dispose)
        stack.callback(lambda: [child.stop_quietly() for child in children])
        control = processes.start_control(db_url, processes.free_port(), migrate=True)
        children.append(control)
        key = processes.deployment_key(db_url, "workers@example.com")
        # A run with four workers left metering in w3's spool: this run (two workers) delivers it.
        left_over = Spool.open(worker_file(spool, 3), deployment=deployment_fingerprint(key))
        hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        for _ in range(3):
            left_over.add(charge(hour=hour, input_tokens=10, output_tokens=5))
        left_over.close()

        proxy = processes.start_proxy(
            processes.free_port(),
            upstream=sim_url,
            control_url=control.url,
            key=key,
            spool=spool,
            # No paired checks: their calls' tokens would be metered too, at random.
            extra=("--workers", "2", "--flush-interval", "1", "--calibration-rate", "0"),
        )
        children.append(proxy)
        processes.eventually(lambda: worker_file(spool, 1).exists(), what="worker 1 to open its spool")
        input_tokens = output_tokens = 0
        sent = 24
        for number in range(sent):
            message = _sdk(proxy.url).messages.create(
                model="claude-haiku-4-5",
                max_tokens=16,
                messages=[{"role": "user", "content": f"Count to {number}."}],
            )
            input_tokens += message.usage.input_tokens
            output_tokens += message.usage.output_tokens
        assert proxy.terminate() == 0  # each worker drains its spool; the parent the left-over one
        requests, metered_in, metered_out, *_ = metered_totals(engine)
    assert (requests, metered_in, metered_out) == (sent + 3, input_tokens + 30, output_tokens + 15)
    for index in (0, 1, 3):
        reopened = Spool.open(worker_file(spool, index), deployment=deployment_fingerprint(key))
        try:
            assert reopened.rows == 0, index  # nothing left behind to send again
        finally:
            reopened.close()


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and "spawn_main" in (stat.parent / "cmdline").read_bytes().decode(
            errors="replace"
        ):
            found.append(int(stat.parent.name))
    return found


def _is_running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_workers_stop_by_themselves_when_the_parent_is_killed(tmp_path: Path) -> None:
    sim_port = processes.free_port()
    sim = Child("sim", sim_port, ["sim", "--port", str(sim_port)], {})
    port = processes.free_port()
    proxy = Child("proxy", port, ["proxy", "--port", str(port), "--upstream", sim.url, "--workers", "2"], {})
    try:
        processes.eventually(lambda: listening_sockets(port) == 2, what="two workers to listen", timeout_s=90)
        workers = _children(proxy.process.pid)
        answer = _sdk(proxy.url).messages.create(
            model="claude-haiku-4-5", max_tokens=8, messages=[{"role": "user", "content": "Hi."}]
        )
        assert answer.stop_reason is not None
        proxy.kill()  # SIGKILL: no signal reaches the workers, which run in their own process group
        processes.eventually(lambda: not any(_is_running(pid) for pid in workers), what="the workers to stop")
    finally:
        proxy.stop_quietly()
        sim.stop_quietly()
