"""The inputs of the local models, computed from one request body.

Both :func:`~modelpilot.proxy.features.extract.extract_features` (at run time) and the training
script (offline) build model inputs through :func:`model_inputs`, so that what the shipped
weights were fitted on is exactly what they see in the proxy.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

from modelpilot.proxy.features import rules, text
from modelpilot.proxy.features.shape import RequestShape, walk_request
from modelpilot.schema.wire import Category

#: Categories in a fixed order, for one-hot inputs of the difficulty model.
CATEGORY_ORDER: tuple[Category, ...] = tuple(Category)
#: Names of the dense inputs of the difficulty model, in the order of :attr:`ModelInputs.numeric`.
NUMERIC_NAMES: tuple[str, ...] = (
    "log_prompt_tokens",
    "log_last_user_tokens",
    "log_max_tokens",
    "log_messages",
    "has_code",
    "has_math",
    "number_share",
    "log_numbers",
    "has_tools",
    "has_images",
    "has_documents",
    "thinking",
    "has_response_schema",
    *(f"category_{c.value}" for c in CATEGORY_ORDER),
)
# Words whose first character is a digit: quantities in a word problem, options in a table.
_DIGITS = frozenset("0123456789")
# Agent harnesses (Claude Code, SDK agents) offer many tools on their very first turn.
_AGENT_MIN_TOOLS = 3
# An agent loop makes call after call; one round trip (a calculator, a weather lookup) may serve
# another task, which the words then name.
_AGENT_MIN_TOOL_CALLS = 2


@dataclass(frozen=True, slots=True)
class RequestFlags:
    """The request's boolean switches, read from its top-level fields."""

    has_tools: bool
    tool_choice_forced: bool
    thinking: bool
    has_response_schema: bool
    streaming: bool
    #: The response schema (or the forced tool's input) asks only for labels: every string it
    #: asks for is one of an ``enum``, as in ``{"sentiment": {"enum": ["positive", ...]}}``.
    labels_only: bool = False


@dataclass(frozen=True, slots=True)
class ModelInputs:
    """Everything the local models and rules read. Held only for the duration of one call.
    Bigram hashes are derived from ``word_hashes`` only when a model uses them."""

    shape: RequestShape
    flags: RequestFlags
    max_tokens: int
    word_hashes: list[int]
    has_code: bool
    has_math: bool
    rule_category: Category | None
    is_chatter: bool
    number_share: float
    number_count: int
    is_creative: bool
    is_conversational: bool
    is_question: bool
    has_operation: bool

    @property
    def first_turn(self) -> TextInputs | None:
        """The analysis of the first user turn's head (``RequestShape.first_user_text``) of a
        conversation without tools, else None: the task a follow-up turn refines. Computed only
        when asked (a follow-up that reads as talk), and kept like the last turn's for the last
        few distinct excerpts: a conversation's first turn is the same on every later turn."""
        shape = self.shape
        if not shape.first_user_text or self.flags.has_tools:
            return None
        return text_inputs(shape.first_user_text, shape.system_text, False)


def read_flags(body: dict[str, Any], tool_count: int) -> RequestFlags:
    """The boolean switches of ``body``."""
    tool_choice = body.get("tool_choice")
    forced = isinstance(tool_choice, dict) and tool_choice.get("type") in ("any", "tool")
    thinking = body.get("thinking")
    thinking_on = isinstance(thinking, dict) and thinking.get("type") not in (None, "disabled")
    output_config = body.get("output_config")
    output_format = output_config.get("format") if isinstance(output_config, dict) else None
    if not isinstance(output_format, dict):
        output_format = body.get("output_format")
    schema = isinstance(output_format, dict)
    forced_on = forced and tool_count > 0
    asked: Any = None
    if isinstance(output_format, dict):
        asked = output_format.get("schema")
    elif forced_on and isinstance(tool_choice, dict):
        asked = _forced_tool_schema(body, tool_choice)
    return RequestFlags(
        has_tools=tool_count > 0,
        tool_choice_forced=forced_on,
        thinking=thinking_on,
        has_response_schema=schema,
        streaming=body.get("stream") is True,
        labels_only=_asks_only_labels(asked),
    )


def _forced_tool_schema(body: dict[str, Any], tool_choice: dict[str, Any]) -> Any:
    """The input schema of the tool ``tool_choice`` forces (the only tool, for ``any``)."""
    tools = body.get("tools")
    if not isinstance(tools, list):
        return None
    if tool_choice.get("type") == "tool":
        named = [t for t in tools if isinstance(t, dict) and t.get("name") == tool_choice.get("name")]
    else:
        named = tools if len(tools) == 1 else []
    return named[0].get("input_schema") if named and isinstance(named[0], dict) else None


