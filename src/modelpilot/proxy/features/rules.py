"""Keyword rules for the task categories the outcome data lacks (DESIGN.md §3).

The learned classifier only knows the categories that public benchmarks label (code, math, qa,
reasoning, creative writing, translation, classification). Instructions such as "summarize",
"rewrite" or "extract ... as JSON" are explicit enough that a rule is both cheaper and more
reliable than a model; rules look only at the head and tail of the instruction, where people put
it, so a long pasted document that happens to contain "summary" does not flip the category.
"""

from __future__ import annotations

from modelpilot.schema.wire import Category

# (category, markers) in priority order: the first category with a marker in the instruction
# wins. Markers are lowercase substrings; leading spaces stand in for word starts cheaply.
_RULES: tuple[tuple[Category, tuple[str, ...]], ...] = (
    (
        Category.TRANSLATION,
        (
            "translate",
            "translation of",
            "traduce",
            "traduis",
            "übersetze",
            "in english?",
            "how do you say",
        ),
    ),
    (
        Category.SUMMARIZATION,
        (
            "summarize",
            "summarise",
            "summary of",
            "a summary",
            "tl;dr",
            "tldr",
            "key points",
            "key takeaways",
            "condense",
            "in a nutshell",
        ),
    ),
    (
        Category.REWRITING,
        (
            "rewrite",
            "re-write",
            "rephrase",
            "paraphrase",
            "proofread",
            "reword",
            "fix the grammar",
            "fix grammar",
            "correct the grammar",
            "grammar and spelling",
            "make it more formal",
            "make this more",
            "make it more",
            "polish this",
            "improve the wording",
            "edit this",
            "simplify this text",
        ),
    ),
    (
        Category.EXTRACTION,
        (
            "extract",
            "pull out all",
            "list all the names",
            "named entities",
            "parse the following",
            "parse this",
            "fill in the json",
            "as json",
            "into json",
            "in json format",
            "json object with",
            "fields:",
        ),
    ),
    (
        Category.CLASSIFICATION,
        (
            "classify",
            "categorize",
            "categorise",
            "sentiment",
            "label the",
            "label this",
            "label each",
            "which category",
            "is this spam",
            "is it spam",
            "positive or negative",
            "positive, negative",
            "toxic or not",
            "intent of",
        ),
    ),
)
_GREETINGS = (
    "hi",
    "hello",
    "hey",
    "thanks",
    "thank you",
    "good morning",
    "good evening",
    "how are you",
    "what's up",
    "ok",
    "okay",
    "cool",
    "great",
    "bye",
)
# Instructions sit at the start or end of a turn; a rule marker deep inside pasted material is
# more likely quoted content than an instruction.
_HEAD_CHARS = 300
_TAIL_CHARS = 200
#: A last user turn shorter than this with no other signal reads as conversation, not a task.
CHAT_MAX_CHARS = 60


def instruction_excerpt(lowered_user: str, lowered_system: str) -> str:
    """The part of a turn where rules look: the head and tail of the user text, the system head."""
    if len(lowered_user) > _HEAD_CHARS + _TAIL_CHARS:
        lowered_user = lowered_user[:_HEAD_CHARS] + " " + lowered_user[-_TAIL_CHARS:]
    return lowered_user + " " + lowered_system[:_HEAD_CHARS]


def category_by_rules(
    excerpt: str,
    *,
    is_agentic: bool,
    is_tool_forced: bool,
    has_code: bool,
) -> Category | None:
    """The category an explicit instruction or the request's shape implies, or None.

    ``is_agentic``: tools offered and the conversation already carries tool calls or results.
    """
    if is_agentic:
        return Category.AGENTIC
    for category, markers in _RULES:
        if any(marker in excerpt for marker in markers):
            # "Translate this Python to Rust" is a code task: code beats translation and rewriting.
            if has_code and category in (Category.TRANSLATION, Category.REWRITING):
                return Category.CODE
            return category
    if is_tool_forced:
        # A single forced tool is the classic structured-extraction pattern.
        return Category.EXTRACTION
    return None


def is_chatter(lowered_user: str) -> bool:
    """Whether the last user turn is short small talk ("hi", "thanks!", "how are you?")."""
    text = lowered_user.strip().rstrip("!.?").strip()
    if len(text) > CHAT_MAX_CHARS:
        return False
    return any(text == g or text.startswith((g + " ", g + ",")) for g in _GREETINGS)
