"""Routing quality of the real router on an outcome table, beside same-table baselines.

    python -m bench.routing_quality --table FILE.jsonl --weak MODEL --strong MODEL
        [--weak-price-model claude-haiku-4-5] [--strong-price-model claude-opus-4-6]
        [--router ROUTER.json] [--scores-out OUT.jsonl] [--json]
    python -m bench.routing_quality --table TEST.jsonl --weak W --strong S --learn-from TRAIN.jsonl
        [--learn-samples N] [--learn-weak W2 --learn-strong S2] [--learn-order file|shuffled]
    python -m bench.routing_quality --table T.jsonl --weak W --strong S --split hash
        [--curve 0 50 100 200 500 1000 all] [--hyper NAME=VALUE ...]
    python -m bench.routing_quality --extraction-timing

Every row's ``request`` (plus ``"model"``) goes through the proxy's real
:func:`~modelpilot.proxy.features.extract_features` and the wire features it would send, then
the control plane's real policy estimate
(:func:`~modelpilot.control.policy.choose.success_estimate`) of P(success) for the weak price
model standing in for the strong one, in process; the router's score is 1 - that estimate (a
deployment without outcomes of its own, i.e. the offline prior). ``--router`` replaces the
shipped local weights (e.g. a fold trained by ``training.train_router --train-tables``) so results
can be measured on a table the weights never saw. Sweeping a threshold over that score traces (c = share sent to the strong model, r = mean quality); the metrics are those of
the data README (RouteLLM / RouterBench definitions):

- PGR = (r - r_weak) / (r_strong - r_weak); APGR = area under PGR over c in [0, 1];
- CPT(x) = the smallest c with PGR >= x;
- CostSave@Q95 = 1 - cost / cost(always strong) at the cheapest point with r >= 0.95 r_strong.

With ``--learn-from`` (or ``--split``), the proxy's real local learner
(:class:`~modelpilot.proxy.learning.LocalLearner`) first learns N rows of the learning table as
paired-check verdicts (acceptable = weak score >= strong score), in file order unless
``--learn-order shuffled``; then every scored row carries the learner's score in its wire
features (``learned_acceptable``/``learned_verdicts``), exactly as the proxy would send it, and
the policy estimate above uses it. ``--split hash`` learns on the rows of ``--table`` whose id
hashes even and scores the others; ``--split halves`` learns on the first half of the file and
scores the second. ``--curve`` repeats this for several N and prints one line per N.
``--hyper loss_decay=0.98`` (repeatable) measures the learner with a setting of
:class:`~modelpilot.proxy.learning.Hyper` other than the shipped one.

Tied scores are routed in random order; the curve takes the expectation over that order, which is
linear interpolation between tie-group boundaries. So the random router (one constant score) is
reported exactly by its expected value: APGR 0.5, CPT(x) = x.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import time
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from bench._harness import print_table
from modelpilot.control.policy.choose import success_estimate
from modelpilot.proxy.decisions import wire_features
from modelpilot.proxy.features import RouterModel, extract_features, load_router_model
from modelpilot.proxy.features.artifact import parse_artifact
from modelpilot.proxy.features.shape import walk_request
from modelpilot.proxy.learning import Example, Hyper, LocalLearner
from modelpilot.schema.catalog import load_catalog
from modelpilot.schema.pricing import cost_micros
from modelpilot.schema.usage import Usage

_Q95 = 0.95
_EPS = 1e-12


@dataclass(frozen=True, slots=True)
class Outcome:
    """One prompt's quality and cost on the weak and the strong model."""

    weak: float
    strong: float
    weak_cost: float
    strong_cost: float


@dataclass(frozen=True, slots=True)
class CurvePoint:
    """Routing the top ``c`` share of prompts to the strong model: mean quality and total cost."""

    c: float
    quality: float
    cost: float


@dataclass(frozen=True, slots=True)
class RouterMetrics:
    """The README's metrics for one router (None where undefined)."""

    apgr: float | None
    cpt50: float | None
    cpt80: float | None
    cost_save_q95: float | None


