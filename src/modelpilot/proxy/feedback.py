"""``POST /modelpilot/feedback``: an application reports a bad answer by its request id.

The proxy keeps a bounded, in-memory map of recent Messages request ids (the upstream's
``request-id``) to what it knows about them: category, models, routed, decision id. A report
about a known id is counted once and handed to ``on_feedback``. With a spool, the app's
``on_feedback`` (:func:`spooling_feedback`) meters it as ``feedback_reports=1`` (``requests=0``)
in the request's hourly bucket, so it reaches the control plane's aggregates, where the routing
policy counts it as a failure; the report's free-form fields stay here and are never sent.

With a local learner, a report about a *routed* answer (served by the cheaper model and not
escalated) also teaches the learner "not acceptable" for that request (source "feedback"):
:class:`RecentExamples` keeps the learner's example of recent routed requests by request id,
bounded and in memory only.

Request: ``{"request_id": "req_…", ...}``. Answers: ``202 {"accepted": true, "duplicate": false}``,
``202`` with ``"duplicate": true`` for a second report, ``404 not_found_error`` for an id the proxy
does not remember, ``400 invalid_request_error`` for a body without a ``request_id`` string.
"""

from __future__ import annotations

import logging
import sqlite3
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import orjson

from modelpilot.proxy.accounting import Charge
from modelpilot.proxy.asgi import Receive, Send, send_response
from modelpilot.proxy.errors import (
    InvalidRequestError,
    NotFoundError,
    ProxyError,
    new_request_id,
    render_error,
)
from modelpilot.proxy.learning import Example, LocalLearner
from modelpilot.proxy.learning.example import compact
from modelpilot.proxy.recording import RequestRecord

log = logging.getLogger("modelpilot.proxy")

FEEDBACK_PATH = "/modelpilot/feedback"
_MAX_BODY_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class Feedback:
    """A reported bad answer, with what the proxy knew about its request. No content.
    ``bucket`` is the request's meter charge, when it was metered: the report is counted in the
    same hourly bucket (see :func:`feedback_charge`)."""

    request_id: str
    category: str
    requested_model: str | None
    served_model: str | None
    routed: bool
    escalated: bool
    bucket: Charge | None = None


def log_feedback(feedback: Feedback) -> None:
    """The default ``on_feedback``: one info line."""
    log.info(
        "feedback: bad answer reported for %s (served by %s)", feedback.request_id, feedback.served_model
    )


def feedback_charge(feedback: Feedback) -> Charge | None:
    """The meter charge of a report: ``feedback_reports=1`` and nothing else (``requests=0``, no
    tokens, no money) in the reported request's bucket; None when that request was not metered."""
    bucket = feedback.bucket
    if bucket is None:
        return None
    return Charge(
        hour=bucket.hour,
        category=bucket.category,
        requested_model=bucket.requested_model,
        served_model=bucket.served_model,
        routed=bucket.routed,
        escalated=bucket.escalated,
        input_tokens=0,
        output_tokens=0,
        cache_write_tokens=0,
        cache_read_tokens=0,
        actual_micros=0,
        baseline_micros=0,
        requests=0,
        feedback_reports=1,
    )


def spooling_feedback(
    add: Callable[[Charge], bool], then: Callable[[Feedback], None] = log_feedback
) -> Callable[[Feedback], None]:
    """An ``on_feedback`` that meters the report (``add``: the spool's, False when refused at its
    bound) and then calls ``then``."""

    def on_feedback(feedback: Feedback) -> None:
        charge = feedback_charge(feedback)
        try:
            if charge is not None and not add(charge):
                log.warning("feedback for %s was not metered: the spool is full", feedback.request_id)
        except sqlite3.Error:
            # The report is still accepted and counted here; only its metering is lost.
            log.exception("could not write feedback for %s to the meter spool", feedback.request_id)
        then(feedback)

    return on_feedback


@dataclass(frozen=True, slots=True)
class _Routed:
    example: Example
    requested_model: str
    routed_model: str


