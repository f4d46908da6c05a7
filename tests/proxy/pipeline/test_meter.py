"""Stage 6, meter: a record becomes a charge committed to a real spool file, with its metadata log
record when logs are on; a model name the caller made up is folded to ``unknown``."""

from __future__ import annotations

from pathlib import Path

from modelpilot.proxy.metrics import ProxyMetrics
from modelpilot.proxy.pipeline.meter import Meter
from modelpilot.proxy.recording import RequestRecord, price
from modelpilot.proxy.spool import Spool
from modelpilot.schema.catalog import load_catalog
from modelpilot.schema.usage import Usage

CATALOG = load_catalog()


def record(requested: str = "claude-sonnet-4-6", served: str = "claude-haiku-4-5") -> RequestRecord:
    usage = Usage(input_tokens=100, output_tokens=20)
    return RequestRecord(
        request_id="req_pipeline_meter",
        method="POST",
        path="/v1/messages",
        status=200,
        requested_model=requested,
        served_model=served,
        usage=usage,
        cost=price(usage, served=served, requested=requested, catalog=CATALOG),
        is_stream=False,
        is_complete=True,
        is_client_disconnected=False,
        error_type=None,
        stop_reason="end_turn",
        latency_ms=12.0,
        ttfb_ms=10.0,
        routed=True,
    )


def test_a_charge_is_in_the_spool_when_meter_returns(tmp_path: Path) -> None:
    spool = Spool.open(tmp_path / "pipeline-meter.sqlite3")
    metrics = ProxyMetrics(CATALOG, backlog=spool.backlog)
    meter = Meter(CATALOG, metrics, spool=spool)
    try:
        charge = meter.meter(record())
        assert charge is not None and charge.served_model == "claude-haiku-4-5"
        assert spool.backlog().pending_rows == 1 and spool.backlog().log_records == 0
        meter.metadata_logs = True  # the deployment's setting, switched at run time
        meter.meter(record())
        assert spool.backlog().log_records == 1
    finally:
        spool.close()


def test_a_made_up_model_name_never_reaches_the_spool(tmp_path: Path) -> None:
    spool = Spool.open(tmp_path / "pipeline-meter-fold.sqlite3")
    meter = Meter(CATALOG, ProxyMetrics(CATALOG), spool=spool, metadata_logs=True)
    try:
        charge = meter.meter(record(requested="claude-private-preview-9"))
        assert charge is not None and charge.requested_model == "unknown"
        batch = spool.take_batch()
        assert batch is not None
        assert b"claude-private-preview-9" not in batch.batch.model_dump_json().encode()
    finally:
        spool.close()


def test_without_a_spool_the_metrics_still_count(tmp_path: Path) -> None:
    metrics = ProxyMetrics(CATALOG)
    before = metrics.render()
    assert Meter(CATALOG, metrics).meter(record()) is not None
    assert metrics.render() != before
