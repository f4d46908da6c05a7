"""What the local learner reads of one request: hashed word buckets and a numeric vector.

An :class:`Example` is derived from the request's content (word and word-pair hashes), so it is
held in this process and in the learner's local file only: it is never sent, logged or put into
telemetry. The numbers are the shipped difficulty model's inputs plus the shipped prior's own
opinion (its log-odds that the cheaper candidate is acceptable), which the learner starts from.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

from modelpilot.proxy.features.extract import Analysis
from modelpilot.proxy.features.score import need_strong_score
from modelpilot.proxy.features.text import BIGRAM_MIX as _MIX

#: Hash buckets of the learner's text weights (a power of two). Collisions are rare at the few
#: thousand distinct words one deployment's verdicts carry, and the bound keeps the file small.
BUCKETS = 1 << 16
_MASK = BUCKETS - 1
_MIX_LOW = _MIX & _MASK
_PRIOR_LIMIT = 8.0


@dataclass(frozen=True, slots=True)
class Example:
    """One request as the learner sees it. Derived from content: stays on this machine, never
    sent, never logged. ``numbers[-1]`` is the shipped prior's log-odds of "acceptable"."""

    buckets: tuple[int, ...]
    numbers: tuple[float, ...]

    @property
    def prior_logit(self) -> float:
        return self.numbers[-1] if self.numbers else 0.0


def example_from(analysis: Analysis) -> Example:
    """The :class:`Example` of an analysed request (see
    :func:`~modelpilot.proxy.features.extract.analyse_request`)."""
    # The words are distinct already; a rare bucket collision simply counts twice.
    unigrams = [h & _MASK for h in analysis.inputs.word_hashes]
    # A pair's bucket, the low 16 bits of a * MIX + b, depends only on the low 16 bits of a and
    # b: it is computed from the two words' buckets, small ints that multiply faster.
    bigrams = [(a * _MIX_LOW + b) & _MASK for a, b in zip(unigrams, unigrams[1:], strict=False)]
    need = need_strong_score(analysis.features)
    need = min(max(need, 1e-6), 1 - 1e-6)
    # The prior's P(acceptable) = 1 - need_strong, in log-odds, clamped so that a saturated prior
    # can still be overruled by a few verdicts.
    prior = max(-_PRIOR_LIMIT, min(_PRIOR_LIMIT, math.log((1 - need) / need)))
    return Example(buckets=(*unigrams, *bigrams), numbers=(*analysis.numeric, prior))


@cache
def _bucket_ints() -> tuple[int, ...]:
    return tuple(range(BUCKETS))


def compact(example: Example) -> Example:
    """``example`` with its bucket numbers shared with every other kept example: a bucket above
    256 is otherwise its own 28-byte int object in each example, and the ring and the feedback
    map keep thousands of them. Applied where examples are kept, not on the hot path."""
    return Example(buckets=tuple(map(_bucket_ints().__getitem__, example.buckets)), numbers=example.numbers)
