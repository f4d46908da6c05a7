"""One requested model's learned weights: a logistic regression that starts at the prior.

    log-odds(acceptable) = bias + prior_weight * prior_logit + numeric . x + text_norm * sum(text[b])

It starts with ``prior_weight`` = 1 and everything else 0, so before any verdict it predicts the
shipped prior exactly. Updates are per-coordinate adaptive (AdaGrad) gradient steps with an L2
pull toward that start (``prior_weight`` toward 1, the rest toward 0), so a few verdicts move it
a little and a few hundred move it a lot. Each new example is followed by ``replay`` steps on
examples drawn from a bounded ring of recent ones: online learning that sees each verdict
several times, which is what makes a few hundred verdicts enough.
"""

from __future__ import annotations

import math
import random
from collections import deque
from dataclasses import dataclass, field

from modelpilot.proxy.learning.example import Example

_LOGIT_LIMIT = 30.0


def sigmoid(z: float) -> float:
    z = max(-_LOGIT_LIMIT, min(_LOGIT_LIMIT, z))
    return 1.0 / (1.0 + math.exp(-z))


@dataclass(frozen=True, slots=True)
class Hyper:
    """The learner's hyper-parameters (tuned on the learn halves of the shared tables only; see
    training/README.md)."""

    learning_rate: float = 0.05
    l2: float = 0.3
    replay: int = 4
    ring_size: int = 256
    #: Verdicts (paired checks) before the learner's score is used at all.
    min_verdicts: int = 20


@dataclass(frozen=True, slots=True)
class Labelled:
    """An example with its label and weight, as kept in the ring."""

    example: Example
    acceptable: bool
    weight: float


@dataclass(slots=True)
class Head:
    """The weights, adaptive step sizes and recent examples of one requested model."""

    numeric_size: int
    ring_size: int = 256
    bias: float = 0.0
    prior_weight: float = 1.0
    numeric: list[float] = field(default_factory=list)
    text: dict[int, float] = field(default_factory=dict)
    g_bias: float = 0.0
    g_prior: float = 0.0
    g_numeric: list[float] = field(default_factory=list)
    g_text: dict[int, float] = field(default_factory=dict)
    verdicts: int = 0
    examples: int = 0
    ring: deque[Labelled] = field(default_factory=deque)

    def __post_init__(self) -> None:
        if not self.numeric:
            self.numeric = [0.0] * self.numeric_size
        if not self.g_numeric:
            self.g_numeric = [0.0] * self.numeric_size
        self.ring = deque(self.ring, maxlen=self.ring_size)

    def logit(self, example: Example) -> float:
        """The log-odds that the candidate is acceptable for ``example``."""
        numbers = example.numbers
        z = self.bias + self.prior_weight * example.prior_logit
        # The last number is the prior itself, weighed by prior_weight above.
        z += sum(w * x for w, x in zip(self.numeric, numbers[:-1], strict=False))
        buckets = example.buckets
        if buckets and self.text:
            get = self.text.get
            z += sum(get(b, 0.0) for b in buckets) / math.sqrt(len(buckets))
        return z

    def probability(self, example: Example) -> float:
        return sigmoid(self.logit(example))

    def step(self, item: Labelled, hyper: Hyper) -> None:
        """One adaptive gradient step of the weighted log-loss on ``item``."""
        example = item.example
        error = item.weight * (self.probability(example) - (1.0 if item.acceptable else 0.0))
        rate, l2 = hyper.learning_rate, hyper.l2
        g = error
        self.g_bias += g * g
        self.bias -= rate * g / math.sqrt(self.g_bias + 1e-8)
        g = error * example.prior_logit + l2 * (self.prior_weight - 1.0)
        self.g_prior += g * g
        self.prior_weight -= rate * g / math.sqrt(self.g_prior + 1e-8)
        numeric, g_numeric = self.numeric, self.g_numeric
        for i, x in enumerate(example.numbers[: self.numeric_size]):
            if x == 0.0:
                continue
            g = error * x + l2 * numeric[i]
            g_numeric[i] += g * g
            numeric[i] -= rate * g / math.sqrt(g_numeric[i] + 1e-8)
        buckets = example.buckets
        if not buckets:
            return
        norm = 1.0 / math.sqrt(len(buckets))
        text, g_text = self.text, self.g_text
        for b in buckets:
            w = text.get(b, 0.0)
            g = error * norm + l2 * w
            acc = g_text.get(b, 0.0) + g * g
            g_text[b] = acc
            text[b] = w - rate * g / math.sqrt(acc + 1e-8)

    def learn(self, item: Labelled, hyper: Hyper, rng: random.Random) -> None:
        """Learn ``item``, then replay a few recent examples, then keep it in the ring."""
        self.step(item, hyper)
        if self.ring:
            ring = self.ring
            for _ in range(hyper.replay):
                self.step(ring[rng.randrange(len(ring))], hyper)
        self.ring.append(item)
        self.examples += 1
