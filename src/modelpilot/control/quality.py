"""Measured quality: how often a cheaper model's answer was acceptable where the requested
model's was, from paired checks (verdicts), with a 95 % Wilson score interval, against a quality
target. Pure arithmetic: the console, the JSON API, the CSV exports and ``modelpilot demo`` all
show quality through :func:`measure`.

>>> q = measure(judged=200, acceptable=194, target=0.95)
>>> round(q.share, 3), round(q.low, 3), round(q.high, 3), q.status
(0.97, 0.936, 0.986, 'unclear')
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

#: Two-sided 95 % normal quantile.
Z_95 = 1.959963984540054
Status = Literal["none", "meets", "below", "unclear", "no_target"]


def wilson_interval(successes: int, trials: int, *, z: float = Z_95) -> tuple[float, float]:
    """The Wilson score interval of a binomial proportion (``(0, 1)`` with no trials). Unlike the
    normal approximation it stays inside [0, 1] and is honest at 0 % and 100 %."""
    if trials <= 0:
        return 0.0, 1.0
    p = successes / trials
    z2 = z * z
    denominator = 1.0 + z2 / trials
    centre = (p + z2 / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1.0 - p) / trials + z2 / (4 * trials * trials)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True, slots=True)
class Quality:
    """Verdicts on a cheaper model's answers and what they say about a quality target.

    ``status``: ``none`` (nothing judged), ``meets`` (the whole interval is at or above the
    target), ``below`` (the whole interval is below it), ``unclear`` (the interval straddles
    it: more verdicts needed) or ``no_target`` (verdicts, but no single target applies, as
    over several deployments).
    """

    judged: int
    acceptable: int
    target: float | None
    low: float
    high: float

    @property
    def share(self) -> float | None:
        """The acceptable share, None when nothing was judged."""
        return self.acceptable / self.judged if self.judged else None

    @property
    def status(self) -> Status:
        if not self.judged:
            return "none"
        if self.target is None:
            return "no_target"
        if self.low >= self.target:
            return "meets"
        if self.high < self.target:
            return "below"
        return "unclear"


def measure(*, judged: int, acceptable: int, target: float | None) -> Quality:
    """The measured quality of ``judged`` verdicts of which ``acceptable`` found the cheaper
    answer acceptable, against ``target`` (None: no single target applies)."""
    judged = max(0, judged)
    acceptable = min(max(0, acceptable), judged)
    low, high = wilson_interval(acceptable, judged)
    return Quality(judged=judged, acceptable=acceptable, target=target, low=low, high=high)


def describe(quality: Quality) -> str:
    """One line for people: ``97.0% acceptable (95% CI 93.6%-98.6%, 200 judged), target 95.0%: ...``."""
    if quality.share is None:
        return "nothing judged yet"
    text = (
        f"{percent(quality.share)} acceptable (95% CI {percent(quality.low)}-{percent(quality.high)}, "
        f"{quality.judged:,} judged)"
    )
    if quality.target is not None:
        text += f", target {percent(quality.target)}"
        text += {"meets": ": meets it", "below": ": below it", "unclear": ": not yet conclusive"}.get(
            quality.status, ""
        )
    return text


def percent(value: float) -> str:
    """``0.9361`` -> ``93.6%``."""
    return f"{value * 100:.1f}%"
