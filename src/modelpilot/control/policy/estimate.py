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
    #: Verdicts the proxy's local learner had learned from when it scored the request (0: the
    #: estimate started from the offline prior).
    learned_verdicts: int = 0
    #: The cell's paired checks (judged, of which acceptable): the candidate's measured quality.
    judged: int = 0
    acceptable: int = 0


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
        prior=prior,
        mean=mean,
        upper=min(1.0, mean + _Z_UPPER * spread),
        outcomes=round(tally.total),
        judged=tally.judged,
        acceptable=tally.acceptable,
    )


def estimate_learned(learned: float, tally: Tally, *, verdicts: int, strength: float) -> Estimate:
    """P(success) when the proxy's local learner scored this request (``learned``, from
    ``verdicts`` verdicts of this deployment).

    Why not the plain Beta blend of :func:`estimate`: the cell's tally (category x requested x
    candidate) counts thousands of routed requests on a busy deployment, and a Beta posterior
    with pseudo-count ``strength`` is then the cell's average for *every* request in it: the
    learner's per-request discrimination (this request is easy, that one is hard) would be
    flattened into "all of this cell" or "none of it". The learner has already been trained on
    the same deployment's escalations and feedback (and on paired-check verdicts, which the cell
    never sees per request), so counting the tally again in full would also count that evidence
    twice.

    So the learned value is worth ``strength + verdicts`` pseudo-counts, and the tally is scaled
    down to at most that many: the cell's record can move a request's estimate at most half-way
    toward the cell average, never drown it. Requests keep their order within a cell, and their
    spread shrinks by at most half, however many outcomes the cell has.

    Only the tally's routed answers count here (:attr:`Tally.routed`), not its paired-check
    verdicts: the learner was trained on those very verdicts, and they sample every routable
    request, easy and hard alike, so their cell average is not the quality of what the learner
    routes. Escalations and feedback on routed answers are: they remain the safety net that pulls
    a cell down when what is routed fails.

    >>> e = estimate_learned(0.95, Tally(successes=5_000, failures=5_000), verdicts=200, strength=20)
    >>> round(e.mean, 3), round(estimate_learned(0.3, Tally(5_000, 5_000), verdicts=200, strength=20).mean, 3)
    (0.725, 0.4)
    """
    learned = min(max(learned, 0.0), 1.0)
    judged, acceptable = tally.judged, tally.acceptable
    tally = tally.routed
    weight = strength + max(verdicts, 0)
    total = tally.total
    scale = min(1.0, weight / total) if total > 0 else 1.0
    alpha = weight * learned + scale * tally.successes
    beta = weight * (1.0 - learned) + scale * tally.failures
    mean = alpha / (alpha + beta) if alpha + beta > 0 else learned
    spread = math.sqrt(mean * (1.0 - mean) / (alpha + beta + 1.0))
    return Estimate(
        prior=learned,
        mean=mean,
        upper=min(1.0, mean + _Z_UPPER * spread),
        outcomes=round(total),
        learned_verdicts=max(verdicts, 0),
        judged=judged,
        acceptable=acceptable,
    )
