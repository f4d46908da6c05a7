"""A deployment's own routing outcomes, from its metered aggregates, and their in-process cache.

Successes are routed requests a cheaper model answered without escalation; failures are feedback
reports on those answers and escalations. The proxy meters an escalated request under the model
that delivered it (the requested one), so an escalation names its cell (category x requested
model) but not the candidate that failed: it is shared among the cell's candidates in proportion
to the routed requests each served, or charged to all of them when none served any.
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


class OutcomeRow(NamedTuple):
    """Sums of the routed aggregates of one category x requested x served x escalated."""

    category: str
    requested_model: str
    served_model: str
    escalated: bool
    requests: int
    feedback_reports: int


@dataclass(frozen=True, slots=True)
class Tally:
    """Outcomes of one candidate in one cell."""

    successes: float = 0.0
    failures: float = 0.0

    @property
    def total(self) -> float:
        return self.successes + self.failures


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
        return Tally(tally.successes, tally.failures + extra) if extra else tally


def tally_outcomes(rows: Iterable[OutcomeRow]) -> Outcomes:
    """Fold routed aggregate rows into per-candidate tallies (see the module docstring)."""
    successes: dict[tuple[str, str, str], float] = defaultdict(float)
    failures: dict[tuple[str, str, str], float] = defaultdict(float)
    escalations: dict[tuple[str, str], float] = defaultdict(float)
    for row in rows:
        cell = (row.category, row.requested_model)
        if row.served_model == row.requested_model:
            if row.escalated:
                escalations[cell] += row.requests
            continue
        key = (*cell, row.served_model)
        if row.escalated:  # a candidate metered as escalated: its own failure
            failures[key] += row.requests
        else:
            successes[key] += row.requests
        failures[key] += row.feedback_reports
    keys = set(successes) | set(failures)
    unattributed: dict[tuple[str, str], float] = {}
    for cell, count in escalations.items():
        served = {key: successes[key] for key in keys if key[:2] == cell}
        total = sum(served.values())
        if total <= 0:
            unattributed[cell] = count
            continue
        for key, share in served.items():
            failures[key] += count * share / total
    tallies = {key: Tally(successes.get(key, 0.0), failures.get(key, 0.0)) for key in keys}
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
