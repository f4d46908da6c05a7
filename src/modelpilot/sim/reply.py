"""Compose the assistant's answer to a Messages request, deterministically.

A hash of the canonical request JSON (minus ``stream``) seeds the PRNG, so the streaming and
non-streaming answers to one request are identical. Whether the model takes part in that hash is
the prompt's latent difficulty (:mod:`modelpilot.sim.difficulty`): every model that answers the
prompt well gives the same strong answer, and a model it is too hard for gives a worse one of its
own. Misbehaviour draws (:mod:`modelpilot.sim.profiles`) always hash the model too.
A judge request (:mod:`modelpilot.sim.judging`) gets the judge's structured verdict. Each block keeps the deltas it is streamed as, so the SSE stream and the JSON
``Message`` are two renderings of the same :class:`Reply`.
"""

from __future__ import annotations

import base64
import hashlib
import random
from dataclasses import dataclass
from typing import Any

import orjson

from modelpilot.sim.difficulty import WEAK_MARKER, can_answer, is_short_answer, prompt_difficulty
from modelpilot.sim.generate import WORDS, is_violable, value_for_schema, violate_schema, words
from modelpilot.sim.ids import seeded_id
from modelpilot.sim.judging import judge_verdict
from modelpilot.sim.profiles import Behaviour, choose_behaviour

RawJSON = Any

REFUSAL_TEXT = "I can't help with that request."
TOOL_CALL_OVERHEAD_TOKENS = 10


@dataclass(frozen=True, slots=True)
class Block:
    """One output content block: how it starts and is streamed, and its final shape."""

    start: dict[str, Any]
    deltas: tuple[dict[str, Any], ...]
    final: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Reply:
    """The answer, independent of how it is sent."""

    blocks: tuple[Block, ...]
    stop_reason: str
    stop_sequence: str | None
    stop_details: dict[str, Any] | None
    output_tokens: int
    behaviour: Behaviour

    @property
    def content(self) -> list[dict[str, Any]]:
        return [block.final for block in self.blocks]


def request_seed(body: dict[str, Any]) -> bytes:
    """The digest every deterministic choice about this request is drawn from."""
    canonical = {k: v for k, v in body.items() if k != "stream"}
    return hashlib.blake2b(orjson.dumps(canonical, option=orjson.OPT_SORT_KEYS), digest_size=32).digest()


def content_seed(body: dict[str, Any]) -> bytes:
    """The digest of the strong answer: the request without its model (nor ``stream``)."""
    return request_seed({k: v for k, v in body.items() if k != "model"})


def _short_answer(body: dict[str, Any], rng: random.Random, *, is_strong: bool) -> str:
    """A one-word answer; a weak model's word always differs from the strong one."""
    strong = random.Random(content_seed(body)).choice(WORDS)
    word = strong if is_strong else rng.choice(WORDS)
    if word == strong and not is_strong:
        word = WORDS[(WORDS.index(strong) + 1) % len(WORDS)]
    return word.capitalize() + "."


def _text_block(pieces: list[str], rng: random.Random) -> Block:
    deltas: list[dict[str, Any]] = []
    i = 0
    while i < len(pieces):
        step = rng.randint(1, 3)
        deltas.append({"type": "text_delta", "text": "".join(pieces[i : i + step])})
        i += step
    return Block({"type": "text", "text": ""}, tuple(deltas), {"type": "text", "text": "".join(pieces)})


def _thinking_block(pieces: list[str], signature: str, rng: random.Random) -> Block:
    deltas = [{"type": "thinking_delta", "thinking": d["text"]} for d in _text_block(pieces, rng).deltas]
    deltas.append({"type": "signature_delta", "signature": signature})
    final = {"type": "thinking", "thinking": "".join(pieces), "signature": signature}
    return Block({"type": "thinking", "thinking": "", "signature": ""}, tuple(deltas), final)


def _tool_block(tool_id: str, name: str, value: RawJSON, rng: random.Random) -> Block:
    text = orjson.dumps(value).decode()
    fragments = [""]
    i = 0
    while i < len(text):
        step = rng.randint(6, 24)
        fragments.append(text[i : i + step])
        i += step
    deltas = tuple({"type": "input_json_delta", "partial_json": f} for f in fragments)
    start = {"type": "tool_use", "id": tool_id, "name": name, "input": {}}
    return Block(start, deltas, {"type": "tool_use", "id": tool_id, "name": name, "input": value})


def _json_pieces(text: str, rng: random.Random) -> list[str]:
    pieces = []
    i = 0
    while i < len(text):
        step = rng.randint(3, 10)
        pieces.append(text[i : i + step])
        i += step
    return pieces


