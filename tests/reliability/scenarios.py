"""The closing note's table: one row per scenario (sent, succeeded, lost, added latency), filled
by the reliability tests as they run and printed at the end of the session (tests/conftest.py).

Scenarios are appended to a JSON-lines file (``artifacts/reliability-scenarios.jsonl``) because,
with pytest-xdist, they are recorded in a worker process and printed by the controller."""

from __future__ import annotations

import dataclasses
import json
import statistics
from dataclasses import dataclass, field
from pathlib import Path

SCENARIOS_FILE = Path(__file__).resolve().parents[2] / "artifacts" / "reliability-scenarios.jsonl"


@dataclass
class Scenario:
    """What one scenario did: ``latencies_ms`` are the per-request figures its added latency is
    computed from (the scenario's own minus its baseline's median, when it has a baseline)."""

    name: str
    sent: int = 0
    succeeded: int = 0
    lost: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    baseline_ms: float | None = None
    note: str = ""

    @property
    def median_ms(self) -> float | None:
        return statistics.median(self.latencies_ms) if self.latencies_ms else None

    @property
    def added_ms(self) -> float | None:
        median = self.median_ms
        if median is None or self.baseline_ms is None:
            return None
        return median - self.baseline_ms


def record(scenario: Scenario) -> Scenario:
    """Add ``scenario`` to the session's table (and return it)."""
    SCENARIOS_FILE.parent.mkdir(parents=True, exist_ok=True)
    with SCENARIOS_FILE.open("a", encoding="utf-8") as out:
        out.write(json.dumps(dataclasses.asdict(scenario)) + "\n")
    return scenario


def recorded() -> list[Scenario]:
    """The scenarios recorded since :func:`forget`, in the order they were recorded."""
    if not SCENARIOS_FILE.exists():
        return []
    lines = SCENARIOS_FILE.read_text(encoding="utf-8").splitlines()
    return [Scenario(**json.loads(line)) for line in lines if line]


def forget() -> None:
    SCENARIOS_FILE.unlink(missing_ok=True)


def render_table(scenarios: list[Scenario]) -> list[str]:
    """The table as text lines, in the order the scenarios ran."""
    header = ("scenario", "sent", "succeeded", "lost", "median ms", "added ms (median)", "note")
    rows = [
        (
            s.name,
            str(s.sent),
            str(s.succeeded),
            str(s.lost),
            "-" if s.median_ms is None else f"{s.median_ms:.2f}",
            "-" if s.added_ms is None else f"{s.added_ms:+.2f}",
            s.note,
        )
        for s in scenarios
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    line = lambda row: "| " + " | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) + " |"  # noqa: E731
    return [line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *(line(r) for r in rows)]
