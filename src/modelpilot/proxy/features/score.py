"""``need_strong_score``: how much a request needs the strong (requested) model, in [0, 1].

This is the routing policy's score (DESIGN.md §3): the local difficulty estimate, shifted in
log-odds by a prior per category and by request switches that make a cheaper model's failure
costlier or likelier. ``bench/routing_quality.py`` measures exactly this function, and the
control plane's policy applies the same arithmetic to the features it receives.
"""

from __future__ import annotations

import math

from modelpilot.proxy.features.extract import Features
from modelpilot.schema.wire import Category

#: Log-odds shifts per category. Zero where the difficulty model saw outcome data for the
#: category (its one-hot input already carries what the data says). The non-zero entries are
#: hand-set priors for categories the public outcome tables lack: agentic work compounds errors
#: over many steps; classification, extraction, rewriting and small talk are where small models
#: are known to be close to large ones.
CATEGORY_PRIOR_LOGIT: dict[Category, float] = {
    Category.CLASSIFICATION: -0.5,
    Category.EXTRACTION: -0.5,
    Category.SUMMARIZATION: -0.25,
    Category.TRANSLATION: 0.0,
    Category.REWRITING: -0.5,
    Category.QA: 0.0,
    Category.REASONING: 0.0,
    Category.MATH: 0.0,
    Category.CODE: 0.0,
    Category.CREATIVE_WRITING: 0.0,
    Category.CHAT: -1.0,
    Category.AGENTIC: 0.75,
    Category.OTHER: 0.0,
}
# Switches that raise the stakes: a schema or a forced tool call that a weaker model gets wrong
# costs an escalation, and a caller who turned thinking on is asking for depth.
_THINKING_LOGIT = 0.5
_SCHEMA_LOGIT = 0.25
_LOGIT_LIMIT = 30.0


def _logit(p: float) -> float:
    p = min(max(p, 1e-9), 1 - 1e-9)
    return math.log(p / (1 - p))


def need_strong_score(features: Features) -> float:
    """The need-the-strong-model score of ``features``; higher means keep the requested model."""
    z = _logit(features.difficulty) + CATEGORY_PRIOR_LOGIT[features.category]
    if features.thinking:
        z += _THINKING_LOGIT
    if features.has_response_schema or features.tool_choice_forced:
        z += _SCHEMA_LOGIT
    z = max(-_LOGIT_LIMIT, min(_LOGIT_LIMIT, z))
    return 1.0 / (1.0 + math.exp(-z))
