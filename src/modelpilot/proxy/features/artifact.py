"""The shipped router weights: a category classifier and a difficulty model, both linear.

``data/router.json`` holds int16-quantised weights (base64) plus a metadata block that says what
they were trained on. It is read on first use and cached, never at import time, and scored in
pure Python (``sum(map(list.__getitem__, ...))`` keeps the inner loop in C), so the proxy needs
no numpy. ``training/train_router.py`` writes it.
"""

from __future__ import annotations

import base64
import json
import math
import sys
from array import array
from dataclasses import dataclass
from functools import cache
from importlib import resources
from operator import itemgetter
from typing import Any

from modelpilot.proxy.features.inputs import NUMERIC_NAMES
from modelpilot.schema.wire import Category

FORMAT_VERSION = 1
ARTIFACT_NAME = "router.json"


class ArtifactError(ValueError):
    """The weights file is missing, malformed or made for other inputs."""


def encode_weights(values: list[float]) -> tuple[str, float]:
    """Quantise ``values`` to little-endian int16 and base64; returns (text, scale)."""
    largest = max((abs(v) for v in values), default=0.0)
    scale = largest / 32767 if largest > 0 else 1.0
    packed = array("h", (round(v / scale) for v in values))
    if sys.byteorder == "big":
        packed.byteswap()
    return base64.b64encode(packed.tobytes()).decode("ascii"), scale


def decode_weights(encoded: str, scale: float, size: int) -> list[float]:
    """Inverse of :func:`encode_weights`; checks the length."""
    packed = array("h")
    packed.frombytes(base64.b64decode(encoded))
    if sys.byteorder == "big":
        packed.byteswap()
    if len(packed) != size:
        raise ArtifactError(f"expected {size} weights, found {len(packed)}")
    return [v * scale for v in packed]


def text_norm(count: int) -> float:
    """Scale applied to summed text weights so long and short turns weigh alike (1/sqrt(n))."""
    return 1.0 / math.sqrt(count) if count else 0.0


@dataclass(frozen=True, slots=True)
class CategoryModel:
    """Multinomial logistic regression over hashed words of the instruction."""

    classes: tuple[Category, ...]
    mask: int
    bias: tuple[float, ...]
    weights: tuple[list[float], ...]  # one list of bucket weights per class

    def ranked(self, word_hashes: list[int]) -> list[tuple[Category, float]]:
        """Every class with its probability, most likely first."""
        if not word_hashes:
            logits = list(self.bias)
        else:
            # One itemgetter of the request's buckets, applied to each class's weights: the
            # lookups run in C, in the same order as a sum over the buckets.
            pick = itemgetter(*map(self.mask.__and__, word_hashes))
            norm = text_norm(len(word_hashes))
            if len(word_hashes) == 1:
                logits = [b + norm * pick(w) for b, w in zip(self.bias, self.weights, strict=True)]
            else:
                logits = [b + norm * sum(pick(w)) for b, w in zip(self.bias, self.weights, strict=True)]
        top = max(logits)
        exps = [math.exp(z - top) for z in logits]
        total = sum(exps)
        return sorted(
            ((c, e / total) for c, e in zip(self.classes, exps, strict=True)), key=lambda pair: -pair[1]
        )

    def predict(self, word_hashes: list[int]) -> tuple[Category, float]:
        """The most likely class and its probability."""
        return self.ranked(word_hashes)[0]


@dataclass(frozen=True, slots=True)
class DifficultyModel:
    """Binary logistic regression: P(the cheaper model fails where the strong one succeeds)."""

    mask: int
    bias: float
    text_weights: list[float] | None  # None when text features did not generalise
    numeric_weights: tuple[float, ...]

    def predict(self, hashes: list[int], numeric: list[float]) -> float:
        """The probability, in [0, 1]."""
        z = self.bias + sum(w * x for w, x in zip(self.numeric_weights, numeric, strict=True))
        if self.text_weights is not None and hashes:
            mask = self.mask
            z += text_norm(len(hashes)) * sum(map(self.text_weights.__getitem__, [h & mask for h in hashes]))
        # Clamp the logit so that exp() cannot overflow on absurd inputs.
        z = max(-30.0, min(30.0, z))
        return 1.0 / (1.0 + math.exp(-z))


@dataclass(frozen=True, slots=True)
class RouterModel:
    """The two shipped models and the metadata block of the artifact."""

    category: CategoryModel
    difficulty: DifficultyModel
    metadata: dict[str, Any]


def _buckets(raw: dict[str, Any]) -> int:
    buckets = int(raw["buckets"])
    if buckets <= 0 or buckets & (buckets - 1):
        raise ArtifactError("bucket count must be a power of two")
    return buckets


def parse_artifact(document: dict[str, Any]) -> RouterModel:
    """Build a :class:`RouterModel` from the JSON document ``training/train_router.py`` writes."""
    try:
        if document["format_version"] != FORMAT_VERSION:
            raise ArtifactError(f"unsupported artifact format {document['format_version']!r}")
        raw_cat = document["category"]
        classes = tuple(Category(name) for name in raw_cat["classes"])
        cat_buckets = _buckets(raw_cat)
        flat = decode_weights(raw_cat["weights"], float(raw_cat["scale"]), cat_buckets * len(classes))
        category = CategoryModel(
            classes=classes,
            mask=cat_buckets - 1,
            bias=tuple(float(b) for b in raw_cat["bias"]),
            weights=tuple(flat[i * cat_buckets : (i + 1) * cat_buckets] for i in range(len(classes))),
        )
        raw_diff = document["difficulty"]
        if tuple(raw_diff["numeric_names"]) != NUMERIC_NAMES:
            raise ArtifactError("difficulty weights were trained on other numeric inputs")
        diff_buckets = _buckets(raw_diff)
        text_weights = None
        if raw_diff.get("text_weights") is not None:
            text_weights = decode_weights(raw_diff["text_weights"], float(raw_diff["scale"]), diff_buckets)
        difficulty = DifficultyModel(
            mask=diff_buckets - 1,
            bias=float(raw_diff["bias"]),
            text_weights=text_weights,
            numeric_weights=tuple(float(w) for w in raw_diff["numeric_weights"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, ArtifactError):
            raise
        raise ArtifactError(f"malformed router artifact: {exc}") from exc
    if len(category.bias) != len(classes) or len(difficulty.numeric_weights) != len(NUMERIC_NAMES):
        raise ArtifactError("artifact sizes do not match its class and input lists")
    return RouterModel(category=category, difficulty=difficulty, metadata=dict(document.get("metadata", {})))


@cache
def load_router_model() -> RouterModel:
    """The weights shipped with this package (read on first use, then cached)."""
    resource = resources.files("modelpilot.proxy.features").joinpath(f"data/{ARTIFACT_NAME}")
    try:
        document = json.loads(resource.read_text("utf-8"))
    except FileNotFoundError as exc:
        raise ArtifactError(f"{ARTIFACT_NAME} is missing; run `python -m training.train_router`") from exc
    return parse_artifact(document)
