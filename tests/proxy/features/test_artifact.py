"""The shipped weights: they load, they score in [0, 1], and a bad file fails loudly."""

from __future__ import annotations

import copy
import json
import math
from importlib import resources

import pytest

from modelpilot.proxy.features import (
    ArtifactError,
    Category,
    extract_features,
    load_router_model,
    need_strong_score,
)
from modelpilot.proxy.features.artifact import decode_weights, encode_weights, parse_artifact
from modelpilot.proxy.features.inputs import NUMERIC_NAMES
from modelpilot.proxy.features.score import CATEGORY_PRIOR_LOGIT
from tests.proxy.features.bodies import body, user


def _document() -> dict[str, object]:
    text = resources.files("modelpilot.proxy.features").joinpath("data/router.json").read_text("utf-8")
    return json.loads(text)


def test_the_shipped_artifact_loads_with_metadata() -> None:
    model = load_router_model()
    assert model is load_router_model()  # cached
    assert set(model.category.classes) <= set(Category)
    assert {"trained_on", "tables", "category", "difficulty"} <= set(model.metadata)
    assert len(model.difficulty.numeric_weights) == len(NUMERIC_NAMES)


def test_the_shipped_artifact_is_small() -> None:
    size = resources.files("modelpilot.proxy.features").joinpath("data/router.json").read_bytes()
    assert len(size) < 400_000


@pytest.mark.parametrize(
    "prompt",
    [
        "hi",
        "Prove that there are infinitely many primes.",
        "x" * 50_000,
        "Write a sonnet",
        "",
        "¿Qué hora es?",
    ],
)
def test_scores_are_probabilities(prompt: str) -> None:
    f = extract_features(body(user(prompt), thinking={"type": "enabled", "budget_tokens": 2048}))
    assert 0.0 <= f.difficulty <= 1.0
    assert 0.0 <= need_strong_score(f) <= 1.0
    assert not math.isnan(need_strong_score(f))


def test_category_priors_cover_every_category() -> None:
    assert set(CATEGORY_PRIOR_LOGIT) == set(Category)


def test_need_strong_score_follows_difficulty() -> None:
    import dataclasses

    f = extract_features(body(user("What is the boiling point of water at sea level?")))
    easy = need_strong_score(dataclasses.replace(f, difficulty=0.1))
    hard = need_strong_score(dataclasses.replace(f, difficulty=0.9))
    assert easy < hard
    agentic = dataclasses.replace(f, difficulty=0.5, category=Category.AGENTIC)
    chat = dataclasses.replace(f, difficulty=0.5, category=Category.CHAT)
    assert need_strong_score(chat) < 0.5 < need_strong_score(agentic)


def test_weights_round_trip_through_int16() -> None:
    values = [0.0, 1.5, -3.25, 1e-4, 2.0]
    encoded, scale = encode_weights(values)
    decoded = decode_weights(encoded, scale, len(values))
    assert all(abs(a - b) <= scale for a, b in zip(values, decoded, strict=True))
    with pytest.raises(ArtifactError):
        decode_weights(encoded, scale, len(values) + 1)


def test_a_malformed_artifact_is_refused() -> None:
    good = _document()
    parse_artifact(good)
    wrong_version = copy.deepcopy(good) | {"format_version": 99}
    missing = {k: v for k, v in good.items() if k != "category"}
    other_inputs = copy.deepcopy(good)
    other_inputs["difficulty"]["numeric_names"] = ["something_else"]  # type: ignore[index]
    for document in (wrong_version, missing, other_inputs):
        with pytest.raises(ArtifactError):
            parse_artifact(document)