def routing_curve(scores: Sequence[float], outcomes: Sequence[Outcome]) -> list[CurvePoint]:
    """The (c, quality, cost) points at every tie-group boundary, highest scores routed first."""
    n = len(outcomes)
    if n == 0 or len(scores) != n:
        raise ValueError("need one score per outcome and at least one outcome")
    order = sorted(range(n), key=lambda i: -scores[i])
    quality = sum(o.weak for o in outcomes)
    cost = sum(o.weak_cost for o in outcomes)
    points = [CurvePoint(0.0, quality / n, cost)]
    i = 0
    while i < n:
        j = i
        while j < n and scores[order[j]] == scores[order[i]]:
            o = outcomes[order[j]]
            quality += o.strong - o.weak
            cost += o.strong_cost - o.weak_cost
            j += 1
        points.append(CurvePoint(j / n, quality / n, cost))
        i = j
    return points


def _pgr(quality: float, weak: float, strong: float) -> float:
    return (quality - weak) / (strong - weak)


def apgr(points: Sequence[CurvePoint]) -> float | None:
    """Area under PGR over c in [0, 1] (trapezoids; exact for the piecewise-linear curve)."""
    weak, strong = points[0].quality, points[-1].quality
    if abs(strong - weak) < _EPS:
        return None
    area = 0.0
    for a, b in zip(points, points[1:], strict=False):
        area += (b.c - a.c) * (_pgr(a.quality, weak, strong) + _pgr(b.quality, weak, strong)) / 2
    return area


def cpt(points: Sequence[CurvePoint], target: float) -> float | None:
    """The smallest share c routed to the strong model at which PGR reaches ``target``."""
    weak, strong = points[0].quality, points[-1].quality
    if abs(strong - weak) < _EPS:
        return None
    previous = points[0]
    if _pgr(previous.quality, weak, strong) >= target - _EPS:
        return 0.0
    for point in points[1:]:
        p0, p1 = _pgr(previous.quality, weak, strong), _pgr(point.quality, weak, strong)
        if p1 >= target - _EPS:
            return previous.c + (point.c - previous.c) * (target - p0) / (p1 - p0)
        previous = point
    return None


def cost_save_at_quality(points: Sequence[CurvePoint], share: float = _Q95) -> float | None:
    """1 - cost / cost(always strong) at the cheapest point of the curve whose quality is at
    least ``share`` of the always-strong quality; None when no point qualifies."""
    target = share * points[-1].quality
    strong_cost = points[-1].cost
    best: float | None = None
    for a, b in zip(points, points[1:], strict=False):
        # Quality and cost are both linear in t along a segment, so the cheapest qualifying point
        # lies at an end of the qualifying interval of t.
        candidates = [t for t, q in ((0.0, a.quality), (1.0, b.quality)) if q >= target - _EPS]
        if (a.quality - target) * (b.quality - target) < 0:
            candidates.append((target - a.quality) / (b.quality - a.quality))
        for t in candidates:
            cost = a.cost + t * (b.cost - a.cost)
            best = cost if best is None else min(best, cost)
    if best is None or strong_cost <= 0:
        return None
    return 1.0 - best / strong_cost


def router_metrics(scores: Sequence[float], outcomes: Sequence[Outcome]) -> RouterMetrics:
    """APGR, CPT(50%), CPT(80%) and CostSave@Q95 of a router that scores each prompt."""
    points = routing_curve(scores, outcomes)
    return RouterMetrics(apgr(points), cpt(points, 0.5), cpt(points, 0.8), cost_save_at_quality(points))


def fixed_policy(outcomes: Sequence[Outcome], *, strong: bool) -> tuple[float, float | None]:
    """(PGR, CostSave@Q95) of always sending every prompt to one model."""
    points = routing_curve([0.0] * len(outcomes), outcomes)
    point = points[-1] if strong else points[0]
    weak_q, strong_q = points[0].quality, points[-1].quality
    pgr = 1.0 if strong else 0.0
    if abs(strong_q - weak_q) < _EPS:
        pgr = math.nan
    save = None
    if point.quality >= _Q95 * strong_q - _EPS and points[-1].cost > 0:
        save = 1.0 - point.cost / points[-1].cost
    return pgr, save


# --- the outcome table ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TableRow:
    """One prompt of an outcome table, ready for the router."""

    id: str
    request: dict[str, Any]
    outcome: Outcome


