"""``extract_features``: an Anthropic Messages request body in, numbers and flags out.

This is the privacy boundary of DESIGN.md §2 on the proxy side: :class:`Features` holds only
ints, floats, booleans and the :class:`~modelpilot.schema.wire.Category` enum. No text, no hash
and no embedding of text survives the call; the bounded excerpts and word hashes the local
models read are dropped when it returns.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from modelpilot.proxy.features.artifact import CategoryModel, RouterModel, load_router_model
from modelpilot.proxy.features.inputs import ModelInputs, model_inputs, numeric_vector
from modelpilot.proxy.features.text import hash_bigrams
from modelpilot.schema.wire import Category

# Below this probability the classifier's top class is a guess; say "other" (or "chat" for a
# short turn in a running conversation) rather than pretend.
_MIN_CONFIDENCE = 0.35
_SURE = 0.7
_CHAT_MAX_CHARS = 200


@dataclass(frozen=True, slots=True)
class Features:
    """What the proxy knows about one request, as numbers, flags and a category.

    Field names follow :class:`modelpilot.schema.wire.Features` where both have the field.

    >>> f = extract_features({"max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]})
    >>> (f.category.value, f.message_count, f.max_tokens)
    ('chat', 1, 64)
    """

    input_tokens_estimate: int
    system_tokens_estimate: int
    last_user_tokens_estimate: int
    max_tokens: int
    message_count: int
    turn_count: int
    tool_count: int
    image_count: int
    document_count: int
    tool_result_count: int
    has_tools: bool
    tool_choice_forced: bool
    thinking: bool
    has_response_schema: bool
    streaming: bool
    cache_control: bool
    has_code: bool
    has_math: bool
    category: Category
    difficulty: float


def choose_category(inputs: ModelInputs, model: CategoryModel) -> Category:
    """Rules first (explicit instructions, request shape), then the learned classifier."""
    if inputs.rule_category is not None:
        return inputs.rule_category
    if inputs.is_chatter:
        return Category.CHAT
    if not inputs.word_hashes:
        return Category.OTHER
    for predicted, probability in model.ranked(inputs.word_hashes):
        if probability < _MIN_CONFIDENCE:
            break
        # The benchmarks teach the classifier their formats as much as their tasks; a code or
        # math label needs the matching flag unless the classifier is sure.
        needs_flag = (predicted is Category.CODE and not inputs.has_code) or (
            predicted is Category.MATH and not inputs.has_math
        )
        if needs_flag and probability < _SURE:
            continue
        return predicted
    if inputs.shape.user_turns > 1 and inputs.shape.user_text_chars <= _CHAT_MAX_CHARS:
        return Category.CHAT
    return Category.OTHER


def extract_features(body: dict[str, Any], *, model: RouterModel | None = None) -> Features:
    """The :class:`Features` of one Messages request ``body`` (with or without ``model``).

    ``model`` defaults to the weights shipped with the package, loaded on first use. Malformed
    bodies do not raise: missing or mistyped parts count as absent, since the upstream API is the
    one to reject them.
    """
    return analyse_request(body, model=model).features


@dataclass(frozen=True, slots=True)
class Analysis:
    """:class:`Features` together with the model inputs they were computed from. The inputs hold
    word hashes: they are for the local learner in this process only, never sent or logged."""

    features: Features
    inputs: ModelInputs
    numeric: list[float]


def analyse_request(body: dict[str, Any], *, model: RouterModel | None = None) -> Analysis:
    """:func:`extract_features` that also hands back the inputs (one walk of the body for both
    the features sent and the local learner's example)."""
    router = model if model is not None else load_router_model()
    inputs = model_inputs(body)
    category = choose_category(inputs, router.category)
    shape = inputs.shape
    flags = inputs.flags
    text_hashes: list[int] = []
    if router.difficulty.text_weights is not None:
        text_hashes = inputs.word_hashes + hash_bigrams(inputs.word_hashes)
    numeric = numeric_vector(inputs, category)
    difficulty = router.difficulty.predict(text_hashes, numeric)
    features = Features(
        input_tokens_estimate=shape.prompt_tokens,
        system_tokens_estimate=shape.system_tokens,
        last_user_tokens_estimate=shape.last_user_tokens,
        max_tokens=inputs.max_tokens,
        message_count=shape.message_count,
        turn_count=shape.user_turns,
        tool_count=shape.tool_count,
        image_count=shape.image_count,
        document_count=shape.document_count,
        tool_result_count=shape.tool_result_count,
        has_tools=flags.has_tools,
        tool_choice_forced=flags.tool_choice_forced,
        thinking=flags.thinking,
        has_response_schema=flags.has_response_schema,
        streaming=flags.streaming,
        cache_control=shape.has_cache_control,
        has_code=inputs.has_code,
        has_math=inputs.has_math,
        category=category,
        difficulty=difficulty,
    )
    return Analysis(features=features, inputs=inputs, numeric=numeric)
