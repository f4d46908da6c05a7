"""The one-sentence reasons a decision carries (``RouteDecision.explanation``, at most 240
characters, server-written: model ids, categories and numbers only)."""

from __future__ import annotations

from modelpilot.control.policy.estimate import Estimate
from modelpilot.schema.wire import Category

MAX_CHARS = 240


def percent(value: float) -> str:
    """``0.95`` -> ``95%``, ``0.9463`` -> ``94.6%``."""
    return f"{value * 100:.1f}".rstrip("0").rstrip(".") + "%"


def requests_of(category: Category) -> str:
    return f"{category.value.replace('_', ' ')} requests"


def _outcomes(estimate: Estimate) -> str:
    parts = []
    if estimate.learned_verdicts > 0:
        n = estimate.learned_verdicts
        parts.append(f"learned locally from {n:,} verdict" + ("" if n == 1 else "s"))
    if estimate.judged > 0:
        n = estimate.judged
        parts.append(
            f"{estimate.acceptable:,} of {n:,} paired check" + ("" if n == 1 else "s") + " acceptable"
        )
    if estimate.outcomes > 0:
        parts.append(f"{estimate.outcomes:,} outcome" + ("" if estimate.outcomes == 1 else "s"))
    return ", ".join(parts) or "prior only"


def meets_target(model: str, target: float, category: Category, estimate: Estimate) -> str:
    return (
        f"{model} meets the {percent(target)} target for {requests_of(category)} "
        f"(est. {percent(estimate.mean)}, {_outcomes(estimate)})"
    )


def exploring(model: str, target: float, category: Category, estimate: Estimate) -> str:
    return (
        f"exploring {model} for {requests_of(category)}: est. {percent(estimate.mean)} is below the "
        f"{percent(target)} target but could reach it (upper bound {percent(estimate.upper)}, "
        f"{_outcomes(estimate)})"
    )


def below_target(target: float, category: Category, best: str, estimate: Estimate) -> str:
    return (
        f"no cheaper model reaches the {percent(target)} target for {requests_of(category)} "
        f"(best: {best}, est. {percent(estimate.mean)}, {_outcomes(estimate)})"
    )


def no_candidate(requested: str) -> str:
    return f"no allowed model cheaper than {requested} can take this request"


def pinned(requested: str, served: str) -> str:
    return f"{requested} is pinned to {served}"


def pin_unusable(requested: str, served: str) -> str:
    return f"{requested} is pinned to {served}, which cannot take this request; served as requested"


def category_never(category: Category) -> str:
    return f"routing is off for {requests_of(category)}"


def unknown_model(requested: str) -> str:
    return f"{requested} is not in the catalog; served as requested"


ROUTING_OFF = "routing is off for this deployment"


def shadow(explanation: str) -> str:
    return clip(f"shadow mode, served as requested: {explanation}")


def clip(text: str) -> str:
    return text if len(text) <= MAX_CHARS else text[: MAX_CHARS - 1] + "…"
