"""One requested model's learned weights: two logistic regressions that start at the prior, and
how much each has earned.

    full:  log-odds(acceptable) = bias + prior_weight * prior_logit + numeric . x + norm * sum(text[b])
    level: log-odds(acceptable) = level_bias + level_weight * prior_logit

It starts with ``prior_weight`` = 1 and everything else 0, so before any verdict it predicts the
shipped prior exactly. Updates are per-coordinate adaptive (AdaGrad) gradient steps with an L2
pull toward that start (``prior_weight`` toward 1, the rest toward 0), so a few verdicts move it
a little and a few hundred move it a lot. Each new example is followed by ``replay`` steps on
examples drawn from a bounded ring of recent ones: online learning that sees each verdict
several times, which is what makes a few hundred verdicts enough.

The full model can tell requests apart by their words; on a workload where words say little, it
mostly learns noise and ranks requests worse than the prior does. The "level" model only
recalibrates the prior to the deployment. Each is scored on every new example *before* learning
it (prequential log-loss: an honest out-of-sample record), and the prediction is their mixture
with weight sigmoid(loss_level - loss_full) on the full model: the likelihood ratio of the two on
this deployment's own verdicts. So the words are trusted exactly as far as they have predicted
verdicts they had not seen yet.
"""

from __future__ import annotations

import math
import random
from collections import deque
from dataclasses import dataclass, field
from itertools import repeat
from operator import mul

from modelpilot.proxy.learning.example import Example

_LOGIT_LIMIT = 30.0
_MAX_CAL_SCALE = 10.0


def sigmoid(z: float) -> float:
    z = max(-_LOGIT_LIMIT, min(_LOGIT_LIMIT, z))
    return 1.0 / (1.0 + math.exp(-z))


def _log_loss(z: float, acceptable: bool) -> float:
    """-log P(label) for log-odds ``z``, computed stably."""
    z = z if acceptable else -z
    return math.log1p(math.exp(-z)) if z > -_LOGIT_LIMIT else -z