def _asks_only_labels(schema: Any) -> bool:
    """Whether a JSON schema's top-level properties ask for at least one label (a string
    ``enum``) and for no free text (numbers and booleans, a confidence say, may come along)."""
    if not isinstance(schema, dict):
        return False
    properties = schema.get("properties")
    if not isinstance(properties, dict) or not properties:
        return False
    labels = 0
    for spec in properties.values():
        if not isinstance(spec, dict):
            return False
        if isinstance(spec.get("enum"), list):
            labels += 1
        elif spec.get("type") not in ("number", "integer", "boolean"):
            return False
    return labels > 0


@dataclass(frozen=True, slots=True)
class TextInputs:
    """The model inputs read from the bounded text excerpts alone (the last user text and the
    head of the system prompt), with whether the request acts as an agent."""

    word_hashes: tuple[int, ...]
    has_code: bool
    has_math: bool
    rule_category: Category | None
    is_chatter_text: bool
    number_share: float
    number_count: int
    is_creative: bool
    is_conversational: bool
    is_question: bool
    has_operation: bool


# An agent loop's user turns are tool results, so its last user text (the instruction) and its
# system prompt are the same on every turn of a task: their analysis is kept for the last few
# distinct excerpts (bounded text, at most ~1,500 characters each, in this process only; never
# written or sent). A pure function of its arguments, so a kept result is the computed one.
@functools.lru_cache(maxsize=256)
def text_inputs(user_text: str, system_text: str, is_agentic: bool) -> TextInputs:
    """The :class:`TextInputs` of the excerpts of a request (see :class:`RequestShape`)."""
    lowered_user = user_text.lower()
    lowered_system = system_text.lower()
    lowered = lowered_user + "\n" + lowered_system
    words = text.words(lowered)
    word_set = frozenset(words)
    code = text.has_code(lowered, word_set)
    # The classifier's words cover the whole excerpt unless they were cut at text.MAX_WORDS.
    excerpt = rules.instruction_excerpt(
        lowered_user, lowered_system, words=word_set if len(words) < text.MAX_WORDS else None
    )
    numbers = len([w for w in words if w[0] in _DIGITS])
    return TextInputs(
        word_hashes=tuple(text.hash_words(words)),
        has_code=code,
        has_math=text.has_math(lowered, word_set),
        rule_category=rules.category_by_rules(excerpt, is_agentic=is_agentic, has_code=code),
        is_chatter_text=rules.is_chatter(lowered_user),
        number_share=numbers / len(words) if words else 0.0,
        number_count=numbers,
        is_creative=rules.is_creative_ask(excerpt),
        is_conversational=rules.is_conversational(lowered_user, lowered_system),
        is_question=rules.is_question(lowered_user),
        has_operation=rules.has_operation(lowered_user),
    )


def model_inputs(body: dict[str, Any]) -> ModelInputs:
    """Walk ``body`` once and derive every model input from bounded excerpts of it."""
    shape = walk_request(body)
    flags = read_flags(body, shape.tool_count)
    is_agentic = flags.has_tools and (
        shape.tool_use_count >= _AGENT_MIN_TOOL_CALLS
        or (shape.tool_count >= _AGENT_MIN_TOOLS and not flags.tool_choice_forced)
    )
    found = text_inputs(shape.user_text, shape.system_text, is_agentic)
    max_tokens = body.get("max_tokens")
    return ModelInputs(
        shape=shape,
        flags=flags,
        max_tokens=max_tokens if isinstance(max_tokens, int) and max_tokens > 0 else 0,
        word_hashes=list(found.word_hashes),
        has_code=found.has_code,
        has_math=found.has_math,
        rule_category=found.rule_category,
        is_chatter=found.is_chatter_text and shape.image_count == 0 and shape.document_count == 0,
        number_share=found.number_share,
        number_count=found.number_count,
        is_creative=found.is_creative,
        is_conversational=found.is_conversational,
        is_question=found.is_question,
        has_operation=found.has_operation,
    )


def numeric_vector(inputs: ModelInputs, category: Category) -> list[float]:
    """The dense inputs of the difficulty model, in :data:`NUMERIC_NAMES` order."""
    shape = inputs.shape
    flags = inputs.flags
    # log scales keep a 100k-token request from dominating a linear model fitted on short ones.
    return [
        math.log1p(shape.prompt_tokens) / 10,
        math.log1p(shape.last_user_tokens) / 10,
        math.log1p(inputs.max_tokens) / 10,
        math.log1p(shape.message_count) / 5,
        float(inputs.has_code),
        float(inputs.has_math),
        inputs.number_share,
        math.log1p(inputs.number_count) / 3,
        float(flags.has_tools),
        float(shape.image_count > 0),
        float(shape.document_count > 0),
        float(flags.thinking),
        float(flags.has_response_schema),
        *(1.0 if c is category else 0.0 for c in CATEGORY_ORDER),
    ]