class RecentExamples:
    """The learner's examples of recent routed requests, by request id (bounded: an example
    holds a few hundred word hashes, so only routed requests, the ones feedback can teach about,
    are kept, and only the most recent ``max_entries``). Examples never leave this process.

    >>> recent = RecentExamples(LocalLearner(), max_entries=2)
    >>> recent.learn_bad_answer("req_unknown")
    False
    """

    def __init__(self, learner: LocalLearner, *, max_entries: int = 1_000) -> None:
        self.learner = learner
        self._max_entries = max_entries
        self._entries: OrderedDict[str, _Routed] = OrderedDict()

    def remember(
        self,
        request_id: str | None,
        example: Example | None,
        *,
        requested_model: str,
        routed_model: str | None,
    ) -> None:
        """Keep the example of a routed request (others are ignored)."""
        if request_id is None or example is None or routed_model is None:
            return
        self._entries[request_id] = _Routed(compact(example), requested_model, routed_model)
        self._entries.move_to_end(request_id)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    def learn_bad_answer(self, request_id: str) -> bool:
        """Teach the learner that the routed answer of ``request_id`` was not acceptable; False
        when the request is not a recent routed one."""
        routed = self._entries.pop(request_id, None)
        if routed is None:
            return False
        self.learner.record(
            routed.example,
            requested_model=routed.requested_model,
            candidate_model=routed.routed_model,
            acceptable=False,
            source="feedback",
        )
        return True

    def __len__(self) -> int:
        return len(self._entries)


class FeedbackBook:
    """Recent request ids and the reports about them (bounded; the oldest ids are forgotten).
    With ``examples``, a report about a routed, unescalated answer also teaches the learner."""

    def __init__(
        self,
        *,
        max_entries: int = 20_000,
        on_feedback: Callable[[Feedback], None] = log_feedback,
        examples: RecentExamples | None = None,
    ) -> None:
        self._max_entries = max_entries
        self._on_feedback = on_feedback
        self.examples = examples
        self._recent: OrderedDict[str, Feedback] = OrderedDict()
        self._reported: set[str] = set()
        self.reports = 0

    def remember(self, record: RequestRecord, charge: Charge | None = None) -> None:
        """Keep a completed Messages request (and its meter charge) so that it can be reported."""
        if record.request_id is None or record.path != "/v1/messages" or record.method != "POST":
            return
        self._recent[record.request_id] = Feedback(
            request_id=record.request_id,
            category=record.category,
            requested_model=record.requested_model,
            served_model=record.served_model,
            routed=record.routed,
            escalated=record.escalated,
            bucket=charge,
        )
        while len(self._recent) > self._max_entries:
            forgotten, _ = self._recent.popitem(last=False)
            self._reported.discard(forgotten)

    def report(self, request_id: str) -> bool:
        """Count a report; True when it is the first about ``request_id``. NotFoundError if unknown."""
        feedback = self._recent.get(request_id)
        if feedback is None:
            raise NotFoundError(f"no recent request with id {request_id!r} went through this proxy")
        if request_id in self._reported:
            return False
        self._reported.add(request_id)
        self.reports += 1
        self._on_feedback(feedback)
        if self.examples is not None and feedback.routed and not feedback.escalated:
            self.examples.learn_bad_answer(request_id)
        return True

    async def handle(self, method: str, receive: Receive, send: Send) -> None:
        """Serve one ``/modelpilot/feedback`` request."""
        try:
            if method != "POST":
                raise NotFoundError(f"{method} {FEEDBACK_PATH} is not served; use POST")
            body = await _read_body(receive)
            try:
                document = orjson.loads(body)
            except orjson.JSONDecodeError as exc:
                raise InvalidRequestError("the feedback body is not JSON") from exc
            request_id = document.get("request_id") if isinstance(document, dict) else None
            if not isinstance(request_id, str) or not request_id:
                raise InvalidRequestError('expected {"request_id": "<request-id of the answer>"}')
            is_first = self.report(request_id)
        except ProxyError as exc:
            await send_response(send, *render_error(exc, new_request_id()))
            return
        answer = orjson.dumps({"accepted": True, "duplicate": not is_first})
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(answer)).encode())]
        await send_response(send, 202, headers, answer)


async def _read_body(receive: Receive) -> bytes:
    parts: list[bytes] = []
    size = 0
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > _MAX_BODY_BYTES:
            raise InvalidRequestError("the feedback body is too large")
        parts.append(chunk)
        more = message.get("more_body", False)
    return b"".join(parts)


__all__ = [
    "FEEDBACK_PATH",
    "Feedback",
    "FeedbackBook",
    "RecentExamples",
    "feedback_charge",
    "log_feedback",
    "spooling_feedback",
]
