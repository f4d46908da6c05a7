"""The latent difficulty of a prompt: which models answer it as well as the strongest one.

A prompt's difficulty is a level from its words (the user turns and the system prompt, as
lower-case ``[a-z]+`` words), so a learner that reads word features can learn it:

===========  ===========================================================  ================
level        when                                                          answered well by
===========  ===========================================================  ================
0 (easy)     none of the words below                                       every line
1 (hard)     any of :data:`HARD_WORDS` (``prove``, ``derive``, ...)        sonnet and up
2 (hardest)  any of :data:`HARDEST_WORDS` (``formally``, ``lemma``, ...)   opus and up
===========  ===========================================================  ================

Lines: ``haiku`` answers level 0 well, ``sonnet`` levels 0-1, every other line (``opus``,
``fable``, ``mythos``) all levels. A model that answers a prompt well gives *the strong answer*:
the same content as every other model that does (its text, tool calls and structured output are
drawn from the request without its ``model``). A model the prompt is too hard for gives a worse
one, drawn with its own model id:

* a short-answer prompt (its last user turn contains :data:`SHORT_ANSWER_CUE`, "in one word"):
  every answer is one word, and a weak model's word differs from the strong one, so an exact
  comparison of normalised short answers tells them apart;
* a tool call or structured output: other arguments / another value (from the model's own draw);
* any other text: prose that starts with :data:`WEAK_MARKER`; the simulator's own judge
  (:mod:`modelpilot.sim.judging`) rates such an answer worse than one without it.

This is independent of the per-line failure profiles (:mod:`modelpilot.sim.profiles`: refusals,
empty answers, bad tool input, bad JSON), which stay random by request hash; set
``SimSettings(cheap_failure_rate=0)`` for a workload whose only failures are the latent ones.

Build workloads with known easy and hard prompts with :func:`make_prompt`:

>>> make_prompt(0, seed=1)
'Please describe the search index for the review.'
>>> text_difficulty(make_prompt(1, seed=1)), text_difficulty(make_prompt(2, seed=1))
(1, 2)
>>> can_answer("haiku", 1), can_answer("sonnet", 1), can_answer("opus", 2)
(False, True, True)
"""

from __future__ import annotations

import random
import re
from typing import Any

HARD_WORDS = frozenset({"prove", "derive", "optimize", "concurrency", "asymptotic", "invariant", "theorem"})
HARDEST_WORDS = frozenset({"formally", "adversarial", "lemma", "undecidable"})
SHORT_ANSWER_CUE = "in one word"
WEAK_MARKER = "I am not certain, but"
#: The highest level each line answers well; a line not listed answers every level well.
LINE_CAPABILITY = {"haiku": 0, "sonnet": 1}
MAX_LEVEL = 2

_WORD = re.compile(r"[a-z]+")
_TOPICS = ("data model", "release plan", "cache layer", "billing export", "search index", "test suite")
_TASKS = ("summarise", "describe", "review", "explain", "outline")
_SORTED_HARD = sorted(HARD_WORDS)
_SORTED_HARDEST = sorted(HARDEST_WORDS)


def text_difficulty(text: str) -> int:
    """The level of a piece of text (the table in the module doc)."""
    found = set(_WORD.findall(text.lower()))
    if found & HARDEST_WORDS:
        return 2
    if found & HARD_WORDS:
        return 1
    return 0


def _texts(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [
            block["text"]
            for block in value
            if isinstance(block, dict) and block.get("type") == "text" and isinstance(block.get("text"), str)
        ]
    return []


def prompt_text(body: dict[str, Any]) -> str:
    """The words difficulty is read from: the system prompt and every user turn's text."""
    parts = _texts(body.get("system"))
    for message in body.get("messages") or ():
        if isinstance(message, dict) and message.get("role") == "user":
            parts.extend(_texts(message.get("content")))
    return "\n".join(parts)


def prompt_difficulty(body: dict[str, Any]) -> int:
    """The level of a Messages request."""
    return text_difficulty(prompt_text(body))


def is_short_answer(body: dict[str, Any]) -> bool:
    """The last user turn asks for a one-word answer (:data:`SHORT_ANSWER_CUE`)."""
    messages = body.get("messages") or []
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            return any(SHORT_ANSWER_CUE in text.lower() for text in _texts(message.get("content")))
    return False


def can_answer(line: str, level: int) -> bool:
    """Does a model of ``line`` answer a prompt of ``level`` as well as the strongest model?"""
    return level <= LINE_CAPABILITY.get(line, MAX_LEVEL)


def make_prompt(level: int, *, seed: int = 0, short: bool = False) -> str:
    """A user prompt of a known ``level`` (0, 1 or 2), varied by ``seed``; ``short`` asks for a
    one-word answer."""
    if not 0 <= level <= MAX_LEVEL:
        raise ValueError(f"level must be within 0..{MAX_LEVEL}, got {level}")
    rng = random.Random(seed)
    text = f"Please {rng.choice(_TASKS)} the {rng.choice(_TOPICS)} for the review."
    if level >= 1:
        text += f" Then {rng.choice(_SORTED_HARD)} its main property."
    if level == 2:
        text += f" Do it {rng.choice(_SORTED_HARDEST)} and step by step."
    if short:
        text += f" Answer {SHORT_ANSWER_CUE}."
    return text


__all__ = [
    "HARDEST_WORDS",
    "HARD_WORDS",
    "LINE_CAPABILITY",
    "SHORT_ANSWER_CUE",
    "WEAK_MARKER",
    "can_answer",
    "is_short_answer",
    "make_prompt",
    "prompt_difficulty",
    "prompt_text",
    "text_difficulty",
]
