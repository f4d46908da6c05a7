"""Issue 15, items 3 and 4: metering that cannot be lost or misbilled.

3. A control plane (or anything in its place) answering 2xx without acknowledging the batch
   (``{}``, an HTML page, another batch's id, a wrong count) must not empty the spool: the batch is
   kept and resent until an IngestAck names it and its size.
4. Usage (and opt-in metadata log records) is delivered only with the key of the deployment it
   was recorded for: a spool reopened with another key holds the old backlog back (and sends it
   when the old key returns), and a second proxy on the same spool file refuses to start."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner

from modelpilot.proxy.cli import proxy_command
from modelpilot.proxy.control_client import ControlPlaneClient
from modelpilot.proxy.flusher import MeterFlusher
from modelpilot.proxy.metrics import ProxyMetrics
from modelpilot.proxy.spool import Spool, SpoolLockedError, deployment_fingerprint
from modelpilot.schema.catalog import load_catalog
from modelpilot.schema.wire import Category, LogBatch, MeterBatch
from tests.proxy.metering.records import charge, log_entry
from tests.reliability import canaries
from tests.reliability.processes import Child, free_port
from tests.reliability.scenarios import Scenario, record
from tests.servers import serve

KEY_A = "mp_live_" + "A" * 43
KEY_B = "mp_live_" + "B" * 43
CATEGORIES = list(Category)


class LedgerControlPlane:
    """``POST /v1/meter`` that answers ``answer(batch)`` (a status and body) and, when it answers a
    proper acknowledgement, counts the batch once under the bearer key that sent it.
    ``POST /v1/logs`` acknowledges every batch and keeps its records' latencies under that key."""

    def __init__(self, mode: str = "ack") -> None:
        self.mode = mode
        self.counted: dict[str, dict[str, int]] = {}  # key -> batch id -> requests
        self.logged: dict[str, dict[str, list[int]]] = {}  # key -> batch id -> records' latency_ms
        self.deliveries = 0
        self._lock = threading.Lock()

    def requests(self, key: str) -> int:
        return sum(self.counted.get(key, {}).values())

    def log_latencies(self, key: str) -> list[int]:
        return sorted(ms for batch in self.logged.get(key, {}).values() for ms in batch)

    def _log_answer(self, key: str, batch: LogBatch) -> tuple[bytes, bytes]:
        with self._lock:
            is_duplicate = batch.batch_id in self.logged.setdefault(key, {})
            self.logged[key].setdefault(batch.batch_id, [r.latency_ms for r in batch.records])
        accepted = 0 if is_duplicate else len(batch.records)
        ack = {"batch_id": batch.batch_id, "accepted": accepted, "duplicate": is_duplicate}
        return b"application/json", orjson.dumps(ack)

    def _answer(self, key: str, batch: MeterBatch) -> tuple[bytes, bytes]:
        html = b"text/html"
        json = b"application/json"
        if self.mode == "empty object":
            return json, b"{}"
        if self.mode == "HTML page":
            return html, b"<html><body>Welcome to nginx!</body></html>"
        if self.mode == "empty body":
            return json, b""
        if self.mode == "another batch id":
            other = "00000000-0000-4000-8000-000000000000"
            return json, orjson.dumps({"batch_id": other, "accepted": len(batch.rows), "duplicate": False})
        if self.mode == "wrong row count":
            return json, orjson.dumps({"batch_id": batch.batch_id, "accepted": 1, "duplicate": False})
        with self._lock:
            is_duplicate = batch.batch_id in self.counted.setdefault(key, {})
            self.counted[key].setdefault(batch.batch_id, sum(row.requests for row in batch.rows))
        accepted = 0 if is_duplicate else len(batch.rows)
        return json, orjson.dumps(
            {"batch_id": batch.batch_id, "accepted": accepted, "duplicate": is_duplicate}
        )

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        self.deliveries += 1
        key = dict(scope["headers"]).get(b"authorization", b"").decode().removeprefix("Bearer ")
        if scope["path"] == "/v1/logs":
            content_type, payload = self._log_answer(key, LogBatch.model_validate_json(body))
        else:
            content_type, payload = self._answer(key, MeterBatch.model_validate_json(body))
        headers = [(b"content-type", content_type), (b"content-length", str(len(payload)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": payload})


@pytest.fixture
def ledger() -> Iterator[tuple[LedgerControlPlane, str]]:
    control = LedgerControlPlane()
    with serve(control) as url:
        yield control, url


def fill(spool: Spool, requests: int) -> None:
    """``requests`` charges spread over several buckets (so batches hold many rows)."""
    for n in range(requests):
        assert spool.add(charge(category=CATEGORIES[n % len(CATEGORIES)], escalated=n % 3 == 0))


async def flush(spool: Spool, url: str, key: str) -> bool:
    client = ControlPlaneClient(url, api_key=key, timeout_s=5)
    try:
        flusher = MeterFlusher(
            spool, client, metrics=ProxyMetrics(load_catalog()), interval_s=0.05, jitter=lambda: 0.0
        )
        return await flusher.flush()
    finally:
        await client.aclose()


def spooled_requests(spool: Spool) -> int:
    """Requests in the spool's next batch (all of them here: 150 charges make 26 rows)."""
    outgoing = spool.take_batch()  # the same batch comes back until it is acknowledged
    return 0 if outgoing is None else sum(row.requests for row in outgoing.batch.rows)


BAD_ACKNOWLEDGEMENTS = ["empty object", "HTML page", "empty body", "another batch id", "wrong row count"]


def test_a_2xx_that_does_not_acknowledge_the_batch_never_empties_the_spool(
    tmp_path: Path, ledger: tuple[LedgerControlPlane, str], caplog: pytest.LogCaptureFixture
) -> None:
    control, url = ledger
    spool = Spool.open(tmp_path / "spool.sqlite3", deployment=deployment_fingerprint(KEY_A))
    try:
        fill(spool, 150)
        held = spool.backlog().rows
        for mode in BAD_ACKNOWLEDGEMENTS:
            control.mode = mode
            assert asyncio.run(flush(spool, url, KEY_A)) is False, mode
            assert spool.backlog().rows == held, f"{mode}: the spool lost rows"
            assert spooled_requests(spool) == 150, mode
        assert control.requests(KEY_A) == 0
        warnings = [r for r in caplog.records if "without acknowledging it" in r.getMessage()]
        assert len(warnings) == len(BAD_ACKNOWLEDGEMENTS)  # once per flush run, not once per retry
        control.mode = "ack"
        assert asyncio.run(flush(spool, url, KEY_A)) is True
        assert spool.backlog().rows == 0
    finally:
        spool.close()
    counted = control.requests(KEY_A)
    assert counted == 150
    record(
        Scenario(
            "attack: 2xx without an acknowledgement ({}, HTML, empty, other id, wrong count)",
            sent=150,
            succeeded=counted,
            lost=150 - counted,
            note="kept and resent until an IngestAck names the batch",
        )
    )


def test_a_spool_reopened_with_another_key_never_sends_the_old_backlog_under_it(
    tmp_path: Path, ledger: tuple[LedgerControlPlane, str]
) -> None:
    control, url = ledger
    path = tmp_path / "spool.sqlite3"
    first = Spool.open(path, deployment=deployment_fingerprint(KEY_A))
    fill(first, 44)
    first.close()  # account A's proxy stops with a backlog; the file is reused with key B

    second = Spool.open(path, deployment=deployment_fingerprint(KEY_B))
    try:
        assert second.backlog().other_deployments_rows > 0
        fill(second, 156)
        assert asyncio.run(flush(second, url, KEY_B)) is True
    finally:
        second.close()
    assert control.requests(KEY_B) == 156  # B's own usage, and none of A's

    again = Spool.open(path, deployment=deployment_fingerprint(KEY_A))
    try:
        assert asyncio.run(flush(again, url, KEY_A)) is True
        assert again.backlog().rows == 0 and again.backlog().other_deployments_rows == 0
    finally:
        again.close()
    assert control.requests(KEY_A) == 44
    misbilled = 0 if control.requests(KEY_B) == 156 else control.requests(KEY_B) - 156
    record(
        Scenario(
            "attack: spool reused with another deployment key",
            sent=200,
            succeeded=control.requests(KEY_A) + control.requests(KEY_B),
            lost=misbilled,
            note=f"44 of A's requests billed to B: {misbilled}",
        )
    )


def test_a_spool_reopened_with_another_key_never_sends_the_old_log_records_under_it(
    tmp_path: Path, ledger: tuple[LedgerControlPlane, str]
) -> None:
    """The same for metadata log records (``take_log_batch``): A's records, told apart by their
    latencies (0-43 ms; B's are 1000-1155 ms), go only with A's key."""
    control, url = ledger
    path = tmp_path / "spool.sqlite3"
    first = Spool.open(path, deployment=deployment_fingerprint(KEY_A))
    for ms in range(44):
        assert first.add_log(log_entry(latency_ms=ms))
    first.close()

    second = Spool.open(path, deployment=deployment_fingerprint(KEY_B))
    try:
        for ms in range(1000, 1156):
            assert second.add_log(log_entry(latency_ms=ms))
        assert asyncio.run(flush(second, url, KEY_B)) is True
    finally:
        second.close()
    assert control.log_latencies(KEY_B) == list(range(1000, 1156))  # B's own records, none of A's

    again = Spool.open(path, deployment=deployment_fingerprint(KEY_A))
    try:
        assert asyncio.run(flush(again, url, KEY_A)) is True
        assert again.take_log_batch() is None
    finally:
        again.close()
    assert control.log_latencies(KEY_A) == list(range(44))
    under_b = [ms for ms in control.log_latencies(KEY_B) if ms < 1000]
    record(
        Scenario(
            "attack: spool reused with another deployment key (metadata log records)",
            sent=200,
            succeeded=len(control.log_latencies(KEY_A)) + len(control.log_latencies(KEY_B)),
            lost=len(under_b),
            note=f"44 of A's records sent under B: {len(under_b)}",
        )
    )


def test_a_legacy_spool_is_stamped_with_the_first_key_that_opens_it(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    old = sqlite3.connect(path)
    old.executescript(
        """
        CREATE TABLE pending (hour TEXT NOT NULL, category TEXT NOT NULL, requested_model TEXT NOT NULL,
            served_model TEXT NOT NULL, routed INTEGER NOT NULL, escalated INTEGER NOT NULL,
            requests INTEGER NOT NULL, input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL,
            cache_write_tokens INTEGER NOT NULL, cache_read_tokens INTEGER NOT NULL,
            actual_cost_micros INTEGER NOT NULL, baseline_cost_micros INTEGER NOT NULL,
            PRIMARY KEY (hour, category, requested_model, served_model, routed, escalated));
        CREATE TABLE outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL,
            batch_id TEXT NOT NULL UNIQUE, body TEXT NOT NULL, spool_rows INTEGER NOT NULL,
            parked_reason TEXT);
        CREATE TABLE log_pending (seq INTEGER PRIMARY KEY AUTOINCREMENT, body TEXT NOT NULL);
        INSERT INTO pending VALUES ('2026-11-28T10:00:00+00:00', 'code', 'claude-sonnet-4-5',
            'claude-haiku-4-5', 1, 0, 7, 10, 10, 0, 0, 100, 300);
        """
    )
    old.close()
    spool = Spool.open(path, deployment=deployment_fingerprint(KEY_A))
    try:
        outgoing = spool.take_batch()
        assert outgoing is not None and [row.requests for row in outgoing.batch.rows] == [7]
        assert spool.add(charge())
    finally:
        spool.close()
    other = Spool.open(path, deployment=deployment_fingerprint(KEY_B))
    try:
        assert other.take_batch() is None
    finally:
        other.close()


def test_a_second_proxy_on_the_same_spool_refuses_to_start(tmp_path: Path) -> None:
    spool = tmp_path / "shared.sqlite3"
    canaries.register(KEY_A)
    canaries.register(KEY_B)
    port = free_port()
    first = Child(
        "proxy A",
        port,
        [
            "proxy",
            "--port",
            str(port),
            "--upstream",
            "http://127.0.0.1:9",
            "--control-plane",
            "http://127.0.0.1:9",
            "--spool",
            str(spool),
        ],  # fmt: skip
        {"MODELPILOT_API_KEY": KEY_A},
    )
    try:
        result = CliRunner().invoke(
            proxy_command,
            [
                "--port",
                str(free_port()),
                "--upstream",
                "http://127.0.0.1:9",
                "--control-plane",
                "http://127.0.0.1:9",
                "--spool",
                str(spool),
            ],  # fmt: skip
            env={"MODELPILOT_API_KEY": KEY_B},
        )
        assert result.exit_code == 1
        [line] = [line for line in result.output.splitlines() if line.strip()]
        assert "in use by another modelpilot proxy" in line and "--spool" in line
        assert first.alive
        with pytest.raises(SpoolLockedError):
            Spool.open(spool, deployment=deployment_fingerprint(KEY_B))
    finally:
        first.stop_quietly()
    # A killed proxy leaves no stale lock behind.
    Spool.open(spool, deployment=deployment_fingerprint(KEY_B)).close()
    record(
        Scenario("attack: two proxies on one spool file", sent=2, succeeded=1, lost=0, note="second refused")
    )
