"""The proxy's local learner: each deployment's own P(the cheaper candidate is acceptable).

Contract: :class:`LocalLearner` turns a Messages request body into an :class:`Example` (hashed
word buckets and the numbers the shipped prior reads), scores it per requested model
(:class:`LearnedScore`: None until enough verdicts) and learns from outcomes (paired-check
verdicts, escalations, feedback) off the hot path. Examples and weights are derived from
content: they stay in this process and in the learner's file in the state directory, and are
never sent, logged or exported. Only the score and the verdict count go out, as
``features.learned_acceptable`` and ``features.learned_verdicts`` of ``POST /v1/route``.

>>> from modelpilot.proxy.learning import LocalLearner
>>> learner = LocalLearner()  # in memory; pass a path to persist
>>> body = {"model": "claude-opus-4-6", "max_tokens": 9, "messages": [{"role": "user", "content": "hi"}]}
>>> learner.predict(learner.example_of(body), "claude-opus-4-6").acceptable is None
True
"""

from __future__ import annotations

from pathlib import Path

from modelpilot.proxy.learning.example import Example
from modelpilot.proxy.learning.head import Hyper
from modelpilot.proxy.learning.learner import SOURCE_WEIGHTS, LearnedScore, LocalLearner


def learner_file_beside(spool_path: Path) -> Path:
    """The learner's file for a spool: beside it and named after it, so each deployment's spool
    (one per deployment key) has its own learner."""
    return spool_path.with_name(spool_path.stem + "-learner.json")


__all__ = ["SOURCE_WEIGHTS", "Example", "Hyper", "LearnedScore", "LocalLearner", "learner_file_beside"]
