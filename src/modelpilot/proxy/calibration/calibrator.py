"""Paired checks end to end: sample a routable request, then, once the caller has its answer,
obtain the candidate's answer and a verdict in a background task, meter it, and teach the sink.

On the hot path only :meth:`Calibrator.sample` runs: arithmetic and an in-memory reservation (no
await, no disk write). Everything else happens in a task started by :meth:`Calibrator.start`
after the caller's last byte was sent. A check that fails (candidate error, judge error, timeout,
malformed judge answer) gives no verdict and is counted; nothing of it reaches the caller.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Protocol

import orjson

from modelpilot.proxy import escalation
from modelpilot.proxy.accounting import Charge, hour_of, meterable_model
from modelpilot.proxy.calibration.calls import CheckFailedError, post_message
from modelpilot.proxy.calibration.judge import (
    HIDDEN_PROMPT_TOKENS,
    AnthropicJudge,
    EvaluationCase,
    Evaluator,
    worst_cost,
)
from modelpilot.proxy.calibration.sampling import LimitsFeed, Reservation, Sampler, SpendLedger
from modelpilot.proxy.calibration.verdict import ReferenceFailedError, Verdict, settle_without_judge
from modelpilot.proxy.learning.example import Example
from modelpilot.proxy.metrics import ProxyMetrics
from modelpilot.proxy.recording import RequestRecord, decode_body
from modelpilot.proxy.routing import RoutePlan, rewrite_model
from modelpilot.proxy.upstream import UpstreamClient
from modelpilot.schema.catalog import Catalog
from modelpilot.schema.pricing import cost_micros
from modelpilot.schema.wire import Category

log = logging.getLogger("modelpilot.proxy.calibration")

# Tokens an image may cost beyond its bytes (the API scales images to about 1.15 megapixels).
_IMAGE_TOKENS = 1_600


class VerdictSink(Protocol):
    """Where verdicts teach the local learner (``modelpilot.proxy.learning.LocalLearner``)."""

    def record(
        self,
        example: Example,
        *,
        requested_model: str,
        candidate_model: str,
        acceptable: bool,
        source: str,
    ) -> None: ...


class CalibrationStore(Protocol):
    """The spool: the day's settled spend, and one calibration charge committed together with it."""

    def calibration_spent(self, day: date) -> int: ...

    def add_calibration(self, charge: Charge, *, day: date) -> bool: ...


@dataclass(frozen=True, slots=True)
class CalibrationJob:
    """A sampled request: what to ask the candidate, and the budget held for it."""

    requested_model: str
    candidate_model: str
    category: Category
    is_routed: bool  # the policy had chosen the candidate
    document: dict[str, Any]
    candidate_body: bytes
    reservation: Reservation
    candidate_worst_micros: int
    example: Example | None = None  # RoutePlan.example: the local learner's features (in memory only)


class _CheckBudget:
    """One check's share of the day's cap (judge.Budget)."""

    def __init__(self, ledger: SpendLedger, reservation: Reservation, cap: Callable[[], int]) -> None:
        self._ledger = ledger
        self._cap = cap
        self.reservations = [reservation]
        self.spent = 0

    @property
    def held(self) -> int:
        return sum(r.micros for r in self.reservations)

    def cover(self, micros: int) -> bool:
        missing = self.spent + micros - self.held
        if missing <= 0:
            return True
        extra = self._ledger.reserve(missing, cap_micros=self._cap())
        if extra is None:
            return False
        self.reservations.append(extra)
        return True

    def spend(self, micros: int) -> None:
        self.spent += micros

    def settle(self) -> None:
        # The whole actual cost lands on the first reservation; the others are released at 0.
        first, *rest = self.reservations
        self._ledger.settle(first, actual_micros=self.spent)
        for reservation in rest:
            self._ledger.settle(reservation, actual_micros=0)


def candidate_of(plan: RoutePlan) -> str | None:
    """The cheaper model a decision names: the routed model, else the shadow model, else the
    policy's candidate; None when it names none (or only the requested model)."""
    decision = plan.decision
    if decision is None:
        return None
    if decision.routed and decision.model != plan.requested_model:
        found: str | None = decision.model
    else:
        found = decision.shadow_model or decision.candidate_model
    return found if found is not None and found != plan.requested_model else None


def _media_tokens(document: dict[str, Any]) -> int | None:
    """Tokens the request's images may add beyond their bytes; None when a source is fetched by
    the API (a URL or a file id): its size, and so its worst cost, is unknown here."""
    extra = 0
    stack: list[Any] = [document.get("messages"), document.get("system")]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            source = item.get("source")
            if item.get("type") in ("image", "document") and isinstance(source, dict):
                if source.get("type") not in ("base64", "text"):
                    return None
                extra += _IMAGE_TOKENS
            stack.extend(v for v in item.values() if isinstance(v, list | dict))
    return extra


