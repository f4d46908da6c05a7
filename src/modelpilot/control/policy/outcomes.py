"""A deployment's own routing outcomes, from its metered aggregates, and their in-process cache.

Two kinds of evidence feed each candidate's Beta tally (category x requested model x candidate):

- **Verdicts** (paired checks, direct evidence): the proxy obtained the candidate's answer beside
  the requested model's and judged it. ``acceptable`` verdicts are successes, ``judged -
  acceptable`` failures, each worth :data:`VERDICT_WEIGHT` outcomes, whether or not the policy
  had chosen the candidate for that request.
- **Routed answers** (indirect evidence), each worth one outcome: successes are routed requests
  a cheaper model answered without escalation; failures are feedback reports on those answers
  and escalations. The proxy meters an escalated request under the model that delivered it (the
  requested one), so an escalation names its cell (category x requested model) but not the
  candidate that failed: it is shared among the cell's candidates in proportion to the routed
  requests each served, or charged to all of them when none served any.

Why verdicts weigh more. The quality target is a statement about the question a verdict
answers: was the cheaper answer as good as the requested model's? An unescalated routed answer
only shows that it passed the proxy's local checks (not a refusal, not empty, valid tool input
and structured output); a mediocre but well-formed answer counts as a success, so routed
successes overstate quality, and only gross failures are seen. Verdicts are also rare by design
(a sampled ~2 % of routable requests, capped in dollars), so at weight one a cell's few verdicts
would be drowned by its many routed answers: at 2 % sampling a routed candidate gathers ~50
routed answers per verdict. :data:`VERDICT_WEIGHT` = 5 makes one verdict worth five routed
answers: enough that a cell's verdicts move its estimate visibly (20 verdicts outweigh the
offline prior's pseudo-counts), not so much that a handful of them claims a precision they do
not have (the posterior's width, and so exploration, shrinks as if they were five outcomes each;
hence a moderate factor rather than letting verdicts replace the routed answers outright).
Verdicts on a candidate the policy did not choose are the only evidence a candidate the prior
underrates can ever earn.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

Clock = Callable[[], float]
#: What one paired-check verdict is worth, in routed-answer outcomes (see the module docstring).
VERDICT_WEIGHT = 5.0


class OutcomeRow(NamedTuple):
    """Sums of the aggregates of one category x requested x served x escalated: ``requests`` and
    ``feedback_reports`` of routed aggregates only; ``judged`` and ``acceptable`` of paired
    checks of ``served_model`` (routed or not)."""

    category: str
    requested_model: str
    served_model: str
    escalated: bool
    requests: int
    feedback_reports: int
    judged: int = 0
    acceptable: int = 0


@dataclass(frozen=True, slots=True)
class Tally:
    """Outcomes of one candidate in one cell."""

    successes: float = 0.0
    failures: float = 0.0
    #: The weighted paired-check verdicts included in ``successes`` and ``failures`` (a split of
    #: the same evidence, so two tallies with the same totals compare equal).
    verdict_successes: float = field(default=0.0, compare=False)
    verdict_failures: float = field(default=0.0, compare=False)
    #: The paired checks behind those verdicts, unweighted: how many were judged and how many of
    #: them found the candidate acceptable (for the decision's explanation).
    judged: int = field(default=0, compare=False)
    acceptable: int = field(default=0, compare=False)

    @property
    def total(self) -> float:
        return self.successes + self.failures

    @property
    def routed(self) -> Tally:
        """The evidence of routed answers alone (escalations, feedback, unescalated answers):
        what the policy's own choices earned, without the paired checks' verdicts."""
        return Tally(self.successes - self.verdict_successes, self.failures - self.verdict_failures)


_NO_OUTCOMES = Tally()


@dataclass(frozen=True, slots=True)
class Outcomes:
    """Tallies by (category, requested model, candidate)."""

    tallies: dict[tuple[str, str, str], Tally] = field(default_factory=dict)
    #: Escalations no candidate served a request for, by (category, requested): they count
    #: against every candidate of that cell.
    unattributed: dict[tuple[str, str], float] = field(default_factory=dict)

    def of(self, category: str, requested: str, candidate: str) -> Tally:
        if not self.tallies and not self.unattributed:
            return _NO_OUTCOMES
        tally = self.tallies.get((category, requested, candidate), _NO_OUTCOMES)
        extra = self.unattributed.get((category, requested), 0.0)
        if not extra:
            return tally
        return Tally(
            tally.successes,
            tally.failures + extra,
            tally.verdict_successes,
            tally.verdict_failures,
            tally.judged,
            tally.acceptable,
        )


def tally_outcomes(rows: Iterable[OutcomeRow], *, verdict_weight: float = VERDICT_WEIGHT) -> Outcomes:
    """Fold aggregate rows into per-candidate tallies (see the module docstring)."""
    successes: dict[tuple[str, str, str], float] = defaultdict(float)
    failures: dict[tuple[str, str, str], float] = defaultdict(float)
    escalations: dict[tuple[str, str], float] = defaultdict(float)
    verdict_successes: dict[tuple[str, str, str], float] = defaultdict(float)
    verdict_failures: dict[tuple[str, str, str], float] = defaultdict(float)
    judged: dict[tuple[str, str, str], int] = defaultdict(int)
    judged_acceptable: dict[tuple[str, str, str], int] = defaultdict(int)
    # Routed successes alone, to share escalations by (verdicts are not routed requests).
    served: dict[tuple[str, str, str], float] = defaultdict(float)
    for row in rows:
        cell = (row.category, row.requested_model)
        if row.served_model == row.requested_model:
            if row.escalated:
                escalations[cell] += row.requests
            continue
        key = (*cell, row.served_model)
        if row.escalated:  # a candidate metered as escalated: its own failure
            failures[key] += row.requests
        elif row.requests:
            successes[key] += row.requests
            served[key] += row.requests
        failures[key] += row.feedback_reports
        if row.judged > 0:
            acceptable = min(max(row.acceptable, 0), row.judged)
            successes[key] += verdict_weight * acceptable
            failures[key] += verdict_weight * (row.judged - acceptable)
            verdict_successes[key] += verdict_weight * acceptable
            verdict_failures[key] += verdict_weight * (row.judged - acceptable)
            judged[key] += row.judged
            judged_acceptable[key] += acceptable
    keys = set(successes) | set(failures)
    unattributed: dict[tuple[str, str], float] = {}
    for cell, count in escalations.items():
        shares = {key: served[key] for key in keys if key[:2] == cell}
        total = sum(shares.values())
        if total <= 0:
            unattributed[cell] = count
            continue
        for key, share in shares.items():
            failures[key] += count * share / total
    tallies = {
        key: Tally(
            successes.get(key, 0.0),
            failures.get(key, 0.0),
            verdict_successes.get(key, 0.0),
            verdict_failures.get(key, 0.0),
            judged.get(key, 0),
            judged_acceptable.get(key, 0),
        )
        for key in keys
    }
    return Outcomes(tallies, unattributed)


class OutcomeCache:
    """Each deployment's :class:`Outcomes`, loaded at most once per ``ttl_s`` per process, so a
    route decision costs no query (settings changes and new aggregates show within the TTL)."""

    def __init__(
        self, *, ttl_s: float = 30.0, clock: Clock = time.monotonic, max_entries: int = 10_000
    ) -> None:
        self._ttl_s = ttl_s
        self._clock = clock
        self._max_entries = max_entries
        self._entries: dict[uuid.UUID, tuple[float, Outcomes]] = {}
        self._lock = threading.Lock()

    def get(self, deployment_id: uuid.UUID, load: Callable[[], Iterable[OutcomeRow]]) -> Outcomes:
        """The cached outcomes of a deployment, or ``load()``-ed ones when stale or absent."""
        now = self._clock()
        entry = self._entries.get(deployment_id)
        if entry is not None and entry[0] > now:
            return entry[1]
        outcomes = tally_outcomes(load())
        with self._lock:
            if len(self._entries) >= self._max_entries:
                self._entries = {k: v for k, v in self._entries.items() if v[0] > now}
                if len(self._entries) >= self._max_entries:
                    self._entries.clear()
            self._entries[deployment_id] = (now + self._ttl_s, outcomes)
        return outcomes

    def peek(self, deployment_id: uuid.UUID) -> Outcomes | None:
        """The cached outcomes if they are fresh, without loading anything."""
        entry = self._entries.get(deployment_id)
        return entry[1] if entry is not None and entry[0] > self._clock() else None

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
