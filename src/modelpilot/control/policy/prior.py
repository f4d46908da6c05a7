"""The offline prior: how likely a cheaper model is to answer a request as well as the requested
one, from the request's features alone (before any outcome of the deployment is known).

The proxy sends ``difficulty``, its local model's probability that a weaker model fails where the
stronger one succeeds (trained on public outcome tables, one weak/strong pair each). The prior
shifts it in log-odds by category and by request switches, exactly as the proxy's
``need_strong_score`` does, applies a calibration (the identity for now), and shifts it again
by how far apart the candidate's line and the requested model's line are: the tables measure one
large gap (Mixtral vs GPT-4, about haiku vs opus); a sonnet standing in for an opus fails less.
The numbers live in ``data/prior.json``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from modelpilot.schema.catalog import ModelSpec
from modelpilot.schema.wire import Category, Features

_LOGIT_LIMIT = 30.0


def logit(p: float) -> float:
    p = min(max(p, 1e-9), 1 - 1e-9)
    return math.log(p / (1 - p))


def sigmoid(z: float) -> float:
    z = max(-_LOGIT_LIMIT, min(_LOGIT_LIMIT, z))
    return 1.0 / (1.0 + math.exp(-z))


@dataclass(frozen=True, slots=True)
class Prior:
    """The parameters of ``data/prior.json``."""

    slope: float
    intercept: float
    category_logit: dict[Category, float]
    thinking_logit: float
    schema_logit: float
    line_rank: dict[str, int]
    gap_logit: dict[int, float]
    unknown_gap: int
    #: Pseudo-counts the prior is worth against the deployment's own outcomes.
    strength: float

    def need_strong(self, category: Category, features: Features) -> float:
        """The need-the-strong-model score: the proxy's ``need_strong_score`` arithmetic."""
        z = logit(features.difficulty) + self.category_logit.get(category, 0.0)
        if features.thinking:
            z += self.thinking_logit
        if features.has_response_schema or features.tool_choice_forced:
            z += self.schema_logit
        return sigmoid(z)

    def gap(self, requested: ModelSpec, candidate: ModelSpec) -> int:
        """How many lines apart the two models are (negative: the candidate's line is higher)."""
        high = self.line_rank.get(requested.line)
        low = self.line_rank.get(candidate.line)
        if high is None or low is None:
            return self.unknown_gap
        return high - low

    def gap_shift(self, gap: int) -> float:
        shift = self.gap_logit.get(gap)
        if shift is None:  # beyond the table: the nearest end
            known = sorted(self.gap_logit)
            shift = self.gap_logit[known[0] if gap < known[0] else known[-1]]
        return shift

    def failure_logit(self, category: Category, features: Features) -> float:
        """The calibrated log-odds that a model one large gap weaker fails where the requested
        one would not (the same for every candidate: compute it once per request)."""
        return self.slope * logit(self.need_strong(category, features)) + self.intercept

    def success_at(self, failure_logit: float, requested: ModelSpec, candidate: ModelSpec) -> float:
        """:meth:`success` from a precomputed :meth:`failure_logit`."""
        return 1.0 - sigmoid(failure_logit + self.gap_shift(self.gap(requested, candidate)))

    def learned_success(
        self, learned: float, requested: ModelSpec, reference: ModelSpec, candidate: ModelSpec
    ) -> float:
        """The proxy's learned P(acceptable) (``learned``, measured against ``reference``: the
        deployment's cheapest candidate, the one its paired checks compare) carried over to
        ``candidate``: shifted in log-odds by how much closer or further the candidate's line is
        to the requested one than the reference's, with the prior's own gap shifts."""
        if candidate.id == reference.id:
            return min(max(learned, 0.0), 1.0)
        shift = self.gap_shift(self.gap(requested, reference)) - self.gap_shift(
            self.gap(requested, candidate)
        )
        return sigmoid(logit(learned) + shift)

    def success(
        self, category: Category, features: Features, requested: ModelSpec, candidate: ModelSpec
    ) -> float:
        """P(``candidate`` answers this request acceptably, given ``requested`` would)."""
        return self.success_at(self.failure_logit(category, features), requested, candidate)


def parse_prior(document: dict[str, Any]) -> Prior:
    """A :class:`Prior` from the JSON shape of ``data/prior.json``."""
    calibration = document["calibration"]
    return Prior(
        slope=float(calibration["slope"]),
        intercept=float(calibration["intercept"]),
        category_logit={Category(k): float(v) for k, v in document["category_logit"].items()},
        thinking_logit=float(document["thinking_logit"]),
        schema_logit=float(document["schema_logit"]),
        line_rank={str(k): int(v) for k, v in document["line_rank"].items()},
        gap_logit={int(k): float(v) for k, v in document["gap_logit"].items()},
        unknown_gap=int(document["unknown_gap"]),
        strength=float(document["prior_strength"]),
    )


@cache
def load_prior() -> Prior:
    """The prior shipped with this package (read once, then cached)."""
    text = resources.files("modelpilot.control.policy").joinpath("data/prior.json").read_text("utf-8")
    return parse_prior(json.loads(text))