def _estimated_cost_usd(request: dict[str, Any], price_model: str, prompt_tokens: int) -> float:
    catalog = load_catalog()
    spec = catalog.get(price_model)
    if spec is None:
        raise SystemExit(f"unknown price model {price_model!r}")
    # The answer length is unknown offline; max_tokens is an upper bound applied to both models
    # alike, so the cost ratio between them, which is what CostSave measures, holds.
    output_tokens = int(request.get("max_tokens") or 0)
    usage = Usage(input_tokens=prompt_tokens, output_tokens=output_tokens)
    return cost_micros(usage, spec, catalog) / 1_000_000


def read_table(
    path: Path, *, weak: str, strong: str, weak_price_model: str, strong_price_model: str
) -> list[TableRow]:
    """Rows of ``path`` that have scores for both models; costs from ``costs_usd`` where the
    source recorded them (non-zero), else from catalog prices applied to estimated tokens."""
    rows: list[TableRow] = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if not line.strip():
                continue
            raw = json.loads(line)
            scores = raw.get("scores") or {}
            if weak not in scores or strong not in scores:
                continue
            request = raw["request"]
            costs = raw.get("costs_usd") or {}
            recorded = (float(costs.get(weak, 0.0)), float(costs.get(strong, 0.0)))
            # A recorded pair of zeros is a missing cost, not a free answer (RouterArena's sub10
            # table records 0.0 for every row), so it falls back to the estimate too.
            if weak in costs and strong in costs and max(recorded) > 0:
                weak_cost, strong_cost = recorded
            else:
                tokens = walk_request(request).prompt_tokens
                weak_cost = _estimated_cost_usd(request, weak_price_model, tokens)
                strong_cost = _estimated_cost_usd(request, strong_price_model, tokens)
            outcome = Outcome(float(scores[weak]), float(scores[strong]), weak_cost, strong_cost)
            rows.append(TableRow(str(raw.get("id", len(rows))), request, outcome))
    if not rows:
        raise SystemExit(f"no row of {path} has scores for both {weak!r} and {strong!r}")
    return rows


def router_scores(
    rows: Iterable[TableRow],
    *,
    request_model: str,
    model: RouterModel | None = None,
    weak_model: str = "claude-haiku-4-5",
    learner: LocalLearner | None = None,
) -> list[float]:
    """Each row's need-the-strong-model score: 1 - the policy's estimated P(success) of
    ``weak_model`` for a request to ``request_model``, from the features the proxy would send
    (with ``learner``: including its learned score, as the proxy sends it).
    ``model`` defaults to the shipped local weights (training passes a cross-dataset fold's)."""
    catalog = load_catalog()
    requested, candidate = catalog.get(request_model), catalog.get(weak_model)
    if requested is None or candidate is None:
        raise SystemExit(f"{request_model!r} and {weak_model!r} must be catalog models")
    scores = []
    for row in rows:
        document = {**row.request, "model": request_model}
        if learner is not None:
            analysis, example = learner.analyse(document)
            local = analysis.features
            features = wire_features(local, learner.predict(example, request_model))
        else:
            local = extract_features(document, model=model)
            features = wire_features(local)
        estimate = success_estimate(requested, candidate, local.category, features)
        scores.append(1.0 - estimate.mean)
    return scores


# --- learning from a workload ----------------------------------------------------------------


def split_rows(rows: Sequence[TableRow], how: str) -> tuple[list[TableRow], list[TableRow]]:
    """(learn, score) parts of one table: ``hash`` by the parity of a stable hash of the id,
    ``halves`` the first and second half in file order."""
    if how == "halves":
        middle = len(rows) // 2
        return list(rows[:middle]), list(rows[middle:])
    if how == "hash":
        learn = [row for row in rows if zlib.crc32(row.id.encode()) % 2 == 0]
        score = [row for row in rows if zlib.crc32(row.id.encode()) % 2 == 1]
        return learn, score
    raise ValueError(f"unknown split {how!r}")


