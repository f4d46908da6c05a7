"""A stand-in for the control plane's ``POST /v1/meter`` and ``/v1/logs`` (idempotent on batch
id, firewalled, schema-checked), for flusher tests that need to script failures the real one never makes.
The real control plane is used by ``test_crash.py``."""

from __future__ import annotations

import threading
from typing import Any

import orjson
from pydantic import ValidationError

from modelpilot.schema.firewall import find_violation
from modelpilot.schema.wire import LogBatch, LogRecord, MeterBatch

KEY = "mp_test_deployment_key"


class MeterStandIn:
    """Answers ``/v1/meter``; ``script`` holds statuses to answer (in order) before real work."""

    def __init__(self) -> None:
        self.script: list[int] = []
        self.deliveries: list[str] = []  # batch ids in arrival order, duplicates included
        self.batches: dict[str, MeterBatch] = {}
        self.bodies: list[Any] = []
        self.log_batches: dict[str, LogBatch] = {}
        self._lock = threading.Lock()

    @property
    def requests(self) -> int:
        return sum(row.requests for batch in self.batches.values() for row in batch.rows)

    @property
    def log_records(self) -> list[LogRecord]:
        return [record for batch in self.log_batches.values() for record in batch.records]

    @property
    def actual_micros(self) -> int:
        return sum(row.actual_cost_micros for batch in self.batches.values() for row in batch.rows)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        status, answer = self._handle(scope, body)
        payload = orjson.dumps(answer)
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})

    def _handle(self, scope: Any, body: bytes) -> tuple[int, Any]:
        if scope["path"] not in ("/v1/meter", "/v1/logs") or scope["method"] != "POST":
            return 404, {"detail": "not found"}
        if (b"authorization", f"Bearer {KEY}".encode()) not in scope["headers"]:
            return 401, {"detail": "bad key"}
        with self._lock:
            if self.script:
                return self.script.pop(0), {"detail": "scripted"}
            document = orjson.loads(body)
            self.bodies.append(document)
            if find_violation(document) is not None:
                return 422, {"detail": "firewall"}
            try:
                if scope["path"] == "/v1/logs":
                    logs = LogBatch.model_validate(document)
                    duplicate = logs.batch_id in self.log_batches
                    self.log_batches.setdefault(logs.batch_id, logs)
                    accepted = 0 if duplicate else len(logs.records)
                    return 200, {"batch_id": logs.batch_id, "accepted": accepted, "duplicate": duplicate}
                batch = MeterBatch.model_validate(document)
            except ValidationError:
                return 422, {"detail": "schema"}
            self.deliveries.append(batch.batch_id)
            duplicate = batch.batch_id in self.batches
            self.batches.setdefault(batch.batch_id, batch)
            accepted = 0 if duplicate else len(batch.rows)
            return 200, {"batch_id": batch.batch_id, "accepted": accepted, "duplicate": duplicate}
