"""``extract_features``: an Anthropic Messages request body in, numbers and flags out.

This is the privacy boundary of DESIGN.md §2 on the proxy side: :class:`Features` holds only
ints, floats, booleans and the :class:`~modelpilot.schema.wire.Category` enum: no text, no hash
and no embedding of text. The bounded excerpts and word hashes the local models read stay in this
process: the analysis of the last few distinct excerpts is kept in memory (``inputs.text_inputs``,
for agent loops that resend the same instruction), never written or sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from modelpilot.proxy.features.artifact import CategoryModel, RouterModel, load_router_model
from modelpilot.proxy.features.inputs import ModelInputs, TextInputs, model_inputs, numeric_vector
from modelpilot.proxy.features.text import hash_bigrams
from modelpilot.schema.wire import Category

# Below this probability the classifier's top class is a guess: the request's shape decides.
_MIN_CONFIDENCE = 0.35
_SURE = 0.7
# The classifier, refitted with the labelled live-shaped requests, spreads its probability over
# more classes (chat, rewriting, summarization, extraction): on Arena-Hard's creative prompts held
# out of training, creative writing recall is 14/50 at 0.7 and 20/50 at 0.5 (dev, holdout,
# holdout2 alike or better; training/README.md).
_CREATIVE_SURE = 0.5
_WORD_PROBLEM_NUMBERS = 3
# A short question that nothing else claims asks for a fact; a long text ending in one carries
# material for a task the rules and the classifier could not name.
_QUESTION_MAX_CHARS = 160
# A max_tokens this small leaves room for a label ("spam", "billing", "yes") and nothing more.
_LABEL_MAX_TOKENS = 8
# Tasks whose answer is a function of a given text, which a follow-up may refine.
_TRANSFORMS = (Category.SUMMARIZATION, Category.TRANSLATION, Category.EXTRACTION)


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
    """Explicit instructions first, then conversation, then the learned classifier, then the
    request's shape.

    Measured on live-shaped requests (``python -m bench.categories``), the classifier is good at
    what its benchmarks label (code, math, factual questions) and wrong on conversation, which it
    calls creative writing; so a conversational turn is chat unless it carries code or
    mathematics, and creative writing needs an explicit ask or a sure classifier. It also calls
    "qa" whatever instruction it cannot place, so a learned "qa" needs a question (or a sure
    classifier), and a response schema that admits only labels is classification.
    """
    shape = inputs.shape
    flags = inputs.flags
    uses_tools = flags.has_tools and (shape.tool_result_count > 0 or not flags.tool_choice_forced)
    if inputs.rule_category is Category.REWRITING and shape.user_turns > 1 and not uses_tools:
        # "now make it shorter" after "Summarize this for our newsletter" still summarizes the
        # source; after "Write a tagline" it rewrites the tagline.
        task = _conversation_task(inputs.first_turn, model)
        if task in _TRANSFORMS:
            return task
    if inputs.rule_category is not None:
        return inputs.rule_category
    if inputs.is_chatter:
        return Category.CHAT
    if inputs.is_creative and not inputs.has_code:
        return Category.CREATIVE_WRITING
    in_conversation = (shape.user_turns > 1 or inputs.is_conversational) and not uses_tools
    if in_conversation:
        task = _conversation_task(inputs.first_turn, model)
        if not (inputs.has_code or inputs.has_math):
            return task or Category.CHAT
        if task in (Category.CODE, Category.MATH):
            # "now the second derivative" after "Find the derivative of ...".
            return task
    if 0 < inputs.max_tokens <= _LABEL_MAX_TOKENS and not (uses_tools or flags.tool_choice_forced):
        # Room for a label and nothing more: the caller wants a verdict on the text.
        return Category.CLASSIFICATION
    if flags.labels_only and not uses_tools:
        # The answer's schema admits labels only: a verdict from a closed set.
        return Category.CLASSIFICATION
    content_only = uses_tools or in_conversation or flags.tool_choice_forced
    learned = _learned_category(inputs, model, content_only=content_only)
    if learned is not None:
        return learned
    if inputs.has_operation:
        return Category.MATH
    if uses_tools:
        # Tools offered or a tool's result in hand, and no other task named: the model acts.
        return Category.AGENTIC
    if flags.tool_choice_forced or flags.has_response_schema:
        # A forced tool or a response schema with no other instruction: structured extraction.
        return Category.EXTRACTION
    if inputs.has_code:
        return Category.CODE
    if in_conversation:
        return Category.CHAT
    if inputs.is_question and shape.user_text_chars <= _QUESTION_MAX_CHARS:
        return Category.QA
    return Category.OTHER


def _conversation_task(first: TextInputs | None, model: CategoryModel) -> Category | None:
    """The task a follow-up turn refines, as its conversation's first turn names it ("Write a
    Python function ...", a triangle's area, "For each comment, answer praise or complaint"), or
    None for a conversation that opened with talk ("I'm planning a weekend in Lisbon.")."""
    if first is None:
        return None
    # An explicit ask is the task even when told as news ("I want to write a poem for my wife",
    # "I'm going to Madrid and need a few phrases in Spanish").
    if first.rule_category is not None:
        return first.rule_category
    if first.is_creative and not first.has_code:
        return Category.CREATIVE_WRITING
    if first.is_conversational or first.is_chatter_text:
        return None
    if first.has_code:
        return Category.CODE
    if first.has_math:
        return Category.MATH
    if first.word_hashes:
        predicted, probability = model.ranked(list(first.word_hashes))[0]
        if probability >= _SURE and predicted not in (Category.CREATIVE_WRITING, Category.AGENTIC):
            return predicted
    return None


def _learned_category(inputs: ModelInputs, model: CategoryModel, *, content_only: bool) -> Category | None:
    """The classifier's category when it is confident and the text backs it, else None.

    ``content_only``: the request's shape (tools, a conversation) already says what it is unless
    the text is clearly code or mathematics.
    """
    if not inputs.word_hashes:
        return None
    for predicted, probability in model.ranked(inputs.word_hashes):
        if probability < _MIN_CONFIDENCE:
            break
        # The benchmarks teach the classifier their formats as much as their tasks: a label
        # needs the text to back it.
        if predicted is Category.CODE:
            backed = inputs.has_code or (probability >= _SURE and not content_only)
        elif predicted is Category.MATH:
            backed = _backs_math(inputs, probability, content_only=content_only)
        elif predicted is Category.CREATIVE_WRITING:
            # An explicit ask ("a script of ...", which also reads as code), or a fairly sure
            # classifier on a request rather than a question.
            backed = not content_only and (
                inputs.is_creative or (probability >= _CREATIVE_SURE and not inputs.is_question)
            )
        elif predicted is Category.QA:
            # Learned from benchmark questions: "qa" for an instruction it cannot place ("Put
            # each of these into the bucket ...") is a guess, so a fact needs a question asked,
            # or a sure classifier (a quiz item with no question mark).
            backed = not content_only and (inputs.is_question or probability >= _SURE)
        else:
            backed = not content_only
        if backed:
            return predicted
    return None


def _backs_math(inputs: ModelInputs, probability: float, *, content_only: bool) -> bool:
    """Whether the text backs a math label: a math word or symbol, or numbers to work on (a
    question with several quantities is a word problem, math words or not). "How tall is the
    Eiffel Tower?" is a lookup, and so is "how many orders shipped last week?" to a SQL tool."""
    if content_only:
        return inputs.has_math and inputs.number_count > 0
    if inputs.has_math:
        return True
    if inputs.number_count == 0:
        return False
    return probability >= _SURE or (inputs.is_question and inputs.number_count >= _WORD_PROBLEM_NUMBERS)


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
