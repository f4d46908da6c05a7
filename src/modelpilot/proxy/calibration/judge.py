"""The pairwise judge: is the candidate's answer as good as the requested model's?

:class:`AnthropicJudge` asks a model through the same upstream, with the caller's own key: a fixed
rubric (system prompt; replaceable), the request and the two answers in one user turn, and a
structured verdict through ``output_config.format`` (json_schema, :data:`VERDICT_SCHEMA`). It is
called twice with the answers' positions swapped, which cancels a judge's preference for one
position: each call scores the candidate +1 (better), 0 (tie) or -1 (worse), and the candidate is
acceptable when the sum is not negative (on balance it was not judged worse).

The user turn has this shape (the simulator recognises it, :mod:`modelpilot.sim.judging`)::

    <request>{"system": ..., "messages": [...], "tools": [...]}</request>
    <answer_a>...</answer_a>
    <answer_b>...</answer_b>

Images and documents are replaced by a placeholder (the judge compares answers, it does not need
the pixels). Teams with their own evaluator replace the judge with a :class:`CallableEvaluator`
(``module:function``) or a :class:`UrlEvaluator` (loopback only); see docs/calibration.md for the
exact shapes.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

import aiohttp
import orjson

from modelpilot.proxy.calibration.calls import CheckFailedError, post_message
from modelpilot.proxy.calibration.verdict import Verdict
from modelpilot.proxy.settings import is_loopback_host
from modelpilot.proxy.upstream import UpstreamClient
from modelpilot.schema.catalog import Catalog
from modelpilot.schema.pricing import cost_micros
from modelpilot.schema.usage import Usage

RawJSON = Any

DEFAULT_RUBRIC = (
    "You compare two answers to the same request. Judge only whether each answer does what the "
    "request asks: correctness first, then completeness, then following the request's "
    "instructions and format. Length and style matter only where the request asks for them. "
    "Answer with the letter of the better answer, or tie when neither is better."
)
VERDICT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"better": {"type": "string", "enum": ["A", "B", "tie"]}},
    "required": ["better"],
    "additionalProperties": False,
}
JUDGE_MAX_TOKENS = 64
# Tokens a request may hold beyond its bytes (the API's hidden tool and format prompts).
HIDDEN_PROMPT_TOKENS = 1024
_PLACEHOLDERS = {"image": "[image]", "document": "[document]"}


@dataclass(frozen=True, slots=True)
class EvaluationCase:
    """What an evaluator gets: the request as the caller sent it, both answers (Messages
    ``Message`` objects), the two model ids, and (for the Anthropic judge) the caller's headers."""

    request: dict[str, Any]
    reference: dict[str, Any]
    candidate: dict[str, Any]
    requested_model: str
    candidate_model: str
    headers: list[tuple[str, str]]

    def to_json(self) -> dict[str, Any]:
        """The JSON an external evaluator receives (never the headers: they hold the key)."""
        return {
            "request": self.request,
            "reference": self.reference,
            "candidate": self.candidate,
            "requested_model": self.requested_model,
            "candidate_model": self.candidate_model,
        }


class Budget(Protocol):
    """What a check may still spend: :meth:`cover` holds ``micros`` more (False when the cap does
    not allow it); :meth:`spend` records what was actually paid."""

    def cover(self, micros: int) -> bool: ...

    def spend(self, micros: int) -> None: ...


class Evaluator(Protocol):
    """Decides a case the exact comparison and the checks could not; raises CheckFailedError."""

    async def evaluate(self, case: EvaluationCase, budget: Budget) -> Verdict: ...


def worst_cost(catalog: Catalog, model_id: str, *, prompt_tokens: int, output_tokens: int) -> int | None:
    """The most a call can cost: every prompt token at the dearest input rate (a 1-hour cache
    write) and every output token; None when the model has no price."""
    spec = catalog.get(model_id)
    if spec is None or spec.pricing is None:
        return None
    return cost_micros(Usage(cache_write_1h_tokens=prompt_tokens, output_tokens=output_tokens), spec, catalog)


def _strip_media(value: RawJSON) -> RawJSON:
    if isinstance(value, list):
        return [_strip_media(v) for v in value]
    if isinstance(value, dict):
        kind = value.get("type")
        if isinstance(kind, str) and kind in _PLACEHOLDERS and "source" in value:
            return {"type": "text", "text": _PLACEHOLDERS[kind]}
        return {k: _strip_media(v) for k, v in value.items()}
    return value


def render_request(request: dict[str, Any]) -> str:
    """The parts of a request a judge reads, as JSON text (media replaced by placeholders)."""
    parts = {k: request[k] for k in ("system", "messages", "tools", "output_config") if k in request}
    return orjson.dumps(_strip_media(parts)).decode()


