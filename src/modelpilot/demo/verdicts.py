"""The demo's closing lines: measured quality beside the savings (paired-check verdicts, through
the same arithmetic the console and ``GET /api/deployments/{id}/summary`` use) and, in shadow
mode, what routing would have saved."""

from __future__ import annotations

from collections import Counter

from modelpilot.control.quality import describe, measure
from modelpilot.demo.metered import DeploymentSettings, Totals


def _usd(micros: int) -> str:
    return f"${micros / 1_000_000:.6f}"


def would_save_micros(totals: Totals) -> int:
    """Shadow mode's "would have saved", estimated per bucket as the control plane does."""
    saved = 0
    for counts in totals.values.values():
        if counts["shadow_requests"] and counts["requests"]:
            per_request = counts["actual_cost_micros"] // counts["requests"]
            saved += per_request * counts["shadow_requests"] - counts["shadow_cost_micros"]
    return saved


def shadow_lines(totals: Totals, settings: DeploymentSettings | None) -> list[str]:
    """The headline of a deployment in shadow mode (nothing for one that routes)."""
    shadow = totals.total("shadow_requests")
    if (settings is None or settings.routing_mode != "shadow") and not shadow:
        return []
    requests = totals.total("requests")
    return [
        f"Shadow mode: nothing was routed. Routing would have saved {_usd(would_save_micros(totals))} "
        f"on these requests ({shadow} of {requests} would have gone to a cheaper model).",
        "Turn routing on in the console's deployment settings when the measured quality below satisfies you.",
    ]


def quality_lines(totals: Totals, settings: DeploymentSettings | None) -> list[str]:
    """Measured quality per requested -> candidate pair and in total, against the deployment's
    quality target, with calibration spend; or why there is none and how to get it."""
    target = settings.quality_target if settings is not None else None
    pairs: dict[tuple[str, str], Counter[str]] = {}
    for (_, requested, served, _, _), counts in totals.values.items():
        pair = pairs.setdefault((requested, served), Counter())
        for field in ("judged", "acceptable", "calibration_cost_micros"):
            pair[field] += counts[field]
    judged = totals.total("judged")
    if not judged:
        return ["Measured quality: " + _nothing_judged(settings)]
    lines = ["Measured quality (paired checks: was the cheaper answer as good as the requested model's?):"]
    for (requested, served), pair in sorted(pairs.items()):
        if pair["judged"]:
            quality = measure(judged=pair["judged"], acceptable=pair["acceptable"], target=None)
            lines.append(f"  {requested} -> {served}: {describe(quality)}")
    overall = measure(judged=judged, acceptable=totals.total("acceptable"), target=target)
    lines.append(f"  total: {describe(overall)}")
    lines.append(
        f"Quality checks cost {_usd(totals.total('calibration_cost_micros'))} on your Anthropic key, "
        "apart from the savings above (never billed as savings)."
    )
    return lines


def _nothing_judged(settings: DeploymentSettings | None) -> str:
    if settings is None:
        return (
            "unknown without `modelpilot up`'s state directory (--state-dir); the console shows it "
            "once paired checks have judged some answers."
        )
    if settings.calibration_rate_bps == 0:
        return (
            "nothing was judged: quality checks (calibration) are off for this deployment. Turn them "
            "on in the console (deployment Settings, Quality checks) or with calibration_rate_bps in "
            "PUT /api/deployments/{id}/routing, then run the demo again."
        )
    return (
        f"nothing was judged in this run: quality checks sample {settings.calibration_rate_bps / 100:g}% "
        "of routable requests, within a daily cap. Send more requests (--requests) or raise the share "
        "in the console (deployment Settings, Quality checks)."
    )