def order_rows(rows: Sequence[TableRow], how: str) -> list[TableRow]:
    """Rows in file order, or ``shuffled``: a stable pseudo-random order (by a salted hash of the
    id), since a live deployment's verdicts arrive from across its workload, not sorted."""
    if how == "file":
        return list(rows)
    if how == "shuffled":
        return sorted(rows, key=lambda row: zlib.crc32(b"learn-order:" + row.id.encode()))
    raise ValueError(f"unknown order {how!r}")


def parse_hyper(settings: Sequence[str]) -> Hyper:
    """The learner's default :class:`Hyper` with ``NAME=VALUE`` settings applied (to measure a
    variant with the real learner, e.g. ``loss_decay=0.98``)."""
    kinds = {f.name: f.type for f in fields(Hyper)}
    changes: dict[str, float | int] = {}
    for setting in settings:
        name, _, value = setting.partition("=")
        if name not in kinds or not value:
            raise ValueError(f"{setting!r} is not NAME=VALUE with NAME one of {', '.join(kinds)}")
        changes[name] = int(value) if kinds[name] in (int, "int") else float(value)
    return replace(Hyper(), **changes)


def learned_learner(
    rows: Sequence[TableRow],
    samples: int | None,
    *,
    request_model: str,
    weak_model: str,
    hyper: Hyper | None = None,
) -> LocalLearner:
    """A fresh :class:`LocalLearner` (in memory, with ``hyper`` or the shipped settings) that
    learned the first ``samples`` of ``rows`` (all when None) as paired-check verdicts."""
    learner = LocalLearner(hyper=hyper)
    examples: list[tuple[Example, bool]] = []
    for row in rows[:samples] if samples is not None else rows:
        example = learner.example_of({**row.request, "model": request_model})
        examples.append((example, row.outcome.weak >= row.outcome.strong))
    for i, (example, acceptable) in enumerate(examples):
        if i % 1000 == 0:
            learner.drain()  # as the proxy's loop does, long before the queue's bound
        learner.record(
            example,
            requested_model=request_model,
            candidate_model=weak_model,
            acceptable=acceptable,
            source="verdict",
        )
    learner.drain()
    return learner


def _fmt(value: float | None, percent: bool = False) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.1%}" if percent else f"{value:.3f}"


def evaluate(rows: Sequence[TableRow], scores: Sequence[float]) -> dict[str, dict[str, float | None]]:
    """The comparison table: router, random (expected), oracle, always-weak, always-strong."""
    outcomes = [row.outcome for row in rows]
    results: dict[str, dict[str, float | None]] = {}
    for name, policy_scores in (
        ("router", list(scores)),
        ("random", [0.0] * len(outcomes)),
        ("oracle", [o.strong - o.weak for o in outcomes]),
    ):
        m = router_metrics(policy_scores, outcomes)
        results[name] = {"apgr": m.apgr, "cpt50": m.cpt50, "cpt80": m.cpt80, "cost_save_q95": m.cost_save_q95}
    for name, strong in (("always-weak", False), ("always-strong", True)):
        pgr, save = fixed_policy(outcomes, strong=strong)
        results[name] = {"apgr": None, "cpt50": None, "cpt80": None, "cost_save_q95": save, "pgr": pgr}
    return results


# --- extraction timing ----------------------------------------------------------------------


