"""Message Batches: an in-memory store whose batches end ``batch_processing_s`` after creation.

Shape errors in a request's params reject the whole create (400); errors that need the model
(unknown id, max_tokens over its limit) come back as that request's ``errored`` result.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from modelpilot.sim.errors import InvalidRequestError, NotFoundError, SimError
from modelpilot.sim.ids import new_id, new_request_id
from modelpilot.sim.pages import paginate
from modelpilot.sim.validation import check_shape

RawJSON = Any
Answer = Callable[[dict[str, Any]], dict[str, Any]]  # params -> Message, may raise SimError

_CUSTOM_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(slots=True)
class Batch:
    """One message batch and, once ended, its JSON Lines results."""

    id: str
    created_at: datetime
    created_mono: float
    requests: list[tuple[str, dict[str, Any]]]
    processing_status: str = "in_progress"
    ended_at: datetime | None = None
    cancel_initiated_at: datetime | None = None
    results: list[bytes] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    def render(self, origin: str) -> dict[str, Any]:
        """The ``MessageBatch`` object; ``results_url`` points at the caller's own origin."""
        counts = {"processing": 0, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
        counts.update(self.counts or {"processing": len(self.requests)})
        ended = self.processing_status == "ended"
        return {
            "id": self.id,
            "type": "message_batch",
            "processing_status": self.processing_status,
            "request_counts": counts,
            "created_at": rfc3339(self.created_at),
            "expires_at": rfc3339(self.created_at + timedelta(hours=24)),
            "ended_at": rfc3339(self.ended_at) if self.ended_at else None,
            "archived_at": None,
            "cancel_initiated_at": rfc3339(self.cancel_initiated_at) if self.cancel_initiated_at else None,
            "results_url": f"{origin}/v1/messages/batches/{self.id}/results" if ended else None,
        }


def check_batch_body(body: RawJSON) -> list[tuple[str, dict[str, Any]]]:
    """The ``(custom_id, params)`` pairs of a create body; 400 on anything malformed."""
    if not isinstance(body, dict) or not isinstance(body.get("requests"), list):
        raise InvalidRequestError("requests: Field required")
    if not body["requests"]:
        raise InvalidRequestError("requests: List should have at least 1 item after validation, not 0")
    pairs: list[tuple[str, dict[str, Any]]] = []
    seen: set[str] = set()
    for i, item in enumerate(body["requests"]):
        if not isinstance(item, dict):
            raise InvalidRequestError(f"requests.{i}: Input should be a valid dictionary")
        custom_id = item.get("custom_id")
        if not isinstance(custom_id, str) or not _CUSTOM_ID.match(custom_id):
            raise InvalidRequestError(
                f"requests.{i}.custom_id: String should match pattern '^[a-zA-Z0-9_-]{{1,64}}$'"
            )
        if custom_id in seen:
            raise InvalidRequestError(f"requests.{i}.custom_id: Duplicate custom_id {custom_id!r}")
        seen.add(custom_id)
        params = item.get("params")
        try:
            check_shape(params)
        except SimError as exc:
            raise InvalidRequestError(f"requests.{i}.params.{exc.message}") from exc
        assert isinstance(params, dict)
        if params.get("stream"):
            raise InvalidRequestError(
                f"requests.{i}.params.stream: streaming is not supported in message batches"
            )
        pairs.append((custom_id, params))
    return pairs


class BatchStore:
    """All batches of one app, newest last."""

    def __init__(
        self, answer: Answer, *, processing_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._answer = answer
        self._processing_s = processing_s
        self._clock = clock
        self._batches: dict[str, Batch] = {}

    def create(self, body: RawJSON) -> Batch:
        requests = check_batch_body(body)
        batch = Batch(new_id("msgbatch_01", 22), datetime.now(UTC), self._clock(), requests)
        self._batches[batch.id] = batch
        return batch

    def get(self, batch_id: str) -> Batch:
        batch = self._batches.get(batch_id)
        if batch is None:
            raise NotFoundError(f"message_batch: {batch_id}")
        self._refresh(batch)
        return batch

    def page(self, query: Mapping[str, str], origin: str) -> dict[str, Any]:
        batches = list(reversed(self._batches.values()))
        for batch in batches:
            self._refresh(batch)
        return paginate(batches, query, id_of=lambda b: b.id, render=lambda b: b.render(origin))

    def cancel(self, batch_id: str) -> Batch:
        batch = self._batches.get(batch_id)
        if batch is None:
            raise NotFoundError(f"message_batch: {batch_id}")
        if batch.processing_status == "in_progress":
            batch.processing_status = "canceling"
            batch.cancel_initiated_at = datetime.now(UTC)
        return batch

    def delete(self, batch_id: str) -> dict[str, str]:
        batch = self.get(batch_id)
        if batch.processing_status != "ended":
            raise InvalidRequestError(
                f"Batch {batch_id} cannot be deleted while it is still processing; "
                "cancel it and wait for it to end."
            )
        del self._batches[batch_id]
        return {"id": batch_id, "type": "message_batch_deleted"}

    def results(self, batch_id: str) -> list[bytes]:
        batch = self.get(batch_id)
        if batch.processing_status != "ended":
            raise InvalidRequestError(
                f"Batch {batch_id} has not finished processing; results are not available yet."
            )
        return batch.results

    def _refresh(self, batch: Batch) -> None:
        if batch.processing_status == "ended":
            return
        canceled = batch.processing_status == "canceling"
        if not canceled and self._clock() - batch.created_mono < self._processing_s:
            return
        counts = {"processing": 0, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
        for custom_id, params in batch.requests:
            result = {"type": "canceled"} if canceled else self._result(params)
            counts[result["type"]] += 1
            batch.results.append(orjson.dumps({"custom_id": custom_id, "result": result}) + b"\n")
        batch.counts = counts
        batch.processing_status = "ended"
        batch.ended_at = datetime.now(UTC)

    def _result(self, params: dict[str, Any]) -> dict[str, Any]:
        try:
            return {"type": "succeeded", "message": self._answer(params)}
        except SimError as exc:
            error = {
                "type": "error",
                "error": {"type": exc.kind, "message": exc.message},
                "request_id": new_request_id(),
            }
            return {"type": "errored", "error": error}
