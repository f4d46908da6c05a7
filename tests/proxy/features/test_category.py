"""Categories of hand-written prompts: the keyword rules, the request-shape rules, the model."""

from __future__ import annotations

import pytest

from modelpilot.proxy.features import Category, extract_features
from tests.proxy.features.bodies import body, user


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        ("Translate 'good morning, how did you sleep?' into French.", Category.TRANSLATION),
        ("How do you say 'where is the train station' in German?", Category.TRANSLATION),
        (
            "Please summarize the following article in three bullet points:\n\nThe council met on...",
            Category.SUMMARIZATION,
        ),
        (
            "Meeting notes: we agreed to ship on Friday and hire two people.\n\nTL;DR please",
            Category.SUMMARIZATION,
        ),
        (
            "Rewrite this paragraph so it sounds more professional: hey guys, the thing is broke again",
            Category.REWRITING,
        ),
        ("Proofread my cover letter: I am writting to apply for the position...", Category.REWRITING),
        (
            "Extract every person's name and date from this email and return them as JSON: ...",
            Category.EXTRACTION,
        ),
        (
            "Classify the sentiment of this review as positive or negative: the battery died in a day.",
            Category.CLASSIFICATION,
        ),
        (
            "Which category does this support ticket belong to: billing, login or shipping?",
            Category.CLASSIFICATION,
        ),
        ("Translate this Python function to Rust: def add(a, b): return a + b", Category.CODE),
        ("hi!", Category.CHAT),
        ("thanks, that helps", Category.CHAT),
    ],
)
def test_rule_categories(prompt: str, expected: Category) -> None:
    assert extract_features(body(user(prompt))).category is expected


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        (
            "Write a Python function that reverses a singly linked list in place and explain its complexity.",
            Category.CODE,
        ),
        (
            "My React component re-renders forever when I call setState inside useEffect. How do I fix it?",
            Category.CODE,
        ),
        (
            "A train travels 120 km in 1.5 hours and then 80 km in 1 hour. What is its average speed in km/h?",
            Category.MATH,
        ),
        ("Find all real x such that x^2 - 5x + 6 = 0.", Category.MATH),
        ("Write a short poem about autumn leaves falling on a quiet lake.", Category.CREATIVE_WRITING),
        ("Write a story about a lighthouse keeper who befriends a whale.", Category.CREATIVE_WRITING),
        ("Which organ produces insulin in the human body?", Category.QA),
    ],
)
def test_learned_categories(prompt: str, expected: Category) -> None:
    assert extract_features(body(user(prompt))).category is expected


def test_agentic_from_tool_results_and_from_agent_harness_shape() -> None:
    tools = [{"name": n, "input_schema": {"type": "object"}} for n in ("read", "write", "bash")]
    assert (
        extract_features(body(user("Fix the failing test in src/app.py"), tools=tools)).category
        is Category.AGENTIC
    )
    one_tool = tools[:1]
    history = [
        user("Look up the order"),
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "read", "input": {}}]},
        user([{"type": "tool_result", "tool_use_id": "t", "content": "order 42: shipped"}]),
    ]
    assert extract_features(body(*history, tools=one_tool)).category is Category.AGENTIC


def test_forced_single_tool_reads_as_extraction() -> None:
    tools = [{"name": "record_invoice", "input_schema": {"type": "object"}}]
    f = extract_features(
        body(
            user("ACME Corp, invoice 1142, due 2024-03-01, total $1,200"),
            tools=tools,
            tool_choice={"type": "tool", "name": "record_invoice"},
        )
    )
    assert f.category is Category.EXTRACTION


def test_code_and_math_flags() -> None:
    code = extract_features(body(user("```js\nconst x = () => 1;\n```\nwhy does this fail?")))
    assert code.has_code and not code.has_math
    maths = extract_features(body(user("Compute the integral of x^2 from 0 to 3.")))
    assert maths.has_math
    neither = extract_features(body(user("What is a good name for a golden retriever puppy?")))
    assert not (neither.has_code or neither.has_math)


def test_rules_ignore_a_keyword_buried_inside_a_long_document() -> None:
    document = "intro " * 300 + "the committee asked staff to summarize the findings " + "more words " * 300
    f = extract_features(body(user(document + "\nWrite a haiku inspired by this text.")))
    assert f.category is not Category.SUMMARIZATION
