"""The privacy boundary: what the proxy tells the control plane about a Messages request.

Everything sent for a routing decision is built here, and nowhere else: :func:`build_route_request`
(or :func:`route_request_and_example`, which also returns the local learner's example, kept in this
process) makes a :class:`~modelpilot.schema.wire.RouteRequest` of numbers, flags, the category enum
and the requested model id, plus, with a local learner, its score and verdict count (never its
example or weights). :func:`encode_route_request` gives the exact bytes of ``POST /v1/route``;
``modelpilot inspect`` prints those bytes.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import orjson
from pydantic import ValidationError

from modelpilot.proxy.features.extract import Features as LocalFeatures
from modelpilot.proxy.features.extract import analyse_request
from modelpilot.schema.catalog import load_catalog
from modelpilot.schema.wire import Features, RouteRequest, bucket_of

if TYPE_CHECKING:
    from modelpilot.proxy.learning import Example, LearnedScore, LocalLearner

ROUTE_PATH = "/v1/route"

# Limits of the wire schema (schema/wire.py): a huge request still gets a valid RouteRequest.
_MAX_TOKENS = 100_000_000
_MAX_COUNT = 10_000_000
_MAX_VERDICTS = 1_000_000


def wire_features(local: LocalFeatures, learned: LearnedScore | None = None) -> Features:
    """The wire :class:`Features` of locally extracted features: the shared fields only, clamped
    to the schema's ranges (extra local fields, like the system prompt's size, stay local), and
    the local learner's score (a probability and a count: nothing of the example or weights)."""

    def tokens(value: int) -> int:
        return min(max(value, 0), _MAX_TOKENS)

    def count(value: int) -> int:
        return min(max(value, 0), _MAX_COUNT)

    difficulty = local.difficulty if math.isfinite(local.difficulty) else 0.0
    acceptable = learned.acceptable if learned is not None else None
    if acceptable is not None and not math.isfinite(acceptable):
        acceptable = None
    return Features(
        input_tokens_estimate=tokens(local.input_tokens_estimate),
        max_tokens=tokens(local.max_tokens),
        message_count=count(local.message_count),
        turn_count=count(local.turn_count),
        tool_count=count(local.tool_count),
        image_count=count(local.image_count),
        document_count=count(local.document_count),
        has_tools=local.has_tools,
        tool_choice_forced=local.tool_choice_forced,
        thinking=local.thinking,
        has_response_schema=local.has_response_schema,
        streaming=local.streaming,
        cache_control=local.cache_control,
        has_code=local.has_code,
        has_math=local.has_math,
        difficulty=min(max(difficulty, 0.0), 1.0),
        learned_acceptable=min(max(acceptable, 0.0), 1.0) if acceptable is not None else None,
        learned_verdicts=min(max(learned.verdicts, 0), _MAX_VERDICTS) if learned is not None else 0,
    )


def build_route_request(document: dict[str, Any], learner: LocalLearner | None = None) -> RouteRequest | None:
    """The :class:`RouteRequest` for a Messages request body, or None when it cannot be routed
    (no model, a model outside the catalog, or a model id the wire schema refuses: such requests
    pass through unrouted, and nothing of them is sent).
    With a ``learner``, its score for the request goes into the features."""
    built = route_request_and_example(document, learner)
    return built[0] if built is not None else None


def route_request_and_example(
    document: dict[str, Any], learner: LocalLearner | None = None
) -> tuple[RouteRequest, Example | None] | None:
    """:func:`build_route_request` and the learner's :class:`Example` of the request (None
    without a learner), from one walk of the body. The example stays in this process."""
    model = document.get("model")
    # A model outside the catalog cannot be routed (DESIGN.md §3) and its name could be anything
    # the caller typed: it is not even asked about.
    if not isinstance(model, str) or model not in load_catalog():
        return None
    example: Example | None = None
    learned: LearnedScore | None = None
    if learner is not None:
        analysis, example = learner.analyse(document)
        local = analysis.features
        learned = learner.predict(example, model)
    else:
        local = analyse_request(document).features
    features = wire_features(local, learned)
    try:
        request = RouteRequest(
            requested_model=model,
            category=local.category,
            features=features,
            # Zero-based: how many user turns came before this one.
            conversation_turn=max(features.turn_count - 1, 0),
        )
    except ValidationError:
        return None
    return request, example


def encode_route_request(request: RouteRequest) -> bytes:
    """The exact body of ``POST /v1/route`` for ``request``."""
    return orjson.dumps(request.model_dump(mode="json"))


def bucket_key(request: RouteRequest) -> str:
    """The coarse feature bucket of ``request``, computed as the control plane computes it."""
    return bucket_of(request)


__all__ = [
    "ROUTE_PATH",
    "bucket_key",
    "build_route_request",
    "encode_route_request",
    "route_request_and_example",
    "wire_features",
]
