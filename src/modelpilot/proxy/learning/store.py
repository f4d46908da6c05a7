"""The learner's file in the proxy's state directory: JSON, written atomically (temp + rename).

It holds, per requested model, the weights, the adaptive step sizes, the verdict counts and the
ring of recent examples (word-hash buckets and numbers: derived from content, so the file stays
on this machine; it is never sent anywhere). A file that cannot be read is reported in one log
line by the caller and the learner starts from the prior.
"""

from __future__ import annotations

import os
import tempfile
from collections import deque
from pathlib import Path
from typing import Any

import orjson

from modelpilot.proxy.learning.example import BUCKETS, Example
from modelpilot.proxy.learning.head import Head, Labelled

FORMAT_VERSION = 1


class LearnerFileError(ValueError):
    """The learner's file is unreadable, malformed or made for other inputs."""


def encode_heads(heads: dict[str, Head], *, numeric_size: int) -> bytes:
    """The file's bytes for ``heads``."""
    document: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "buckets": BUCKETS,
        "numeric_size": numeric_size,
        "heads": {
            model: {
                "bias": head.bias,
                "prior_weight": head.prior_weight,
                "numeric": head.numeric,
                "text": [[b, w] for b, w in head.text.items()],
                "g_bias": head.g_bias,
                "g_prior": head.g_prior,
                "g_numeric": head.g_numeric,
                "g_text": [[b, g] for b, g in head.g_text.items()],
                "level": [head.level_bias, head.level_weight, head.g_level_bias, head.g_level_weight],
                "losses": [head.loss_full, head.loss_level],
                "calibration": [head.cal_scale, head.cal_shift, head.g_cal_scale, head.g_cal_shift],
                "verdicts": head.verdicts,
                "examples": head.examples,
                "ring": [
                    [list(item.example.buckets), list(item.example.numbers), item.acceptable, item.weight]
                    for item in head.ring
                ],
            }
            for model, head in heads.items()
        },
    }
    return orjson.dumps(document)


def _floats(raw: Any, size: int) -> list[float]:
    values = [float(v) for v in raw]
    if len(values) != size or not all(map(_is_finite, values)):
        raise LearnerFileError("a weight vector has the wrong size or a non-finite value")
    return values


def _is_finite(value: float) -> bool:
    return value == value and abs(value) != float("inf")


def _pairs(raw: Any) -> dict[int, float]:
    out: dict[int, float] = {}
    for bucket, value in raw:
        b, v = int(bucket), float(value)
        if not 0 <= b < BUCKETS or not _is_finite(v):
            raise LearnerFileError("a text weight is out of range")
        out[b] = v
    return out


def decode_heads(data: bytes, *, numeric_size: int, ring_size: int) -> dict[str, Head]:
    """The heads in a file's bytes; :class:`LearnerFileError` when they are not a valid file."""
    try:
        document = orjson.loads(data)
        if document["format_version"] != FORMAT_VERSION or document["buckets"] != BUCKETS:
            raise LearnerFileError("the learner file was written by another version")
        if document["numeric_size"] != numeric_size:
            raise LearnerFileError("the learner file was trained on other numeric inputs")
        heads: dict[str, Head] = {}
        for model, raw in document["heads"].items():
            ring = [
                Labelled(
                    Example(
                        tuple(int(b) & (BUCKETS - 1) for b in buckets), tuple(_floats(numbers, len(numbers)))
                    ),
                    bool(acceptable),
                    float(weight),
                )
                for buckets, numbers, acceptable, weight in raw["ring"][-ring_size:]
            ]
            level = _floats(raw["level"], 4)
            losses = _floats(raw["losses"], 2)
            # Files written before the Platt scaling start it at the identity.
            calibration = _floats(raw.get("calibration", [1.0, 0.0, 0.0, 0.0]), 4)
            heads[str(model)] = Head(
                numeric_size=numeric_size,
                ring_size=ring_size,
                bias=_floats([raw["bias"]], 1)[0],
                prior_weight=_floats([raw["prior_weight"]], 1)[0],
                numeric=_floats(raw["numeric"], numeric_size),
                text=_pairs(raw["text"]),
                g_bias=_floats([raw["g_bias"]], 1)[0],
                g_prior=_floats([raw["g_prior"]], 1)[0],
                g_numeric=_floats(raw["g_numeric"], numeric_size),
                g_text=_pairs(raw["g_text"]),
                level_bias=level[0],
                level_weight=level[1],
                g_level_bias=level[2],
                g_level_weight=level[3],
                cal_scale=calibration[0],
                cal_shift=calibration[1],
                g_cal_scale=calibration[2],
                g_cal_shift=calibration[3],
                loss_full=losses[0],
                loss_level=losses[1],
                verdicts=max(int(raw["verdicts"]), 0),
                examples=max(int(raw["examples"]), 0),
                ring=deque(ring, maxlen=ring_size),
            )
    except LearnerFileError:
        raise
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise LearnerFileError(f"malformed learner file: {exc}") from exc
    return heads


def write_atomically(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so that a reader (or a crash) sees the old file or the new
    one, never a mix: a temporary file in the same directory, fsynced, then renamed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