def _take(pieces: list[str], costs: list[int], budget: int) -> tuple[list[str], int, bool]:
    """The pieces that fit in ``budget`` tokens, the tokens they use, and whether any were cut."""
    used = 0
    for i, cost in enumerate(costs):
        if used + cost > budget:
            return pieces[:i], used, True
        used += cost
    return pieces, used, False


def _custom_tools(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        t for t in body.get("tools") or () if isinstance(t, dict) and isinstance(t.get("input_schema"), dict)
    ]


def _answers_tool_result(body: dict[str, Any]) -> bool:
    last = body["messages"][-1]
    content = last.get("content")
    return isinstance(content, list) and any(
        isinstance(b, dict) and b.get("type") == "tool_result" for b in content
    )


def _pick_tool(body: dict[str, Any], rng: random.Random) -> tuple[dict[str, Any] | None, bool]:
    """The tool the answer calls (if any), and whether tool_choice forced it."""
    tools = _custom_tools(body)
    choice = body.get("tool_choice") or {"type": "auto"}
    kind = choice.get("type", "auto")
    if not tools or kind == "none":
        return None, False
    if kind == "tool":
        named = [t for t in tools if t.get("name") == choice.get("name")]
        return (named[0] if named else None), True
    if kind == "any":
        return rng.choice(tools), True
    tool = rng.choice(tools)
    return (tool if not _answers_tool_result(body) and rng.random() < 0.75 else None), False


def _json_schema(body: dict[str, Any]) -> RawJSON | None:
    config = body.get("output_config")
    fmt = config.get("format") if isinstance(config, dict) else None
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema" and isinstance(fmt.get("schema"), dict):
        return fmt["schema"]
    return None


def _apply_stop_sequences(blocks: list[Block], body: dict[str, Any], rng: random.Random) -> str | None:
    sequences = [s for s in body.get("stop_sequences") or () if isinstance(s, str) and s]
    if not sequences:
        return None
    for index, block in enumerate(blocks):
        if block.final["type"] != "text":
            continue
        text = block.final["text"]
        hits = [(text.find(s), s) for s in sequences if s in text]
        if hits:
            at, sequence = min(hits)
            pieces = _json_pieces(text[:at], rng) if at else []
            del blocks[index:]
            if pieces:
                blocks.append(_text_block(pieces, rng))
            return sequence
    return None


