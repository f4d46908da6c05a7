"""``LocalLearner``: the deployment's own model of P(the cheaper candidate is acceptable).

Keyed by requested model (one :class:`~modelpilot.proxy.learning.head.Head` each, at most
:data:`MAX_HEADS`, least recently trained dropped first). The hot path only reads:
:meth:`LocalLearner.example_of` and :meth:`LocalLearner.predict` take no lock, await nothing and
touch no disk. :meth:`LocalLearner.record` only appends to a bounded queue; the queue is applied
by :meth:`LocalLearner.drain`, which the running event loop calls soon after (``call_soon``), so
training happens between requests, never inside one; the file is rewritten at most every
``save_interval_s`` in a worker thread, and on :meth:`LocalLearner.aclose`.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelpilot.proxy.features.artifact import RouterModel
from modelpilot.proxy.features.extract import Analysis, analyse_request
from modelpilot.proxy.features.inputs import NUMERIC_NAMES
from modelpilot.proxy.learning.example import Example, compact, example_from
from modelpilot.proxy.learning.head import Head, Hyper, Labelled
from modelpilot.proxy.learning.store import LearnerFileError, decode_heads, encode_heads, write_atomically

log = logging.getLogger("modelpilot.proxy")

#: How much one example of each source counts in the loss. A paired-check verdict is the real
#: label; escalations and feedback only ever say "not acceptable" and only about routed answers
#: (a one-sided sample), so they count half, lest they drag every request's estimate down.
SOURCE_WEIGHTS: dict[str, float] = {"verdict": 1.0, "escalation": 0.5, "feedback": 0.5}
#: Requested models with weights of their own (the caller names the model: bound the memory).
MAX_HEADS = 16
#: Updates waiting to be applied; beyond it the oldest wait is dropped (training is best-effort).
MAX_PENDING = 4096
_MAX_MODEL_CHARS = 128
_MAX_VERDICTS = 1_000_000
_NUMERIC_SIZE = len(NUMERIC_NAMES)
_RETRY_S = 0.05
# Outcomes applied per turn of the event loop (each costs about 1-2 ms: 5 gradient steps).
_DRAIN_BATCH = 4


@dataclass(frozen=True, slots=True)
class LearnedScore:
    """The learner's P(acceptable) for one request; ``acceptable`` is None while fewer than
    ``Hyper.min_verdicts`` verdicts were learned for the requested model."""

    acceptable: float | None
    verdicts: int


@dataclass(frozen=True, slots=True)
class _Update:
    requested_model: str
    item: Labelled
    is_verdict: bool


class LocalLearner:
    """The per-deployment online learner. ``path``: its file in the state directory (None: in
    memory only). ``model``: the local router weights (default: the shipped ones).

    >>> learner = LocalLearner()
    >>> example = learner.example_of({"model": "claude-opus-4-6", "max_tokens": 9,
    ...     "messages": [{"role": "user", "content": "What is 2 + 2?"}]})
    >>> learner.predict(example, "claude-opus-4-6")
    LearnedScore(acceptable=None, verdicts=0)
    """

    def __init__(
        self,
        path: Path | None = None,
        *,
        hyper: Hyper | None = None,
        model: RouterModel | None = None,
        seed: int = 0,
        save_interval_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = path
        self.hyper = hyper or Hyper()
        self._model = model
        self._rng = random.Random(seed)
        self._heads: OrderedDict[str, Head] = OrderedDict()
        self._pending: deque[_Update] = deque(maxlen=MAX_PENDING)
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._is_scheduled = False
        self._is_dirty = False
        self._save_interval_s = save_interval_s
        self._clock = clock
        self._saved_at = clock()
        self._saving: asyncio.Future[None] | None = None
        if path is not None:
            self._load(path)

    # -- the hot path ---------------------------------------------------------------------------
    def analyse(self, document: dict[str, Any]) -> tuple[Analysis, Example]:
        """The request's features and its example from one walk of ``document``."""
        analysis = analyse_request(document, model=self._model)
        return analysis, example_from(analysis)

    def example_of(self, document: dict[str, Any]) -> Example:
        """The :class:`Example` of a Messages request body (cheap: one feature walk)."""
        return self.analyse(document)[1]

    def predict(self, example: Example, requested_model: str) -> LearnedScore:
        """P(the cheaper candidate is acceptable) for ``example``; no lock, no await, no disk."""
        head = self._heads.get(requested_model)
        if head is None:
            return LearnedScore(None, 0)
        verdicts = min(head.verdicts, _MAX_VERDICTS)
        if verdicts < self.hyper.min_verdicts:
            return LearnedScore(None, verdicts)
        return LearnedScore(head.probability(example), verdicts)

    # -- training -------------------------------------------------------------------------------
    def record(
        self,
        example: Example,
        *,
        requested_model: str,
        candidate_model: str,
        acceptable: bool,
        source: str,
    ) -> None:
        """Queue one outcome: was ``candidate_model``'s answer acceptable where
        ``requested_model``'s was? ``source``: "verdict", "escalation" or "feedback". Never blocks
        the caller and never raises (training is best-effort: a bad call is logged and dropped).

        Weights are kept per requested model: its score is about the deployment's cheapest
        candidate (the one paired checks compare, ``RouteDecision.candidate_model``), and the
        control plane carries it over to other lines. An escalation from another candidate is
        learned all the same: it says the request is hard for a cheaper model.
        """
        try:
            weight = SOURCE_WEIGHTS.get(source)
            if weight is None:
                log.warning("learner: ignoring an outcome of unknown source %r", source)
                return
            if not isinstance(requested_model, str) or not 0 < len(requested_model) <= _MAX_MODEL_CHARS:
                return
            if not isinstance(example, Example) or len(example.numbers) != _NUMERIC_SIZE + 1:
                return
            item = Labelled(compact(example), bool(acceptable), weight)
            self._pending.append(_Update(requested_model, item, source == "verdict"))
            self._schedule()
        except Exception:
            # The contract is "never raises": whatever went wrong, the caller's request goes on.
            log.exception("learner: could not queue an outcome")

    def _schedule(self) -> None:
        if self._is_scheduled:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is not None:
            self._loop = loop
            self._is_scheduled = True
            loop.call_soon(self._drain_in_loop)
        elif self._loop is not None and not self._loop.is_closed():
            # Called from another thread (e.g. a judge's worker): hand the drain to the loop.
            self._is_scheduled = True
            self._loop.call_soon_threadsafe(self._drain_in_loop)
        # Otherwise (no loop at all: tools, the benchmark) the owner calls drain() itself.

    def _drain_in_loop(self) -> None:
        # Cleared first: an outcome queued during the drain is either applied by it or schedules
        # the next one.
        self._is_scheduled = False
        loop = asyncio.get_running_loop()
        if self.drain(blocking=False, limit=_DRAIN_BATCH) < 0:
            # A worker thread is writing the file: try again shortly rather than wait in the loop.
            self._is_scheduled = True
            loop.call_later(_RETRY_S, self._drain_in_loop)
            return
        if self._pending and not self._is_scheduled:
            # A burst: a few outcomes per turn of the loop, so requests are served in between.
            self._is_scheduled = True
            loop.call_soon(self._drain_in_loop)
        if (
            self.path is not None
            and self._is_dirty
            and self._saving is None
            and self._clock() - self._saved_at >= self._save_interval_s
        ):
            self._saving = loop.run_in_executor(None, self.save)
            self._saving.add_done_callback(self._saved)

    def _saved(self, future: asyncio.Future[None]) -> None:
        self._saving = None
        if not future.cancelled() and future.exception() is not None:
            log.warning("learner: could not write %s: %s", self.path, future.exception())

    def drain(self, *, blocking: bool = True, limit: int | None = None) -> int:
        """Apply the queued outcomes now (at most ``limit``); returns how many were applied (-1
        when not ``blocking`` and the file is being written)."""
        applied = 0
        if not self._lock.acquire(blocking=blocking):
            return -1
        try:
            while self._pending and (limit is None or applied < limit):
                update = self._pending.popleft()
                head = self._head(update.requested_model)
                head.learn(update.item, self.hyper, self._rng)
                if update.is_verdict:
                    head.verdicts += 1
                applied += 1
            if applied:
                self._is_dirty = True
        finally:
            self._lock.release()
        return applied

    def _head(self, requested_model: str) -> Head:
        head = self._heads.get(requested_model)
        if head is None:
            head = Head.start(_NUMERIC_SIZE, self.hyper)
            self._heads[requested_model] = head
            while len(self._heads) > MAX_HEADS:
                self._heads.popitem(last=False)
        else:
            self._heads.move_to_end(requested_model)
        return head

    @property
    def pending(self) -> int:
        return len(self._pending)

    def verdicts(self, requested_model: str) -> int:
        """Paired-check verdicts learned for ``requested_model``."""
        head = self._heads.get(requested_model)
        return head.verdicts if head is not None else 0

    def outcomes(self, requested_model: str) -> int:
        """Outcomes of every source learned for ``requested_model``."""
        head = self._heads.get(requested_model)
        return head.examples if head is not None else 0

    # -- persistence ----------------------------------------------------------------------------
    def _load(self, path: Path) -> None:
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return
        except OSError as exc:
            log.warning("learner: cannot read %s (%s); starting from the shipped prior", path, exc)
            return
        try:
            heads = decode_heads(data, numeric_size=_NUMERIC_SIZE, ring_size=self.hyper.ring_size)
        except LearnerFileError as exc:
            log.warning("learner: %s is not usable (%s); starting from the shipped prior", path, exc)
            return
        self._heads = OrderedDict(list(heads.items())[-MAX_HEADS:])

    def save(self) -> None:
        """Write the file now (atomically). Raises OSError when it cannot be written."""
        if self.path is None:
            return
        with self._lock:
            data = encode_heads(dict(self._heads), numeric_size=_NUMERIC_SIZE)
            self._is_dirty = False
            self._saved_at = self._clock()
        write_atomically(self.path, data)

    async def aclose(self) -> None:
        """Apply what is queued and write the file (at shutdown)."""
        self.drain()
        if self._saving is not None:
            await self._saving
        if self.path is not None and self._is_dirty:
            try:
                await asyncio.to_thread(self.save)
            except OSError as exc:
                log.warning("learner: could not write %s: %s", self.path, exc)
