"""RequestRecords and Charges as the proxy would make them, for the metering tests."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from modelpilot.proxy.accounting import Charge
from modelpilot.proxy.recording import RequestRecord
from modelpilot.schema.usage import Usage
from modelpilot.schema.wire import Category, LogRecord, MeterRow

NOW = datetime(2026, 11, 28, 10, 17, 3, tzinfo=UTC)
HOUR = datetime(2026, 11, 28, 10, tzinfo=UTC)


def record(
    usage: Usage | None = None,
    *,
    requested: str | None = "claude-sonnet-4-5",
    served: str | None = None,
    **fields: Any,
) -> RequestRecord:
    values: dict[str, Any] = {
        "request_id": "req_1",
        "method": "POST",
        "path": "/v1/messages",
        "status": 200,
        "requested_model": requested,
        "served_model": served if served is not None else requested,
        "usage": usage,
        "cost": None,
        "is_stream": False,
        "is_complete": True,
        "is_client_disconnected": False,
        "error_type": None,
        "stop_reason": "end_turn",
        "latency_ms": 120.0,
        "ttfb_ms": 30.0,
    }
    values.update(fields)
    return RequestRecord(**values)


def charge(**fields: Any) -> Charge:
    values: dict[str, Any] = {
        "hour": HOUR,
        "category": Category.CODE,
        "requested_model": "claude-sonnet-4-5",
        "served_model": "claude-haiku-4-5",
        "routed": True,
        "escalated": False,
        "input_tokens": 1000,
        "output_tokens": 200,
        "cache_write_tokens": 0,
        "cache_read_tokens": 0,
        "actual_micros": 2000,
        "baseline_micros": 6000,
    }
    values.update(fields)
    return Charge(**values)


def log_entry(**fields: Any) -> LogRecord:
    values: dict[str, Any] = {
        "ts": NOW,
        "category": Category.CODE,
        "requested_model": "claude-sonnet-4-5",
        "served_model": "claude-haiku-4-5",
        "routed": True,
        "escalated": False,
        "status": 200,
        "input_tokens": 1000,
        "cost_micros": 2000,
        "latency_ms": 120,
    }
    values.update(fields)
    return LogRecord(**values)


def spooled_rows(spool_path: Path) -> list[MeterRow]:
    """The meter rows waiting (not yet batched) in the spool file at ``spool_path``, read without
    the spool's lock: the proxy that holds it may still be running."""
    with closing(sqlite3.connect(f"file:{spool_path}?mode=ro", uri=True)) as db:
        db.row_factory = sqlite3.Row
        found = db.execute("SELECT * FROM pending ORDER BY rowid").fetchall()
    rows = []
    for row in found:
        values = {name: row[name] for name in row.keys() if name in MeterRow.model_fields}  # noqa: SIM118
        values.update(routed=bool(row["routed"]), escalated=bool(row["escalated"]))
        rows.append(MeterRow(**values))
    return rows