class _Draft:
    """The answer while it is being written: blocks so far, tokens left, why it stopped."""

    def __init__(self, max_tokens: int, rng: random.Random) -> None:
        self.rng = rng
        self.blocks: list[Block] = []
        self.budget = max_tokens
        self.stop_reason = "end_turn"

    @property
    def is_open(self) -> bool:
        return self.stop_reason == "end_turn"

    def add_pieces(self, pieces: list[str], costs: list[int], *, room: int | None = None) -> None:
        """Add a text block of as many pieces as fit; running out of max_tokens stops the answer."""
        room = self.budget if room is None else room
        kept, used, cut = _take(pieces, costs, room)
        if kept:
            self.blocks.append(_text_block(kept, self.rng))
        if cut and room == self.budget:
            self.stop_reason = "max_tokens"
        self.budget -= used

    def add_thinking(self, thinking: dict[str, Any]) -> None:
        room = min(self.budget, int(thinking.get("budget_tokens", self.budget)))
        pieces = words(self.rng, self.rng.randint(12, 40))
        kept, used, cut = _take(pieces, [1] * len(pieces), room)
        if thinking.get("display") == "omitted":
            kept = []
        signature = base64.b64encode(self.rng.randbytes(48)).decode()
        self.blocks.append(_thinking_block(kept, signature, self.rng))
        if cut and room == self.budget:
            self.stop_reason = "max_tokens"
        self.budget -= used

    def add_tool_call(self, tool: dict[str, Any], *, preamble: bool, is_bad: bool) -> None:
        if preamble:
            self.add_pieces([f"I'll use the {tool['name']} tool."], [6])
        value = value_for_schema(self.rng, tool["input_schema"])
        if is_bad:
            value = violate_schema(self.rng, value, tool["input_schema"])
        cost = TOOL_CALL_OVERHEAD_TOKENS + (len(orjson.dumps(value)) + 3) // 4
        if self.is_open and cost <= self.budget:
            self.blocks.append(
                _tool_block(seeded_id("toolu_01", self.rng), str(tool["name"]), value, self.rng)
            )
            self.budget -= cost
            self.stop_reason = "tool_use"
        else:
            self.stop_reason = "max_tokens"

    def add_structured(self, schema: RawJSON, fate: random.Random, *, is_bad: bool) -> None:
        value = value_for_schema(self.rng, schema)
        text = orjson.dumps(value).decode()
        if is_bad and fate.random() < 0.5 and is_violable(schema):
            text = orjson.dumps(violate_schema(self.rng, value, schema)).decode()
        elif is_bad:
            text = text[:-1] if text[-1:] in ("}", "]", '"') else text + "}"  # malformed JSON
        pieces = _json_pieces(text, self.rng)
        self.add_pieces(pieces, [(len(p) + 3) // 4 for p in pieces])


def _decide(
    body: dict[str, Any],
    rng: random.Random,
    fate: random.Random,
    failure_rate: float,
    forced: Behaviour | None,
) -> tuple[Behaviour, dict[str, Any] | None, bool, RawJSON | None]:
    """The behaviour, the tool called (if any), whether tool_choice forced it, and the output schema."""
    tool, forced_tool = _pick_tool(body, rng)
    tools = _custom_tools(body)
    choice = (body.get("tool_choice") or {}).get("type")
    if forced == "bad_tool_input" and tool is None and tools and choice != "none":
        tool = rng.choice(tools)
    schema = _json_schema(body) if tool is None else None
    applicable: list[Behaviour] = ["refusal", "empty"]
    if tool is not None and is_violable(tool["input_schema"]):
        applicable.append("bad_tool_input")
    if schema is not None:
        applicable.append("bad_json")
    if forced is not None:
        return (forced if forced in applicable else "normal"), tool, forced_tool, schema
    behaviour = choose_behaviour(
        failure_rate=failure_rate, draw=fate.random(), kind_draw=fate.random(), applicable=applicable
    )
    return behaviour, tool, forced_tool, schema


def compose_reply(
    body: dict[str, Any], *, failure_rate: float, forced: Behaviour | None = None, line: str | None = None
) -> Reply:
    """The deterministic answer to a validated Messages request body, from a model of ``line``
    (None: no latent difficulty, every model answers in its own way)."""
    seed = request_seed(body)
    is_strong = line is None or can_answer(line, prompt_difficulty(body))
    rng = random.Random(seed if line is None or not is_strong else content_seed(body))
    fate = random.Random(seed[::-1])  # misbehaviour draws, apart from the content's own
    max_tokens = int(body["max_tokens"])
    if max_tokens == 0:
        return Reply((), "max_tokens", None, None, 0, "normal")
    behaviour, tool, forced_tool, schema = _decide(body, rng, fate, failure_rate, forced)
    if behaviour == "refusal":
        details = {"type": "refusal", "category": "general_harms"}
        tokens = min(8, max_tokens)
        return Reply((_text_block([REFUSAL_TEXT], rng),), "refusal", None, details, tokens, behaviour)
    if behaviour == "empty":
        nothing = () if fate.random() < 0.5 else (_text_block([], rng),)
        return Reply(nothing, "end_turn", None, None, 1, behaviour)

    draft = _Draft(max_tokens, rng)
    thinking = body.get("thinking") or {}
    if thinking.get("type") in ("enabled", "adaptive"):
        draft.add_thinking(thinking)
    if draft.is_open and tool is not None:
        draft.add_tool_call(tool, preamble=not forced_tool, is_bad=behaviour == "bad_tool_input")
    elif draft.is_open and schema is not None:
        verdict = judge_verdict(body) if behaviour == "normal" else None
        if verdict is not None:
            pieces = _json_pieces(orjson.dumps({"better": verdict}).decode(), rng)
            draft.add_pieces(pieces, [(len(p) + 3) // 4 for p in pieces])
        else:
            draft.add_structured(schema, fate, is_bad=behaviour == "bad_json")
    elif draft.is_open and line is not None and is_short_answer(body):
        draft.add_pieces([_short_answer(body, rng, is_strong=is_strong)], [1])
    elif draft.is_open:
        pieces = words(rng, rng.randint(10, 60))
        if not is_strong:
            pieces = [WEAK_MARKER, " ", *pieces]
        draft.add_pieces(pieces, [1] * len(pieces))
    stop_sequence = _apply_stop_sequences(draft.blocks, body, rng)
    stop_reason = "stop_sequence" if stop_sequence is not None else draft.stop_reason
    output_tokens = max(1, max_tokens - draft.budget)
    return Reply(tuple(draft.blocks), stop_reason, stop_sequence, None, output_tokens, behaviour)
