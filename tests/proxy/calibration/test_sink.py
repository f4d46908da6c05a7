"""A verdict reaches the verdict sink (the local learner) with the plan's example, and its charge
and spend reach the spool, through the calibrator's own seams (a plain function stands in for the
upstream)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from modelpilot.proxy.calibration import AnthropicJudge, Calibrator, LimitsFeed, SpendLedger
from modelpilot.proxy.learning import LocalLearner
from modelpilot.proxy.routing import RoutePlan
from modelpilot.proxy.spool import Spool
from modelpilot.schema.catalog import load_catalog
from modelpilot.schema.usage import Usage
from modelpilot.schema.wire import Category, DecisionReason, RouteDecision
from tests.proxy.calibration.test_judge import StandInUpstream
from tests.proxy.metering.records import record

CATALOG = load_catalog()
REQUESTED, CHEAP = "claude-sonnet-4-6", "claude-haiku-4-5"


class Sink:
    def __init__(self) -> None:
        self.calls: list[tuple[Any, dict[str, Any]]] = []

    def record(
        self,
        example: Any,
        *,
        requested_model: str,
        candidate_model: str,
        acceptable: bool,
        source: str,
    ) -> None:
        self.calls.append(
            (
                example,
                {
                    "requested": requested_model,
                    "candidate": candidate_model,
                    "ok": acceptable,
                    "source": source,
                },
            )
        )


class ShortAnswers(StandInUpstream):
    """The candidate answers "Paris." (the judge is never needed: a short answer compares exactly)."""

    def __init__(self) -> None:
        super().__init__("tie", raw="Paris.")


async def test_a_verdict_teaches_the_sink_and_is_metered(tmp_path: Path) -> None:
    spool = Spool.open(tmp_path / "spool.sqlite3")
    sink = Sink()
    upstream = ShortAnswers()
    calibrator = Calibrator(
        upstream,  # type: ignore[arg-type]
        CATALOG,
        limits=LimitsFeed(rate_bps=10_000),
        ledger=SpendLedger(spool),
        evaluator=AnthropicJudge(upstream, CATALOG),  # type: ignore[arg-type]
        store=spool,
        sink=sink,
    )
    document = {"model": REQUESTED, "max_tokens": 50, "messages": [{"role": "user", "content": "Capital?"}]}
    body = orjson.dumps(document)
    decision = RouteDecision(
        decision_id=str(uuid.uuid4()),
        model=REQUESTED,
        routed=False,
        reason=DecisionReason.REQUESTED_MODEL,
        ttl_s=0,
        bucket="qa:t0",
        candidate_model=CHEAP,
    )
    example = LocalLearner().example_of(document)
    plan = RoutePlan(requested_model=REQUESTED, category=Category.QA, decision=decision, example=example)
    job = calibrator.sample(plan, document, body)
    assert job is not None and job.example is example and not job.is_routed
    assert orjson.loads(job.candidate_body)["model"] == CHEAP
    reference = {
        "type": "message",
        "model": REQUESTED,
        "content": [{"type": "text", "text": "paris"}],
        "stop_reason": "end_turn",
        "usage": {"input_tokens": 10, "output_tokens": 2},
    }
    calibrator.start(
        job,
        record(Usage(input_tokens=10, output_tokens=2), requested=REQUESTED),
        orjson.dumps(reference),
        encoding=None,
        headers=[("x-api-key", "sk-ant-test")],
    )
    await calibrator.aclose(timeout_s=10)
    assert sink.calls == [
        (example, {"requested": REQUESTED, "candidate": CHEAP, "ok": True, "source": "verdict"})
    ]
    assert len(upstream.bodies) == 1  # the candidate only: no judge call
    # Priced on the model that answered (the stand-in says sonnet-4-6: $3 / $15 per MTok).
    spent = 1000 * 3 + 10 * 15
    assert calibrator.ledger.spent_today() == spent
    assert spool.calibration_spent(datetime.now(UTC).date()) == spent
    batch = spool.take_batch()
    assert batch is not None
    (row,) = batch.batch.rows  # type: ignore[union-attr]
    assert (row.served_model, row.requests, row.judged, row.acceptable, row.calibration_cost_micros) == (
        CHEAP,
        0,
        1,
        1,
        spent,
    )
    spool.close()
