"""What committing one request's charge costs, and what a batched spool writer could save.

    python -m bench.spool [--adds 5000] [--rounds 5] [--pace 1600] [--seconds 4] [--json]

Every metered request commits its charge to the meter spool before its last byte
(``Spool.add``: one UPSERT in its own transaction, WAL, ``synchronous=NORMAL``). Reported, in
interleaved rounds in one process: ``Spool.add`` per call; the spool's own UPSERT with the same
parameters issued directly, one transaction per charge (the floor for one commit per request:
what is left is the spool's Python around it); and the same statements committed 64 to a
transaction (what a batched writer that waits for its batch's commit before each last byte could
reach at concurrency 64). The direct cases use the spool's schema and statement (its private
``_SCHEMA`` and ``_UPSERT``) on files of their own. Medians over rounds, microseconds per charge; compare the rows, not runs on different
machines.

Then the stalls a request's commit can meet: ``Spool.add`` at a steady ``--pace`` per second for
``--seconds`` (the first quarter left out), the percentiles of each call's time. Compare two
source trees by running this with ``PYTHONPATH`` set to each (e.g. one from ``git archive``).
"""

from __future__ import annotations

import sqlite3
import tempfile
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench._harness import bench_parser, emit, json_flag, median, percentile, print_table
from modelpilot.proxy import spool as spool_module
from modelpilot.proxy.accounting import Charge
from modelpilot.proxy.spool import Spool
from modelpilot.schema.bucket import BUCKET_KEY
from modelpilot.schema.wire import Category

_BATCH = 64


def _charge(index: int) -> Charge:
    return Charge(
        hour=datetime(2026, 12, 6, 20, tzinfo=UTC),
        category=Category.CHAT,
        requested_model="claude-sonnet-4-6",
        served_model="claude-haiku-4-5" if index % 2 else "claude-sonnet-4-6",
        routed=bool(index % 2),
        escalated=False,
        input_tokens=1200,
        output_tokens=300,
        cache_write_tokens=0,
        cache_read_tokens=0,
        actual_micros=900,
        baseline_micros=2_700,
    )


def _direct(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.executescript(spool_module._SCHEMA)
    return connection


def _parameters(charge: Charge) -> tuple[object, ...]:
    key = (spool_module.LOCAL_DEPLOYMENT, *(spool_module._stored(getattr(charge, n)) for n in BUCKET_KEY))
    return key + charge.counters()


def _per_call_us(run: Any, adds: int) -> float:
    started = time.perf_counter()
    run(adds)
    return (time.perf_counter() - started) / adds * 1e6


def measure(adds: int, rounds: int) -> dict[str, Any]:
    charges = [_charge(index) for index in range(adds)]
    with tempfile.TemporaryDirectory() as directory:
        spool = Spool.open(Path(directory) / "spool.sqlite3")
        plain = _direct(Path(directory) / "plain.sqlite3")
        batched = _direct(Path(directory) / "batched.sqlite3")
        parameters = [_parameters(charge) for charge in charges]

        def spool_adds(n: int) -> None:
            for charge in charges[:n]:
                spool.add(charge)

        def plain_upserts(n: int) -> None:
            for values in parameters[:n]:
                plain.execute(spool_module._UPSERT, values).fetchall()

        def batched_upserts(n: int) -> None:
            for start in range(0, n, _BATCH):
                batched.execute("BEGIN IMMEDIATE")
                for values in parameters[start : start + _BATCH]:
                    batched.execute(spool_module._UPSERT, values).fetchall()
                batched.execute("COMMIT")

        cases = {
            "Spool.add (one transaction per charge)": spool_adds,
            "its UPSERT alone, one transaction per charge": plain_upserts,
            f"its UPSERT alone, {_BATCH} charges per transaction": batched_upserts,
        }
        for run in cases.values():
            run(min(adds, 500))  # warm the files and the statement caches
        figures: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(rounds):
            for name, run in cases.items():
                figures[name].append(_per_call_us(run, adds))
        spool.close()
        plain.close()
        batched.close()
    return {"adds": adds, "rounds": rounds, "median_us": {name: median(v) for name, v in figures.items()}}


def paced(pace: float, seconds: float) -> dict[str, float]:
    """Percentiles (µs) of ``Spool.add`` called ``pace`` times a second for ``seconds``."""
    charges = [_charge(index) for index in range(200)]
    timings: list[float] = []
    with tempfile.TemporaryDirectory() as directory:
        spool = Spool.open(Path(directory) / "paced.sqlite3")
        try:
            started = time.perf_counter()
            for index in range(int(pace * seconds)):
                delay = started + index / pace - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                before = time.perf_counter()
                spool.add(charges[index % len(charges)])
                timings.append((time.perf_counter() - before) * 1e6)
        finally:
            spool.close()
    steady = timings[len(timings) // 4 :]
    return {
        "p50_us": percentile(steady, 50),
        "p99_us": percentile(steady, 99),
        "p99_9_us": percentile(steady, 99.9),
        "max_us": max(steady),
    }


def print_report(result: Mapping[str, Any]) -> None:
    medians = result["median_us"]
    first = next(iter(medians.values()))
    rows = [[name, f"{value:.1f}", f"x{value / first:.2f}"] for name, value in medians.items()]
    print_table(
        f"Committing one charge: median of {result['rounds']} rounds of {result['adds']} charges",
        ["case", "µs per charge", "x Spool.add"],
        rows,
    )
    stalls = result["paced"]
    print_table(
        f"Spool.add at {result['pace']:,.0f} a second for {result['seconds']:g} s (after the first quarter)",
        ["p50 µs", "p99 µs", "p99.9 µs", "max µs"],
        [[f"{stalls[k]:,.0f}" for k in ("p50_us", "p99_us", "p99_9_us", "max_us")]],
    )


def main(argv: list[str] | None = None) -> int:
    parser = bench_parser(__doc__)
    parser.add_argument("--adds", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--pace", type=float, default=1600, help="Spool.add calls a second in the paced run")
    parser.add_argument("--seconds", type=float, default=4, help="length of the paced run")
    json_flag(parser)
    args = parser.parse_args(argv)
    result = measure(args.adds, args.rounds)
    result |= {"pace": args.pace, "seconds": args.seconds, "paced": paced(args.pace, args.seconds)}
    emit(result, as_json=args.json, report=print_report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
