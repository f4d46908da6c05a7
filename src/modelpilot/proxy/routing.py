"""Applying decisions to requests: which model a Messages request goes to, and its new body.

:class:`Router` turns one request into a :class:`RoutePlan`: the local features, the decision
(from a conversation's first decision, the cache or the control plane), and, when routed, the
body with only its top-level ``model`` value replaced (:func:`rewrite_model`, a byte splice: the
rest of the caller's bytes are sent as they came).

Conversation stickiness: a conversation stays on its first decision, since switching models
mid-conversation forfeits the prompt cache and changes the voice. The conversation is recognised
by a keyed hash of its requested model, system prompt and first user turn; the key is random per
process and the hashes live only in this process's memory: they are never sent or stored.

Local learning: with a :class:`~modelpilot.proxy.learning.LocalLearner`, each plan carries the
request's learner :attr:`RoutePlan.example` (in memory only) and the route request carries the
learner's score; an escalation of a routed answer teaches the learner "not acceptable"
(:meth:`Router.stay_on_requested`), and later stages (paired checks, feedback) call
``router.learner.record(plan.example, ...)``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import orjson

from modelpilot.proxy.accounting import escalation_reason_of
from modelpilot.proxy.decisions import DecisionClient, route_request_and_example
from modelpilot.proxy.errors import ControlPlaneError
from modelpilot.proxy.feedback import RecentExamples
from modelpilot.proxy.learning import Example, LocalLearner
from modelpilot.proxy.pins import ConversationPins
from modelpilot.schema.wire import (
    MODEL_ID_PATTERN,
    Category,
    DecisionReason,
    EscalationReason,
    RouteDecision,
)

_MODEL_KEY = re.compile(rb'"model"\s*:\s*')
_MODEL_ID = re.compile(MODEL_ID_PATTERN)
# A JSON string token, or a bracket: enough to track nesting depth while skipping strings in C.
_TOKEN = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[{}\[\]]', re.DOTALL)
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_SPACE = b" \t\r\n"
# A key that may spell "model" with \u escapes (or a short key that merely looks like one): rare,
# and then only the exact scan can tell which "model" key is the top-level one.
_ESCAPED_KEY = re.compile(
    rb'"(?:[model]|\\u[0-9a-fA-F]{4}){0,4}\\u[0-9a-fA-F]{4}(?:[model]|\\u[0-9a-fA-F]{4}){0,4}"\s*:'
)


# -- the body rewrite -----------------------------------------------------------------------------
def _is_unescaped(body: bytes, quote_at: int) -> bool:
    backslashes = 0
    i = quote_at - 1
    while i >= 0 and body[i] == 0x5C:
        backslashes += 1
        i -= 1
    return backslashes % 2 == 0


def _top_level_model_value(body: bytes, model: str) -> tuple[int, int] | None:
    """The byte span of the top-level ``"model"`` string value, or None if it is not found."""
    candidates = [m for m in _MODEL_KEY.finditer(body) if _is_unescaped(body, m.start())]
    if len(candidates) == 1 and _ESCAPED_KEY.search(body) is None:
        # An unescaped "model" followed by ":" can only be a key. When it is the only key spelled
        # "model" at all, it is the top-level one the parser read.
        value = _STRING.match(body, candidates[0].end())
        if value is not None and orjson.loads(value.group()) == model:
            return value.start(), value.end()
    return _scan_for_model(body)


def _scan_for_model(body: bytes) -> tuple[int, int] | None:
    """Track nesting depth token by token (strings skipped by the regex engine)."""
    depth = 0
    found: tuple[int, int] | None = None
    for token in _TOKEN.finditer(body):
        first = body[token.start()]
        if first in b"{[":
            depth += 1
        elif first in b"}]":
            depth -= 1
        elif depth == 1:
            after = token.end()
            while after < len(body) and body[after] in _SPACE:
                after += 1
            if after < len(body) and body[after] == 0x3A and orjson.loads(token.group()) == "model":
                value = _STRING.match(body, after + 1 + _count_space(body, after + 1))
                # The last duplicate wins, as in the parser that read the document.
                found = (value.start(), value.end()) if value is not None else None
    return found


def _count_space(body: bytes, at: int) -> int:
    n = 0
    while at + n < len(body) and body[at + n] in _SPACE:
        n += 1
    return n


def rewrite_model(body: bytes, document: dict[str, Any], model: str) -> bytes:
    """``body`` with its top-level ``model`` value replaced by ``model``; every other byte as sent.

    ``document`` is ``body`` parsed. When the value cannot be located by its bytes (it never
    happens with a valid body; kept as a guard) the document is re-serialised instead.
    """
    current = document.get("model")
    span = _top_level_model_value(body, current) if isinstance(current, str) else None
    if span is None:
        return orjson.dumps({**document, "model": model})
    start, end = span
    return b"".join((body[:start], orjson.dumps(model), body[end:]))


# -- the response headers' reason codes: closed vocabularies, so each header is built once ----------
_DECISION_REASON_HEADERS: dict[str, tuple[bytes, bytes]] = {
    reason: (b"x-modelpilot-decision-reason", reason.value.encode()) for reason in DecisionReason
}
_ESCALATION_REASON_HEADERS: dict[str, tuple[bytes, bytes]] = {
    reason: (b"x-modelpilot-escalation-reason", reason.value.encode()) for reason in EscalationReason
}


# -- conversation stickiness: bounded in time and size, see proxy/pins.py -------------------------
StickyDecisions = ConversationPins


# -- the plan -------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class RoutePlan:
    """How one Messages request is sent. ``routed_body`` is set when it goes to ``routed_model``
    first (and, if the answer fails its checks, to ``requested_model`` with the original body)."""

    requested_model: str
    category: Category | None = None
    decision: RouteDecision | None = None
    fail_open_reason: str | None = None
    routed_model: str | None = None
    routed_body: bytes | None = None
    is_checked_stream: bool = False
    is_sticky: bool = False
    conversation: bytes | None = None
    #: The local learner's example of the request (content-derived: in memory only, never sent).
    example: Example | None = field(default=None, repr=False)

    @property
    def candidate_model(self) -> str | None:
        """The cheaper model a paired check compares with (from the decision), if any."""
        return self.decision.candidate_model if self.decision is not None else None

    @property
    def is_routed(self) -> bool:
        return self.routed_body is not None

    @property
    def shadow_model(self) -> str | None:
        """Shadow mode: the model routing would have chosen (None when routed or not shadowed)."""
        if self.is_routed or self.decision is None:
            return None
        return self.decision.shadow_model

    def headers(
        self, *, served_model: str, escalated: bool, escalation_reason: str | None = None
    ) -> list[tuple[bytes, bytes]]:
        """The ``x-modelpilot-*`` response headers for the caller. Reasons go out as codes of
        their closed vocabularies only (``escalation_reason``, a local check's failure kind such
        as ``status_529``, is folded into :class:`EscalationReason`), never as free text."""
        out = [
            (b"x-modelpilot-routed", b"true" if self.is_routed else b"false"),
            (b"x-modelpilot-escalated", b"true" if escalated else b"false"),
        ]
        if _MODEL_ID.fullmatch(served_model):
            # Only a catalog-shaped id: the requested model is the caller's text, and a header
            # value must never carry what a body may (line breaks).
            out.insert(0, (b"x-modelpilot-served-model", served_model.encode()))
        if self.decision is not None:
            out.append((b"x-modelpilot-decision-id", self.decision.decision_id.encode()))
            out.append(_DECISION_REASON_HEADERS[self.decision.reason])
        if escalated:
            out.append(_ESCALATION_REASON_HEADERS[escalation_reason_of(escalation_reason)])
        shadow = self.shadow_model
        if shadow is not None and _MODEL_ID.fullmatch(shadow):
            out.append((b"x-modelpilot-shadow-model", shadow.encode()))
        if self.fail_open_reason is not None:
            out.append((b"x-modelpilot-fail-open", self.fail_open_reason.encode()))
        return out


class Router:
    """Plans each Messages request from local features and the control plane's decisions.

    >>> router = Router(DecisionClient(transport, api_key=key))  # doctest: +SKIP
    >>> plan = await router.plan(document, body, is_encoded=False)  # doctest: +SKIP
    """

    def __init__(
        self,
        client: DecisionClient,
        *,
        checked_streaming: bool = False,
        learner: LocalLearner | None = None,
    ) -> None:
        self.client = client
        self.sticky = StickyDecisions()
        self.learner = learner
        #: The examples of recent routed requests, for feedback to teach the learner.
        self.recent = RecentExamples(learner) if learner is not None else None
        self._checked_streaming = checked_streaming

    def remember(self, request_id: str | None, plan: RoutePlan) -> None:
        """Keep a finished request's example by its request id (routed requests only), so that
        ``POST /modelpilot/feedback`` about it can teach the learner."""
        if self.recent is not None and plan.is_routed:
            self.recent.remember(
                request_id, plan.example, requested_model=plan.requested_model, routed_model=plan.routed_model
            )

    async def plan(self, document: dict[str, Any], body: bytes, *, is_encoded: bool) -> RoutePlan:
        """The plan for one request; never raises for a control-plane problem (fails open)."""
        model = document.get("model")
        requested = model if isinstance(model, str) else ""
        if is_encoded:
            # A body we would have to re-encode: not routed, and not worth extracting features of.
            return RoutePlan(requested_model=requested)
        built = route_request_and_example(document, self.learner)
        if built is None:
            # Nothing to decide on (no usable model id).
            return RoutePlan(requested_model=requested)
        route_request, example = built
        category = route_request.category
        conversation = self.sticky.key_of(document)
        decision = self.sticky.get(conversation) if conversation is not None else None
        is_sticky = decision is not None
        if decision is None:
            try:
                decision = await self.client.decide(route_request)
            except ControlPlaneError as exc:
                return RoutePlan(
                    requested_model=requested,
                    category=category,
                    fail_open_reason=exc.reason,
                    example=example,
                )
            if conversation is not None:
                self.sticky.put(conversation, decision)
        features = route_request.features
        plan = RoutePlan(
            requested_model=requested,
            category=category,
            decision=decision,
            is_sticky=is_sticky,
            conversation=conversation,
            example=example,
        )
        if not decision.routed or decision.model == requested:
            return plan
        checked = self._checked_streaming and features.streaming
        return RoutePlan(
            requested_model=requested,
            category=category,
            decision=decision,
            routed_model=decision.model,
            routed_body=rewrite_model(body, document, decision.model),
            is_checked_stream=checked and (features.has_tools or features.has_response_schema),
            is_sticky=is_sticky,
            conversation=conversation,
            example=example,
        )

    def stay_on_requested(self, plan: RoutePlan) -> None:
        """After an escalation, keep the rest of the conversation on the requested model, and
        teach the learner that the routed model's answer was not acceptable."""
        if self.learner is not None and plan.example is not None and plan.routed_model is not None:
            self.learner.record(
                plan.example,
                requested_model=plan.requested_model,
                candidate_model=plan.routed_model,
                acceptable=False,
                source="escalation",
            )
        if plan.conversation is not None and plan.decision is not None:
            self.sticky.put(
                plan.conversation,
                plan.decision.model_copy(update={"model": plan.requested_model, "routed": False}),
            )

    async def open(self) -> None:
        """Connect to the control plane ahead of the first request (ASGI lifespan startup)."""
        await self.client.warm()

    async def aclose(self) -> None:
        await self.client.aclose()
        if self.learner is not None:
            await self.learner.aclose()


__all__ = ["RoutePlan", "Router", "StickyDecisions", "rewrite_model"]
