"""Valid ingestion payloads for the tests (plain JSON, as the proxy would send them)."""

from __future__ import annotations

import uuid
from typing import Any


def route_request(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "requested_model": "claude-sonnet-4-5",
        "category": "code",
        "features": {
            "input_tokens_estimate": 1200,
            "max_tokens": 1024,
            "message_count": 3,
            "has_tools": True,
        },
    }
    body.update(overrides)
    return body


def meter_row(**overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "hour": "2026-11-28T10:00:00Z",
        "category": "code",
        "requested_model": "claude-sonnet-4-5",
        "served_model": "claude-haiku-4-5",
        "routed": True,
        "escalated": False,
        "requests": 3,
        "input_tokens": 3000,
        "output_tokens": 600,
        "actual_cost_micros": 6000,
        "baseline_cost_micros": 18000,
    }
    row.update(overrides)
    return row


def meter_batch(*rows: dict[str, Any], batch_id: str | None = None) -> dict[str, Any]:
    return {"batch_id": batch_id or str(uuid.uuid4()), "rows": list(rows) or [meter_row()]}


def telemetry_batch() -> dict[str, Any]:
    return {
        "batch_id": str(uuid.uuid4()),
        "window_start": "2026-11-28T10:00:00Z",
        "window_s": 60,
        "counters": {"route_calls": 10, "route_cache_hits": 7, "fail_open_timeouts": 1},
        "route_latency": {"le_5_ms": 2, "le_10_ms": 1},
    }


def log_batch() -> dict[str, Any]:
    return {
        "batch_id": str(uuid.uuid4()),
        "records": [
            {
                "ts": "2026-11-28T10:15:00.250Z",
                "category": "qa",
                "requested_model": "claude-opus-4-5",
                "served_model": "claude-sonnet-4-5",
                "routed": True,
                "escalated": False,
                "status": 200,
                "input_tokens": 100,
                "output_tokens": 20,
                "cost_micros": 700,
                "latency_ms": 840,
            }
        ],
    }