def render_answer(message: dict[str, Any]) -> str:
    """An answer's text and tool calls, in order (thinking left out)."""
    out: list[str] = []
    content = message.get("content")
    for block in content if isinstance(content, list) else ():
        if not isinstance(block, dict):
            continue
        if block.get("type") == "text" and isinstance(block.get("text"), str):
            out.append(block["text"])
        elif block.get("type") == "tool_use":
            call = orjson.dumps({"name": block.get("name"), "input": block.get("input")}).decode()
            out.append(f"[tool call] {call}")
    return "\n".join(out)


def judge_prompt(request: dict[str, Any], first: dict[str, Any], second: dict[str, Any]) -> str:
    """The user turn of one judge call (module doc)."""
    return (
        f"<request>{render_request(request)}</request>\n"
        f"<answer_a>{render_answer(first)}</answer_a>\n"
        f"<answer_b>{render_answer(second)}</answer_b>"
    )


class AnthropicJudge:
    """The default evaluator (module doc). ``model=None`` judges with the requested model."""

    def __init__(
        self,
        upstream: UpstreamClient,
        catalog: Catalog,
        *,
        model: str | None = None,
        rubric: str | None = None,
        max_tokens: int = JUDGE_MAX_TOKENS,
        timeout_s: float = 120.0,
    ) -> None:
        self._upstream = upstream
        self._catalog = catalog
        self.model = model
        self.rubric = rubric or DEFAULT_RUBRIC
        self.max_tokens = max_tokens
        self._timeout_s = timeout_s

    def model_for(self, requested_model: str) -> str:
        return self.model or requested_model

    def worst_cost(self, requested_model: str, *, prompt_bytes: int) -> int | None:
        """The most both judge calls can cost for a user turn of ``prompt_bytes`` bytes."""
        one = worst_cost(
            self._catalog,
            self.model_for(requested_model),
            prompt_tokens=prompt_bytes + len(self.rubric.encode()) + HIDDEN_PROMPT_TOKENS,
            output_tokens=self.max_tokens,
        )
        return None if one is None else 2 * one

    def _body(self, model: str, prompt: str) -> bytes:
        return orjson.dumps(
            {
                "model": model,
                "max_tokens": self.max_tokens,
                "system": self.rubric,
                "messages": [{"role": "user", "content": prompt}],
                "output_config": {"format": {"type": "json_schema", "schema": VERDICT_SCHEMA}},
            }
        )

    async def evaluate(self, case: EvaluationCase, budget: Budget) -> Verdict:
        model = self.model_for(case.requested_model)
        prompts = (
            judge_prompt(case.request, case.candidate, case.reference),  # candidate is A
            judge_prompt(case.request, case.reference, case.candidate),  # candidate is B
        )
        worst = self.worst_cost(case.requested_model, prompt_bytes=max(len(p.encode()) for p in prompts))
        if worst is None or not budget.cover(worst):
            raise CheckFailedError("judge_over_budget")
        results = await asyncio.gather(
            *(self._ask(model, prompt, case.headers) for prompt in prompts), return_exceptions=True
        )
        score = 0
        failure: CheckFailedError | None = None
        for letter_of_candidate, result in zip(("A", "B"), results, strict=True):
            if isinstance(result, CheckFailedError):
                if result.reason.endswith("_timeout"):
                    budget.spend(worst // 2)  # it may have run to its end upstream and be billed
                failure = result
                continue
            if isinstance(result, BaseException):
                raise result
            better, cost = result
            budget.spend(cost)
            if better is None:
                failure = CheckFailedError("judge_malformed")
            elif better != "tie":
                score += 1 if better == letter_of_candidate else -1
        if failure is not None:
            raise failure
        return Verdict(score >= 0, "judge", "judged_as_good" if score >= 0 else "judged_worse")

    async def _ask(self, model: str, prompt: str, headers: list[tuple[str, str]]) -> tuple[str | None, int]:
        answer = await post_message(
            self._upstream,
            headers,
            self._body(model, prompt),
            timeout_s=self._timeout_s,
            failure="judge_error",
        )
        spec = self._catalog.get(answer.served_model or model)
        cost = (
            cost_micros(answer.usage, spec, self._catalog)
            if answer.usage is not None and spec is not None and spec.pricing is not None
            else 0
        )
        return _better_of(answer.message), cost


def _better_of(message: dict[str, Any]) -> str | None:
    text = "".join(
        b["text"]
        for b in message.get("content") or ()
        if isinstance(b, dict) and b.get("type") == "text" and isinstance(b.get("text"), str)
    )
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    better = value.get("better") if isinstance(value, dict) else None
    return better if better in ("A", "B", "tie") else None


def _acceptable_of(value: RawJSON) -> bool:
    """An evaluator's answer: a bool, or ``{"acceptable": bool}``."""
    if isinstance(value, bool):
        return value
    if isinstance(value, dict) and isinstance(value.get("acceptable"), bool):
        return bool(value["acceptable"])
    raise CheckFailedError("evaluator_malformed")


class EvaluatorLoadError(ValueError):
    """``--judge-callable`` names nothing that can be imported and called."""


class CallableEvaluator:
    """A team's own evaluator as a Python callable: ``function(case: dict) -> bool | {"acceptable":
    bool}`` (or an awaitable of it), where ``case`` is :meth:`EvaluationCase.to_json`.
    A sync function runs in a worker thread, so it never blocks the event loop."""

    def __init__(self, function: Callable[[dict[str, Any]], Any], *, timeout_s: float = 120.0) -> None:
        self._function = function
        self._timeout_s = timeout_s

    @classmethod
    def load(cls, spec: str, *, timeout_s: float = 120.0) -> CallableEvaluator:
        """``module:function`` imported now (at startup); ValueError when it is not there."""
        module_name, _, name = spec.partition(":")
        if not module_name or not name:
            raise EvaluatorLoadError(f"an evaluator is given as module:function, got {spec!r}")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise EvaluatorLoadError(f"cannot import {module_name!r}: {exc}") from exc
        function = getattr(module, name, None)
        if not callable(function):
            raise EvaluatorLoadError(f"{spec!r} is not a callable")
        return cls(function, timeout_s=timeout_s)

    async def evaluate(self, case: EvaluationCase, budget: Budget) -> Verdict:
        payload = case.to_json()
        try:
            async with asyncio.timeout(self._timeout_s):
                if inspect.iscoroutinefunction(self._function):
                    value = await self._function(payload)
                else:
                    value = await asyncio.to_thread(self._function, payload)
                    if inspect.isawaitable(value):
                        value = await _awaited(value)
        except TimeoutError as exc:
            raise CheckFailedError("evaluator_timeout") from exc
        except CheckFailedError:
            raise
        except Exception as exc:
            # The team's code: any exception it raises is its failure, counted, never the caller's.
            raise CheckFailedError("evaluator_error") from exc
        acceptable = _acceptable_of(value)
        return Verdict(
            acceptable, "evaluator", "evaluator_acceptable" if acceptable else "evaluator_rejected"
        )


async def _awaited(value: Awaitable[Any]) -> Any:
    return await value


class UrlEvaluator:
    """A team's own evaluator as an HTTP endpoint on loopback: ``POST url`` with the JSON of
    :meth:`EvaluationCase.to_json`, answered by ``200 {"acceptable": true|false}``. Only a loopback
    URL is accepted, since the case holds the prompt and both answers."""

    def __init__(self, url: str, *, timeout_s: float = 120.0) -> None:
        check_evaluator_url(url)
        self.url = url
        self._timeout_s = timeout_s
        self._session: aiohttp.ClientSession | None = None
        self._keeper: AsyncGenerator[None, None] | None = None

    async def evaluate(self, case: EvaluationCase, budget: Budget) -> Verdict:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self._timeout_s))
            # As AiohttpUpstream's: a server run without an ASGI lifespan never calls aclose(),
            # so the session also closes when its loop finalises this (still live) generator.
            self._keeper = self._close_with_loop(self._session)
            await self._keeper.asend(None)
        try:
            async with self._session.post(
                self.url,
                data=orjson.dumps(case.to_json()),
                headers={"content-type": "application/json"},
                allow_redirects=False,
            ) as response:
                raw = await response.read()
                status = response.status
        except TimeoutError as exc:
            raise CheckFailedError("evaluator_timeout") from exc
        except aiohttp.ClientError as exc:
            raise CheckFailedError("evaluator_error") from exc
        if status != 200:
            raise CheckFailedError("evaluator_error")
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise CheckFailedError("evaluator_malformed") from exc
        acceptable = _acceptable_of(value)
        return Verdict(
            acceptable, "evaluator", "evaluator_acceptable" if acceptable else "evaluator_rejected"
        )

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def _close_with_loop(self, session: aiohttp.ClientSession) -> AsyncGenerator[None, None]:
        try:
            yield
        finally:
            if self._session is session:
                self._session = None
            await session.close()


def check_evaluator_url(url: str) -> None:
    """Refuse an evaluator URL that is not plain http(s) on loopback (ValueError)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not is_loopback_host((parts.hostname or "").lower()):
        raise ValueError(
            f"the evaluator URL must be http(s) on loopback (127.0.0.1, ::1, localhost), got {url!r}"
        )


__all__ = [
    "DEFAULT_RUBRIC",
    "VERDICT_SCHEMA",
    "AnthropicJudge",
    "Budget",
    "CallableEvaluator",
    "EvaluationCase",
    "Evaluator",
    "EvaluatorLoadError",
    "UrlEvaluator",
    "check_evaluator_url",
    "judge_prompt",
    "worst_cost",
]
