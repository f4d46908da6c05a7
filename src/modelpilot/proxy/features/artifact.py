"""The shipped router weights: a category classifier and a difficulty model, both linear.

``data/router.json`` holds int16-quantised weights (base64) plus a metadata block that says what
they were trained on. It is read on first use and cached, never at import time, and scored in
pure Python (the sums over a request's buckets run in C: see :class:`CategoryModel`), so the
proxy needs no numpy. ``training/train_router.py`` writes it.
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


def decode_quantised(encoded: str, size: int) -> array[int]:
    """The int16 weights of :func:`encode_weights`' text, before scaling; checks the length."""
    packed = array("h")
    packed.frombytes(base64.b64decode(encoded))
    if sys.byteorder == "big":
        packed.byteswap()
    if len(packed) != size:
        raise ArtifactError(f"expected {size} weights, found {len(packed)}")
    return packed


def decode_weights(encoded: str, scale: float, size: int) -> list[float]:
    """Inverse of :func:`encode_weights`; checks the length."""
    return [v * scale for v in decode_quantised(encoded, size)]


def text_norm(count: int) -> float:
    """Scale applied to summed text weights so long and short turns weigh alike (1/sqrt(n))."""
    return 1.0 / math.sqrt(count) if count else 0.0


# The category model's int16 weights of one bucket, one field per class, offset to be positive,
# are packed into one int: summing a request's buckets is then one sum() of ints in C, where a
# float sum per class cost 11 lookups per word. A field holds the sum of _PACKED_TERMS words.
_FIELD_BITS = 32
_FIELD_MASK = (1 << _FIELD_BITS) - 1
_OFFSET = 1 << 15
_PACKED_TERMS = (1 << _FIELD_BITS) // (1 << 16)


def pack_buckets(quantised: array[int], classes: int, buckets: int) -> tuple[int, ...]:
    """Per bucket, the int16 weights of every class (class-major in ``quantised``) as one int."""
    return tuple(
        sum((quantised[c * buckets + b] + _OFFSET) << (c * _FIELD_BITS) for c in range(classes))
        for b in range(buckets)
    )


@dataclass(frozen=True, slots=True)
class CategoryModel:
    """Multinomial logistic regression over hashed words of the instruction."""

    classes: tuple[Category, ...]
    mask: int
    bias: tuple[float, ...]
    #: Every class's int16 weight per bucket, packed (:func:`pack_buckets`); times ``scale``.
    packed: tuple[int, ...]
    scale: float

    def ranked(self, word_hashes: list[int]) -> list[tuple[Category, float]]:
        """Every class with its probability, most likely first."""
        if not word_hashes:
            logits = list(self.bias)
        else:
            norm = text_norm(len(word_hashes))
            scale = self.scale
            logits = [b + norm * (q * scale) for b, q in zip(self.bias, self._sums(word_hashes), strict=True)]
        top = max(logits)
        exps = [math.exp(z - top) for z in logits]
        total = sum(exps)
        return sorted(
            ((c, e / total) for c, e in zip(self.classes, exps, strict=True)), key=lambda pair: -pair[1]
        )

    def _sums(self, word_hashes: list[int]) -> list[int]:
        """Per class, the sum of the int16 weights of the words' buckets (exact)."""
        packed, mask = self.packed, self.mask
        shifts = range(0, len(self.classes) * _FIELD_BITS, _FIELD_BITS)
        sums = [0] * len(self.classes)
        for start in range(0, len(word_hashes), _PACKED_TERMS):  # once: a request has <= 192 words
            chunk = word_hashes[start : start + _PACKED_TERMS]
            total = sum([packed[h & mask] for h in chunk])
            offset = _OFFSET * len(chunk)
            sums = [
                s + ((total >> shift) & _FIELD_MASK) - offset for s, shift in zip(sums, shifts, strict=True)
            ]
        return sums

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
        quantised = decode_quantised(raw_cat["weights"], cat_buckets * len(classes))
        category = CategoryModel(
            classes=classes,
            mask=cat_buckets - 1,
            bias=tuple(float(b) for b in raw_cat["bias"]),
            packed=pack_buckets(quantised, len(classes), cat_buckets),
            scale=float(raw_cat["scale"]),
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
