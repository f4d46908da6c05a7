"""The demo's workload: short scripts in eight task categories, sent with the official SDK.

Each script sends a fixed number of requests (a tool round trip is two, a conversation three), so
the progress bar and the request count are known before anything is sent. Every request is
recorded with what the proxy reported in its ``x-modelpilot-*`` response headers.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from modelpilot.schema.usage import Usage

if TYPE_CHECKING:
    import anthropic

DEFAULT_MODEL = "claude-sonnet-4-6"
STRONG_MODEL = "claude-opus-4-6"


@dataclass(frozen=True, slots=True)
class Call:
    """One request and what the proxy said about it."""

    category: str
    kind: str
    requested_model: str
    served_model: str
    routed: bool
    escalated: bool
    usage: Usage


@dataclass(frozen=True, slots=True)
class Script:
    """A unit of work: ``run`` sends exactly ``requests`` requests and reports each one."""

    category: str
    requests: int
    run: Callable[[anthropic.Anthropic, Callable[[Call], None]], None]


Headers = Any  # httpx's Headers (the SDK's transport); only .get is used


def _call(category: str, kind: str, requested: str, headers: Headers, message: Any) -> Call:
    served = headers.get("x-modelpilot-served-model") or message.model
    return Call(
        category=category,
        kind=kind,
        requested_model=requested,
        served_model=served,
        routed=headers.get("x-modelpilot-routed") == "true",
        escalated=headers.get("x-modelpilot-escalated") == "true",
        usage=Usage.from_api(message.usage.model_dump()),
    )


def _create(
    client: anthropic.Anthropic, report: Callable[[Call], None], category: str, kind: str, **params: Any
) -> Any:
    raw = client.messages.with_raw_response.create(**params)
    message = raw.parse()
    report(_call(category, kind, params["model"], raw.headers, message))
    return message


def _stream(client: anthropic.Anthropic, report: Callable[[Call], None], category: str, **params: Any) -> Any:
    with client.messages.stream(**params) as stream:
        for _ in stream.text_stream:
            pass
        message = stream.get_final_message()
        report(_call(category, "stream", params["model"], stream.response.headers, message))
    return message


def _user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


# -- the scripts ----------------------------------------------------------------------------------
_TICKETS = (
    "My invoice shows two charges for the same month, please refund one.",
    "The app crashes every time I open the settings page on Android 15.",
    "Can I add a second admin to our team workspace?",
    "Your product is great, the new export feature saved me hours.",
    "I was locked out after resetting my password twice.",
)
_ARTICLE = (
    "The city council met on Tuesday to discuss the new cycling network. After three hours of "
    "debate, members voted to fund the first two corridors, linking the university to the central "
    "station and the hospital to the riverside park. Shop owners on the planned routes asked for "
    "loading bays to be kept; the transport office promised a consultation in the spring. Work is "
    "expected to start next summer and to last eighteen months, with temporary lanes in the meantime."
)
_CODE_TASKS = (
    "Write a Python function that merges overlapping intervals in a list of (start, end) tuples.",
    "Write a SQL query returning each customer's three most recent orders.",
    "Refactor this into a list comprehension: out = []\nfor x in xs:\n    if x % 2:\n        out.append(x * x)",
    "Write a TypeScript debounce helper with a cancel method.",
)
_MATH = (
    ("What is 1234 * 5678?", "1234 * 5678"),
    ("A train covers 342 km in 3 hours. What is its average speed?", "342 / 3"),
    ("What is 17% of 2350?", "2350 * 0.17"),
)
_TRANSLATIONS = (
    "Translate to French: The meeting is moved to Thursday at ten.",
    "Translate to German: Please keep your receipt for returns.",
    "Translate to Spanish: The package will arrive within three working days.",
)
_CHATS = (
    ("I'm planning a weekend in Lisbon.", "What should I eat there?", "And one museum worth it?"),
    ("I want to start running.", "How often per week at first?", "What about shoes?"),
    ("Help me name a cat.", "She is grey and very calm.", "Pick your favourite of those."),
)
_REASONING = (
    "Three boxes are labelled apples, oranges and mixed; every label is wrong. You may take one "
    "fruit from one box. How do you relabel all boxes correctly? Explain step by step.",
    "A bat and a ball cost 1.10 in total; the bat costs 1.00 more than the ball. What does the "
    "ball cost? Reason carefully before answering.",
    "Should a small team adopt microservices for a new product with two developers? Weigh both sides.",
)
_CONTACT_SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "email": {"type": "string"},
        "company": {"type": "string"},
    },
    "required": ["name", "email", "company"],
    "additionalProperties": False,
}
_CONTACTS = (
    "Hi, this is Dana Whitfield from Larch & Co, reach me at dana@larch.example.",
    "Regards, Tomasz Nowak (Baltic Freight) - tomasz.nowak@bf.example",
    "Send the quote to Amira Haddad at amira@oasis-labs.example, Oasis Labs procurement.",
)
_CALCULATOR = {
    "name": "calculator",
    "description": "Evaluate an arithmetic expression and return the result.",
    "input_schema": {
        "type": "object",
        "properties": {"expression": {"type": "string", "description": "e.g. 12 * (3 + 4)"}},
        "required": ["expression"],
    },
}


def _classification(i: int) -> Script:
    def run(client: anthropic.Anthropic, report: Callable[[Call], None]) -> None:
        _create(
            client,
            report,
            "classification",
            "plain",
            model=DEFAULT_MODEL,
            max_tokens=16,
            system="Classify the support ticket as one of: billing, bug, account, feedback. "
            "Answer with the label only.",
            messages=_user(_TICKETS[i % len(_TICKETS)]),
        )

    return Script("classification", 1, run)


def _extraction(i: int) -> Script:
    def run(client: anthropic.Anthropic, report: Callable[[Call], None]) -> None:
        _create(
            client,
            report,
            "extraction",
            "structured",
            model=DEFAULT_MODEL,
            max_tokens=256,
            messages=_user(f"Extract the contact details:\n{_CONTACTS[i % len(_CONTACTS)]}"),
            output_config={"format": {"type": "json_schema", "schema": _CONTACT_SCHEMA}},
        )

    return Script("extraction", 1, run)


def _summarization(i: int) -> Script:
    def run(client: anthropic.Anthropic, report: Callable[[Call], None]) -> None:
        _stream(
            client,
            report,
            "summarization",
            model=DEFAULT_MODEL,
            max_tokens=200,
            messages=_user(f"Summarize in {2 + i % 3} sentences:\n\n{_ARTICLE}"),
        )

    return Script("summarization", 1, run)


def _code(i: int) -> Script:
    def run(client: anthropic.Anthropic, report: Callable[[Call], None]) -> None:
        _stream(
            client,
            report,
            "code",
            model=STRONG_MODEL if i % 2 else DEFAULT_MODEL,
            max_tokens=512,
            system="You are a senior engineer. Answer with code and one line of explanation.",
            messages=_user(_CODE_TASKS[i % len(_CODE_TASKS)]),
        )

    return Script("code", 1, run)


def _math(i: int) -> Script:
    question, expression = _MATH[i % len(_MATH)]

    def run(client: anthropic.Anthropic, report: Callable[[Call], None]) -> None:
        messages: list[dict[str, Any]] = _user(question)
        first = _create(
            client,
            report,
            "math",
            "tool use",
            model=DEFAULT_MODEL,
            max_tokens=256,
            tools=[_CALCULATOR],
            tool_choice={"type": "tool", "name": "calculator"},
            messages=messages,
        )
        calls = [block for block in first.content if block.type == "tool_use"]
        messages.append({"role": "assistant", "content": [block.model_dump() for block in first.content]})
        if calls:
            messages.append(
                {
                    "role": "user",
                    "content": [
                        {"type": "tool_result", "tool_use_id": call.id, "content": _evaluate(expression)}
                        for call in calls
                    ],
                }
            )
        else:
            messages.append({"role": "user", "content": "Please give the result directly."})
        _create(
            client,
            report,
            "math",
            "tool use",
            model=DEFAULT_MODEL,
            max_tokens=256,
            tools=[_CALCULATOR],
            messages=messages,
        )

    return Script("math", 2, run)


def _evaluate(expression: str) -> str:
    left, operator, right = expression.split()
    a, b = float(left), float(right)
    result = {"*": a * b, "/": a / b, "+": a + b, "-": a - b}[operator]
    return f"{result:g}"


def _translation(i: int) -> Script:
    def run(client: anthropic.Anthropic, report: Callable[[Call], None]) -> None:
        _create(
            client,
            report,
            "translation",
            "plain",
            model=DEFAULT_MODEL,
            max_tokens=128,
            messages=_user(_TRANSLATIONS[i % len(_TRANSLATIONS)]),
        )

    return Script("translation", 1, run)


def _chat(i: int, turns: int = 3) -> Script:
    lines = _CHATS[i % len(_CHATS)][:turns]

    def run(client: anthropic.Anthropic, report: Callable[[Call], None]) -> None:
        messages: list[dict[str, Any]] = []
        for line in lines:
            messages.append({"role": "user", "content": line})
            answer = _create(
                client,
                report,
                "chat",
                "multi-turn",
                model=DEFAULT_MODEL,
                max_tokens=200,
                system="You are a friendly assistant. Keep answers short.",
                messages=messages,
            )
            text = "".join(block.text for block in answer.content if block.type == "text")
            messages.append({"role": "assistant", "content": text or "(no answer)"})

    return Script("chat", len(lines), run)


def _reasoning(i: int) -> Script:
    def run(client: anthropic.Anthropic, report: Callable[[Call], None]) -> None:
        _create(
            client,
            report,
            "reasoning",
            "plain",
            model=STRONG_MODEL,
            max_tokens=700,
            messages=_user(_REASONING[i % len(_REASONING)]),
        )

    return Script("reasoning", 1, run)


_MIX: tuple[Callable[[int], Script], ...] = (
    _classification,
    _extraction,
    _summarization,
    _chat,
    _code,
    _math,
    _translation,
    _reasoning,
    _classification,
    _summarization,
)


def plan(requests: int) -> list[Script]:
    """Scripts that send exactly ``requests`` requests, cycling through the mix."""
    scripts: list[Script] = []
    remaining = requests
    builders: Iterator[tuple[int, Callable[[int], Script]]] = enumerate(itertools.cycle(_MIX))
    while remaining > 0:
        index, build = next(builders)
        script = build(index // len(_MIX))
        if script.requests > remaining:
            script = _chat(index, turns=remaining) if remaining > 1 else _classification(index)
        scripts.append(script)
        remaining -= script.requests
    return scripts