class Calibrator:
    """Paired checks for one proxy (module doc).

    >>> calibrator = Calibrator(upstream, catalog, limits=LimitsFeed(), ledger=SpendLedger(spool),
    ...                         evaluator=AnthropicJudge(upstream, catalog), store=spool)  # doctest: +SKIP
    >>> job = calibrator.sample(plan, document, body)      # on the hot path   # doctest: +SKIP
    >>> calibrator.start(job, record, answer, encoding=None, headers=headers)  # doctest: +SKIP
    """

    def __init__(
        self,
        upstream: UpstreamClient,
        catalog: Catalog,
        *,
        limits: LimitsFeed,
        ledger: SpendLedger,
        evaluator: Evaluator,
        store: CalibrationStore | None = None,
        metrics: ProxyMetrics | None = None,
        sink: VerdictSink | None = None,
        timeout_s: float = 120.0,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._upstream = upstream
        self._catalog = catalog
        self.limits = limits
        self.ledger = ledger
        self.evaluator = evaluator
        self._store = store
        self._metrics = metrics or ProxyMetrics(catalog)
        self.sink = sink
        self._timeout_s = timeout_s
        self._clock = clock or (lambda: datetime.now(UTC))
        self.sampler = Sampler()
        self._tasks: set[asyncio.Task[None]] = set()
        self._is_closed = False

    # -- the hot path ------------------------------------------------------------------------------
    def sample(self, plan: RoutePlan, document: dict[str, Any], body: bytes) -> CalibrationJob | None:
        """The job for this request when it is sampled (and its worst case reserved), else None."""
        limits = self.limits.current()
        if self._is_closed or limits.is_off:
            return None
        candidate = candidate_of(plan)
        if candidate is None or plan.category is None:
            return None
        if not self.sampler.offer(limits.rate_bps):
            return None
        reserve = self._worst_case(plan.requested_model, candidate, document, body)
        if reserve is None:
            self._metrics.calibration_skipped.inc("unbounded_cost")
            return None
        candidate_worst, total = reserve
        reservation = self.ledger.reserve(total, cap_micros=limits.daily_cap_micros)
        if reservation is None:
            self._metrics.calibration_skipped.inc("daily_cap")
            return None
        self.sampler.take()
        decision = plan.decision
        assert decision is not None
        if document.get("stream") is True:
            candidate_body = orjson.dumps({**document, "model": candidate, "stream": False})
        else:
            candidate_body = rewrite_model(body, document, candidate)
        return CalibrationJob(
            requested_model=plan.requested_model,
            candidate_model=candidate,
            category=plan.category,
            is_routed=decision.routed and decision.model == candidate,
            document=document,
            candidate_body=candidate_body,
            reservation=reservation,
            candidate_worst_micros=candidate_worst,
            example=plan.example,
        )

    def _worst_case(
        self, requested: str, candidate: str, document: dict[str, Any], body: bytes
    ) -> tuple[int, int] | None:
        max_tokens = document.get("max_tokens")
        media = _media_tokens(document)
        if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1 or media is None:
            return None
        prompt = len(body) + HIDDEN_PROMPT_TOKENS + media
        candidate_worst = worst_cost(self._catalog, candidate, prompt_tokens=prompt, output_tokens=max_tokens)
        if candidate_worst is None:
            return None
        judge_worst = 0
        if isinstance(self.evaluator, AnthropicJudge):
            # The judge reads the request and both answers (at most max_tokens each; 4 bytes a
            # token is an estimate, extended at judge time if the answers are longer).
            estimate = self.evaluator.worst_cost(requested, prompt_bytes=len(body) + 8 * max_tokens + 256)
            if estimate is None:
                return None
            judge_worst = estimate
        return candidate_worst, candidate_worst + judge_worst

    def release(self, job: CalibrationJob) -> None:
        """Give back the reservation of a sampled request that will not be checked."""
        self.ledger.settle(job.reservation, actual_micros=0)

    # -- after the caller's answer -----------------------------------------------------------------
    def start(
        self,
        job: CalibrationJob,
        record: RequestRecord,
        answer: bytes,
        *,
        encoding: bytes | None,
        headers: list[tuple[str, str]],
    ) -> None:
        """Start the check of ``job`` in the background (or release its reservation when the
        caller's answer is not one to compare with). Never raises, never awaits."""
        reference = None
        if record.status == 200 and record.is_complete and not self._is_closed:
            reference = _reference_message(answer, encoding, is_stream=record.is_stream)
        if reference is None:
            self.release(job)
            self._metrics.calibration_skipped.inc("answer_incomplete")
            return
        task = asyncio.get_running_loop().create_task(self._check(job, reference, headers))
        self._tasks.add(task)
        self._metrics.calibration_in_flight.add(1)
        task.add_done_callback(self._settled)

    def _settled(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._metrics.calibration_in_flight.add(-1)

    async def _check(
        self, job: CalibrationJob, reference: dict[str, Any], headers: list[tuple[str, str]]
    ) -> None:
        self._metrics.calibration_checks.inc()
        budget = _CheckBudget(self.ledger, job.reservation, lambda: self.limits.current().daily_cap_micros)
        verdict: Verdict | None = None
        try:
            verdict = await self._verdict(job, reference, headers, budget)
        except CheckFailedError as exc:
            budget.spend(exc.cost_micros)
            self._metrics.calibration_failures.inc(exc.reason)
        except ReferenceFailedError:
            self._metrics.calibration_skipped.inc("reference_failed")
        except asyncio.CancelledError:
            # Stopped at shutdown: what was sent may be billed, so the whole reservation counts.
            budget.spend(max(0, budget.held - budget.spent))
            self._metrics.calibration_failures.inc("shutdown")
            raise
        except Exception:
            log.exception("a paired check failed unexpectedly")
            self._metrics.calibration_failures.inc("internal_error")
        finally:
            self._finish(job, budget, verdict)

    async def _verdict(
        self,
        job: CalibrationJob,
        reference: dict[str, Any],
        headers: list[tuple[str, str]],
        budget: _CheckBudget,
    ) -> Verdict:
        try:
            answer = await post_message(
                self._upstream,
                headers,
                job.candidate_body,
                timeout_s=self._timeout_s,
                failure="candidate_error",
            )
        except CheckFailedError as exc:
            if exc.reason.endswith("_timeout"):
                # The call may have run to its end upstream and be billed: count its worst case.
                exc.cost_micros = job.candidate_worst_micros
            raise
        spec = self._catalog.get(answer.served_model or job.candidate_model)
        if answer.usage is not None and spec is not None and spec.pricing is not None:
            budget.spend(cost_micros(answer.usage, spec, self._catalog))
        verdict = settle_without_judge(job.document, reference, answer.message)
        if verdict is not None:
            return verdict
        case = EvaluationCase(
            request=job.document,
            reference=reference,
            candidate=answer.message,
            requested_model=job.requested_model,
            candidate_model=job.candidate_model,
            headers=headers,
        )
        return await self.evaluator.evaluate(case, budget)

    def _finish(self, job: CalibrationJob, budget: _CheckBudget, verdict: Verdict | None) -> None:
        day = budget.reservations[0].day
        try:
            self._meter(job, budget.spent, verdict, day)
        finally:
            budget.settle()
        self._metrics.calibration_spend.inc(amount=budget.spent)
        if verdict is None:
            return
        self._metrics.calibration_verdicts.inc(verdict.source, "true" if verdict.is_acceptable else "false")
        if self.sink is not None and job.example is not None:
            try:
                self.sink.record(
                    job.example,
                    requested_model=job.requested_model,
                    candidate_model=job.candidate_model,
                    acceptable=verdict.is_acceptable,
                    source="verdict",
                )
            except Exception:
                log.exception("the verdict sink failed")

    def _meter(self, job: CalibrationJob, spent: int, verdict: Verdict | None, day: date) -> None:
        if self._store is None or (verdict is None and spent == 0):
            return
        requested = meterable_model(job.requested_model, self._catalog)
        candidate = meterable_model(job.candidate_model, self._catalog)
        if requested is None or candidate is None:
            return
        charge = Charge(
            hour=hour_of(self._clock()),
            category=job.category,
            requested_model=requested,
            served_model=candidate,
            routed=job.is_routed,
            escalated=False,
            input_tokens=0,
            output_tokens=0,
            cache_write_tokens=0,
            cache_read_tokens=0,
            actual_micros=0,
            baseline_micros=0,
            requests=0,
            judged=int(verdict is not None),
            acceptable=int(verdict is not None and verdict.is_acceptable),
            calibration_micros=spent,
        )
        try:
            if not self._store.add_calibration(charge, day=day):
                self._metrics.spool_refused.inc()
        except sqlite3.Error:
            log.exception("could not write a paired check to the meter spool")
            self._metrics.spool_errors.inc()

    # -- shutdown ----------------------------------------------------------------------------------
    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    async def aclose(self, *, timeout_s: float) -> None:
        """Take no new checks; wait up to ``timeout_s`` for those in flight, then cancel the rest
        (their reservations count in full, see :meth:`_check`)."""
        self._is_closed = True
        tasks = list(self._tasks)
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=timeout_s)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)
        closer = getattr(self.evaluator, "aclose", None)
        if closer is not None:
            await closer()


def _reference_message(answer: bytes, encoding: bytes | None, *, is_stream: bool) -> dict[str, Any] | None:
    """The requested model's final message, from the bytes relayed to the caller."""
    try:
        decoded = decode_body(answer, encoding)
    except (zlib.error, ValueError):
        return None
    if is_stream:
        return escalation.assemble_stream(decoded)
    try:
        document = orjson.loads(decoded)
    except orjson.JSONDecodeError:
        return None
    return document if isinstance(document, dict) and document.get("type") == "message" else None


__all__ = ["CalibrationJob", "CalibrationStore", "Calibrator", "VerdictSink", "candidate_of"]