@dataclass(frozen=True, slots=True)
class Hyper:
    """The learner's hyper-parameters (tuned on the learn halves of the shared tables only; see
    training/README.md)."""

    learning_rate: float = 0.1
    l2: float = 0.01
    replay: int = 4
    #: The full model's head start in prequential log-loss it must first make up (nats): until
    #: its words have predicted unseen verdicts better than the level model by this much, the
    #: level model carries most of the prediction.
    handicap: float = 4.0
    #: Each new example first scales both prequential losses by this: the comparison of the two
    #: models weighs recent verdicts most (a workload drifts; early overfitting is forgiven).
    loss_decay: float = 1.0
    #: Step size of the Platt scaling (two numbers, so it may move faster than the weights).
    calibration_rate: float = 0.3
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
    level_bias: float = 0.0
    level_weight: float = 1.0
    g_level_bias: float = 0.0
    g_level_weight: float = 0.0
    #: Platt scaling of the full model's log-odds (``scale * z + shift``), fitted on its
    #: prequential log-odds: see :meth:`calibrate`.
    cal_scale: float = 1.0
    cal_shift: float = 0.0
    g_cal_scale: float = 0.0
    g_cal_shift: float = 0.0
    #: Prequential log-losses of the full and the level model (their difference is what counts).
    loss_full: float = 0.0
    loss_level: float = 0.0
    verdicts: int = 0
    examples: int = 0
    ring: deque[Labelled] = field(default_factory=deque)

    @classmethod
    def start(cls, numeric_size: int, hyper: Hyper) -> Head:
        """A head that predicts the prior, with the full model's handicap."""
        return cls(numeric_size=numeric_size, ring_size=hyper.ring_size, loss_full=hyper.handicap)

    def __post_init__(self) -> None:
        if not self.numeric:
            self.numeric = [0.0] * self.numeric_size
        if not self.g_numeric:
            self.g_numeric = [0.0] * self.numeric_size
        self.ring = deque(self.ring, maxlen=self.ring_size)

    def logit(self, example: Example) -> float:
        """The log-odds that the candidate is acceptable for ``example``."""
        numbers = example.numbers
        z: float = self.bias + self.prior_weight * example.prior_logit
        # The last number is the prior itself, weighed by prior_weight above (map stops before it).
        z += sum(map(mul, self.numeric, numbers))
        buckets = example.buckets
        if buckets and self.text:
            z += sum(map(self.text.get, buckets, repeat(0.0))) / math.sqrt(len(buckets))
        return z

    def calibrated_logit(self, example: Example) -> float:
        """The full model's log-odds after its Platt scaling."""
        return self.cal_scale * self.logit(example) + self.cal_shift

    def level_logit(self, example: Example) -> float:
        """The log-odds of the level model (the prior recalibrated to this deployment)."""
        return self.level_bias + self.level_weight * example.prior_logit

    @property
    def trust(self) -> float:
        """The full model's share of the prediction, in (0, 1)."""
        return sigmoid(self.loss_level - self.loss_full)

    def probability(self, example: Example) -> float:
        """P(acceptable): the two models mixed by :attr:`trust`."""
        trust = self.trust
        full = sigmoid(self.calibrated_logit(example))
        return trust * full + (1.0 - trust) * sigmoid(self.level_logit(example))

    def step(self, item: Labelled, hyper: Hyper) -> None:
        """One adaptive gradient step of the weighted log-loss on ``item``, for both models."""
        example = item.example
        label = 1.0 if item.acceptable else 0.0
        rate, l2 = hyper.learning_rate, hyper.l2
        error = item.weight * (sigmoid(self.level_logit(example)) - label)
        g = error
        self.g_level_bias += g * g
        self.level_bias -= rate * g / math.sqrt(self.g_level_bias + 1e-8)
        g = error * example.prior_logit + l2 * (self.level_weight - 1.0)
        self.g_level_weight += g * g
        # Recalibration may flatten the prior's ordering, never invert it: a narrow run of
        # verdicts (one subject, one customer) must not turn the shipped ranking upside down.
        self.level_weight = max(0.0, self.level_weight - rate * g / math.sqrt(self.g_level_weight + 1e-8))
        error = item.weight * (sigmoid(self.logit(example)) - label)
        g = error
        self.g_bias += g * g
        self.bias -= rate * g / math.sqrt(self.g_bias + 1e-8)
        g = error * example.prior_logit + l2 * (self.prior_weight - 1.0)
        self.g_prior += g * g
        self.prior_weight = max(0.0, self.prior_weight - rate * g / math.sqrt(self.g_prior + 1e-8))
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

    def calibrate(self, z: float, item: Labelled, hyper: Hyper) -> None:
        """One adaptive step of Platt scaling on the full model's log-odds ``z`` for an example it
        has not learned yet.

        Why: the regularised, replayed regression ranks requests well but is under-confident
        (on a cleanly separable workload it stops near 0.9 for requests the candidate always
        answers well), and the policy compares the number with a quality target such as 0.95.
        A probability that cannot reach the target routes nothing. Fitting the scale on
        out-of-sample log-odds (each taken before the example is learned) makes the number mean
        what it says, in either direction: an over-confident model is scaled down just as well.
        """
        error = item.weight * (
            sigmoid(self.cal_scale * z + self.cal_shift) - (1.0 if item.acceptable else 0.0)
        )
        g = error * z + hyper.l2 * (self.cal_scale - 1.0)
        self.g_cal_scale += g * g
        scale = self.cal_scale - hyper.calibration_rate * g / math.sqrt(self.g_cal_scale + 1e-8)
        self.cal_scale = min(max(scale, 0.0), _MAX_CAL_SCALE)
        g = error
        self.g_cal_shift += g * g
        self.cal_shift -= hyper.calibration_rate * g / math.sqrt(self.g_cal_shift + 1e-8)

    def learn(self, item: Labelled, hyper: Hyper, rng: random.Random) -> None:
        """Score ``item`` with both models (prequential loss), calibrate on that score, learn it,
        then replay a few recent examples, then keep it in the ring."""
        self.loss_full *= hyper.loss_decay
        self.loss_level *= hyper.loss_decay
        z = self.logit(item.example)
        self.loss_full += item.weight * _log_loss(self.cal_scale * z + self.cal_shift, item.acceptable)
        self.loss_level += item.weight * _log_loss(self.level_logit(item.example), item.acceptable)
        self.calibrate(z, item, hyper)
        self.step(item, hyper)
        if self.ring:
            ring = self.ring
            for _ in range(hyper.replay):
                self.step(ring[rng.randrange(len(ring))], hyper)
        self.ring.append(item)
        self.examples += 1
