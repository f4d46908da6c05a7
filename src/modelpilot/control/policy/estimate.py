"""P(success) of a candidate: the offline prior as a Beta prior worth ``strength`` pseudo-counts,
updated with the deployment's own outcomes (a Beta posterior), plus an upper credible bound for
exploration.

>>> e = estimate(0.9, Tally(successes=90, failures=0), strength=20)
>>> round(e.mean, 3), e.outcomes
(0.982, 90)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from modelpilot.control.policy.outcomes import Tally

#: One-sided 95 % normal quantile, for the upper credible bound of the Beta posterior.
_Z_UPPER = 1.645


@dataclass(frozen=True, slots=True)
class Estimate:
    """A candidate's estimated success probability."""

    prior: float
    mean: float
    upper: float
    outcomes: int


def estimate(prior: float, tally: Tally, *, strength: float) -> Estimate:
    """The posterior mean of Beta(strength*prior + successes, strength*(1-prior) + failures) and
    its upper 95 % credible bound (normal approximation, clamped to [mean, 1])."""
    prior = min(max(prior, 0.0), 1.0)
    alpha = strength * prior + tally.successes
    beta = strength * (1.0 - prior) + tally.failures
    total = alpha + beta
    if total <= 0:
        return Estimate(prior=prior, mean=prior, upper=1.0, outcomes=0)
    mean = alpha / total
    spread = math.sqrt(mean * (1.0 - mean) / (total + 1.0))
    return Estimate(
        prior=prior, mean=mean, upper=min(1.0, mean + _Z_UPPER * spread), outcomes=round(tally.total)
    )