def synthetic_request(target_tokens: int, turns_count: int = 8) -> dict[str, Any]:
    """A ``turns_count``-turn request with a system prompt, a tool and about ``target_tokens``
    tokens of varied pseudo-English (seeded), so that word-level work is not flattered by
    repetition."""
    rng = random.Random(0)
    vocabulary = [
        "".join(rng.choice("etaoinshrdlucmfwypvbgk") for _ in range(rng.randint(2, 9))) for _ in range(3000)
    ]
    paragraph = (
        " ".join(rng.choice(vocabulary) + rng.choice(("", "", "", ",", ".")) for _ in range(400)) + " "
    )
    turns: list[dict[str, Any]] = []
    chars_needed = target_tokens * 7 // 2
    per_turn = chars_needed // turns_count  # the turns share the tokens evenly
    body_text = (paragraph * (per_turn // len(paragraph) + 1))[:per_turn]
    for i in range(turns_count - 1):
        role = "user" if i % 2 == 0 else "assistant"
        turns.append({"role": role, "content": [{"type": "text", "text": body_text}]})
    # The last user turn is long too: it is the one the classifiers read, so this is the worst case.
    question = "Given all of the above, which cost line should we cut first, and why?"
    turns.append({"role": "user", "content": [{"type": "text", "text": body_text + question}]})
    return {
        "model": "claude-opus-4-6",
        "max_tokens": 2048,
        "system": [
            {
                "type": "text",
                "text": "You are a careful financial analyst.",
                "cache_control": {"type": "ephemeral"},
            }
        ],
        "tools": [
            {"name": "lookup", "description": "Look up a ledger entry", "input_schema": {"type": "object"}}
        ],
        "messages": turns,
    }


def time_extraction(target_tokens: int, turns_count: int = 8, repeats: int = 2000) -> dict[str, float]:
    """Median and p90 microseconds of extract_features on :func:`synthetic_request`."""
    body = synthetic_request(target_tokens, turns_count)
    load_router_model()  # the one-off load is not part of the per-request cost
    tokens = extract_features(body).input_tokens_estimate
    samples = []
    for _ in range(repeats):
        start = time.perf_counter_ns()
        extract_features(body)
        samples.append((time.perf_counter_ns() - start) / 1000)
    samples.sort()
    return {
        "estimated_tokens": tokens,
        "median_us": statistics.median(samples),
        "p90_us": samples[len(samples) * 9 // 10],
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.routing_quality", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--table", type=Path)
    parser.add_argument("--weak", help="key of the table's scores for the cheaper model")
    parser.add_argument("--strong", help="key of the table's scores for the stronger model")
    parser.add_argument("--weak-price-model", default="claude-haiku-4-5")
    parser.add_argument("--strong-price-model", default="claude-opus-4-6")
    parser.add_argument("--router", type=Path, help="local router weights (default: the shipped ones)")
    parser.add_argument("--scores-out", type=Path)
    parser.add_argument("--learn-from", type=Path, help="outcome table the local learner learns from")
    parser.add_argument("--learn-samples", type=int, help="how many rows it learns (default: all)")
    parser.add_argument("--learn-weak", help="weak model key of the learning table (default: --weak)")
    parser.add_argument("--learn-strong", help="strong model key of the learning table (default: --strong)")
    parser.add_argument("--learn-order", choices=("file", "shuffled"), default="file")
    parser.add_argument(
        "--hyper",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a learner setting other than the shipped one (repeatable; e.g. loss_decay=0.98)",
    )
    parser.add_argument(
        "--split", choices=("hash", "halves"), help="learn on one part of --table, score the other"
    )
    parser.add_argument(
        "--curve", nargs="+", help="learn-sample counts to measure in one run (e.g. 0 50 100 all)"
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument(
        "--extraction-timing", action="store_true", help="time extract_features at 4k/100k tokens"
    )
    args = parser.parse_args(argv)
    try:
        args.hyper = parse_hyper(args.hyper)
    except ValueError as exc:
        parser.error(str(exc))

    if args.extraction_timing:
        cases = {"4k tokens, 8 turns": (4_000, 8), "100k tokens, 8 turns": (100_000, 8)}
        cases["100k tokens, 1,000 turns"] = (100_000, 1_000)
        timings = {
            name: time_extraction(n, turns, 2000 if turns < 100 else 200)
            for name, (n, turns) in cases.items()
        }
        if args.json:
            print(json.dumps(timings, indent=2))
        else:
            print_table(
                "extract_features, in process (weights loaded)",
                ["request", "estimated tokens", "median µs", "p90 µs"],
                [
                    [k, str(v["estimated_tokens"]), f"{v['median_us']:.0f}", f"{v['p90_us']:.0f}"]
                    for k, v in timings.items()
                ],
            )
        return 0
    if args.table is None or args.weak is None or args.strong is None:
        parser.error("--table, --weak and --strong are required (or --extraction-timing)")

    rows = read_table(
        args.table,
        weak=args.weak,
        strong=args.strong,
        weak_price_model=args.weak_price_model,
        strong_price_model=args.strong_price_model,
    )
    learn_rows: list[TableRow] | None = None
    if args.split is not None:
        learn_rows, rows = split_rows(rows, args.split)
    if args.learn_from is not None:
        learn_rows = read_table(
            args.learn_from,
            weak=args.learn_weak or args.weak,
            strong=args.learn_strong or args.strong,
            weak_price_model=args.weak_price_model,
            strong_price_model=args.strong_price_model,
        )
    if learn_rows is not None:
        learn_rows = order_rows(learn_rows, args.learn_order)
    if args.curve is not None:
        if learn_rows is None:
            parser.error("--curve needs --learn-from or --split")
        return print_curve(args, rows, learn_rows)
    model = None
    if args.router is not None:
        model = parse_artifact(json.loads(args.router.read_text(encoding="utf-8")))
    learner = None
    if learn_rows is not None:
        learner = learned_learner(
            learn_rows,
            args.learn_samples,
            request_model=args.strong_price_model,
            weak_model=args.weak_price_model,
            hyper=args.hyper,
        )
    scores = router_scores(
        rows,
        request_model=args.strong_price_model,
        model=model,
        weak_model=args.weak_price_model,
        learner=learner,
    )
    if args.scores_out is not None:
        with args.scores_out.open("w", encoding="utf-8") as handle:
            for row, score in zip(rows, scores, strict=True):
                handle.write(json.dumps({"id": row.id, "score": score}) + "\n")
    results = evaluate(rows, scores)
    if args.json:
        report: dict[str, Any] = {
            "table": str(args.table),
            "router": str(args.router or "shipped"),
            "rows": len(rows),
        }
        if learner is not None:
            report["learned_rows"] = learner.verdicts(args.strong_price_model)
        print(json.dumps({**report, "results": results}, indent=2))
        return 0
    weak_q = statistics.fmean(row.outcome.weak for row in rows)
    strong_q = statistics.fmean(row.outcome.strong for row in rows)
    print_table(
        f"{args.table.name}: {len(rows)} prompts, weak={args.weak} (quality {weak_q:.3f}), "
        f"strong={args.strong} (quality {strong_q:.3f})",
        ["router", "APGR", "CPT(50%)", "CPT(80%)", "CostSave@Q95"],
        [
            [
                name,
                _fmt(r["apgr"]),
                _fmt(r["cpt50"], True),
                _fmt(r["cpt80"], True),
                _fmt(r["cost_save_q95"], True),
            ]
            for name, r in results.items()
        ],
    )
    print("('-': undefined. Fixed policies trace no curve; CostSave@Q95 is '-' when 95 % of the strong")
    print(" model's quality is never reached. Random is the expectation over routing orders.)")
    return 0


def print_curve(args: argparse.Namespace, rows: list[TableRow], learn_rows: list[TableRow]) -> int:
    """One line per learn-sample count of ``--curve``: the router's metrics after N verdicts."""
    results = []
    for raw in args.curve:
        samples = None if raw == "all" else int(raw)
        learner = learned_learner(
            learn_rows,
            samples,
            request_model=args.strong_price_model,
            weak_model=args.weak_price_model,
            hyper=args.hyper,
        )
        scores = router_scores(
            rows, request_model=args.strong_price_model, weak_model=args.weak_price_model, learner=learner
        )
        metrics = router_metrics(scores, [row.outcome for row in rows])
        results.append(
            {
                "verdicts": learner.verdicts(args.strong_price_model),
                "apgr": metrics.apgr,
                "cpt50": metrics.cpt50,
                "cpt80": metrics.cpt80,
                "cost_save_q95": metrics.cost_save_q95,
            }
        )
    if args.json:
        print(json.dumps({"table": str(args.table), "scored_rows": len(rows), "curve": results}, indent=2))
        return 0
    source = args.learn_from.name if args.learn_from is not None else f"{args.table.name} ({args.split})"
    print_table(
        f"scored {args.table.name} ({len(rows)} rows) after learning N verdicts of {source}",
        ["N", "APGR", "CPT(50%)", "CPT(80%)", "CostSave@Q95"],
        [
            [
                str(r["verdicts"]),
                _fmt(r["apgr"]),
                _fmt(r["cpt50"], True),
                _fmt(r["cpt80"], True),
                _fmt(r["cost_save_q95"], True),
            ]
            for r in results
        ],
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
