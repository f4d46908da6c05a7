"""A synthetic workload whose acceptability is decided by its words: easy topics are acceptable
for the cheaper model, hard ones are not (separable by the learner's word buckets)."""

from __future__ import annotations

import random
from typing import Any

EASY = ("weather", "recipe", "greeting", "holiday", "garden", "movie", "birthday", "coffee")
HARD = ("topology", "cryptanalysis", "thermodynamics", "proof", "compiler", "lemma", "manifold", "eigenvalue")
FILLER = ("please", "tell", "me", "about", "the", "a", "some", "notes", "on", "today", "short")
MODEL = "claude-opus-4-6"


def workload_body(rng: random.Random, *, is_easy: bool, model: str = MODEL) -> dict[str, Any]:
    topic = EASY if is_easy else HARD
    words = [rng.choice(FILLER) for _ in range(6)] + [rng.choice(topic) for _ in range(3)]
    rng.shuffle(words)
    return {"model": model, "max_tokens": 256, "messages": [{"role": "user", "content": " ".join(words)}]}
