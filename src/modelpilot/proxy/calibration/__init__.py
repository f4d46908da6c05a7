"""Paired checks (calibration): how good would the cheaper candidate have been?

Contract. For a sampled share of routable requests (:mod:`.sampling`: an accumulator, never more
than rate x routable; a worst-case reservation against a hard daily cap, persisted in the spool),
the caller is answered by the requested model exactly as without calibration, and only after its
last byte a background task (:mod:`.calibrator`) asks the candidate the same request (model
replaced, non-streaming, the caller's own key and headers) and decides a verdict: an exact
comparison, the escalation checks (:mod:`.verdict`), else a position-swapped judge call or a
team's own evaluator (:mod:`.judge`). Each check is metered as a calibration row (``requests=0``,
``judged``, ``acceptable``, ``calibration_cost_micros``); a verdict goes to a
:class:`~.calibrator.VerdictSink`. Failures give no verdict, are counted, and never reach the caller.

:func:`build_calibrator` is the factory the app calls.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from modelpilot.proxy.calibration.calibrator import CalibrationJob, Calibrator, VerdictSink, candidate_of
from modelpilot.proxy.calibration.judge import (
    AnthropicJudge,
    CallableEvaluator,
    EvaluationCase,
    Evaluator,
    UrlEvaluator,
)
from modelpilot.proxy.calibration.sampling import (
    CalibrationLimits,
    CapShare,
    LimitsFeed,
    Sampler,
    SpendLedger,
)
from modelpilot.proxy.calibration.verdict import Verdict

if TYPE_CHECKING:
    from modelpilot.proxy.metrics import ProxyMetrics
    from modelpilot.proxy.settings import ProxySettings
    from modelpilot.proxy.spool import Spool
    from modelpilot.proxy.upstream import UpstreamClient
    from modelpilot.schema.catalog import Catalog


def build_evaluator(settings: ProxySettings, upstream: UpstreamClient, catalog: Catalog) -> Evaluator:
    """The team's evaluator when one is configured, else the Anthropic judge."""
    if settings.judge_callable is not None:
        return CallableEvaluator.load(settings.judge_callable, timeout_s=settings.calibration_timeout_s)
    if settings.judge_url is not None:
        return UrlEvaluator(settings.judge_url, timeout_s=settings.calibration_timeout_s)
    return AnthropicJudge(
        upstream,
        catalog,
        model=settings.judge_model,
        rubric=settings.judge_prompt,
        timeout_s=settings.calibration_timeout_s,
    )


def build_calibrator(
    settings: ProxySettings,
    *,
    upstream: UpstreamClient,
    catalog: Catalog,
    spool: Spool,
    metrics: ProxyMetrics,
    sink: VerdictSink | None = None,
) -> Calibrator:
    """The proxy's calibrator, with the local overrides of ``settings`` winning over the
    deployment's limits (fed later through ``calibrator.limits.update``)."""
    return Calibrator(
        upstream,
        catalog,
        limits=LimitsFeed(
            rate_bps=settings.calibration_rate_bps, daily_cap_micros=settings.calibration_daily_cap_micros
        ),
        ledger=SpendLedger(spool, share=settings.calibration_share),
        evaluator=build_evaluator(settings, upstream, catalog),
        store=spool,
        metrics=metrics,
        sink=sink,
        timeout_s=settings.calibration_timeout_s,
    )


__all__ = [
    "AnthropicJudge",
    "CalibrationJob",
    "CalibrationLimits",
    "Calibrator",
    "CapShare",
    "CallableEvaluator",
    "EvaluationCase",
    "Evaluator",
    "LimitsFeed",
    "Sampler",
    "SpendLedger",
    "UrlEvaluator",
    "Verdict",
    "VerdictSink",
    "build_calibrator",
    "build_evaluator",
    "candidate_of",
]
