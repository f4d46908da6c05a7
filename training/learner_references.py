"""Offline reference routers for the local learner's learning curve: what a batch model fitted on
the same N verdicts reaches on the score half, so the online learner's figure can be judged.

    python -m training.learner_references --data-dir ../shared/data/routing [--samples 500]

Each outcome table is split and ordered exactly as ``bench.routing_quality --split hash
--learn-order shuffled`` does; the first ``--samples`` rows of the learning half are the
verdicts (acceptable = weak score >= strong score) and the whole score half is scored. Routers:

- ``cold prior``: the shipped prior's log-odds (what the learner starts from);
- ``batch LR, learner inputs``: scikit-learn's logistic regression on exactly the learner's
  inputs (word and word-pair buckets scaled 1/sqrt(n), the numbers, the prior's log-odds);
- ``batch LR, numbers``: the same on the numbers and the prior only;
- ``batch LR, words`` / ``char 3-5-grams``: on TF-IDF of the prompt's words / character n-grams
  plus the numbers (richer text inputs than the proxy's hashes);
- ``30 nearest``: the acceptable share of the 30 most similar learned prompts (TF-IDF cosine);
- ``knows the label``: the smoothed acceptable share of the row's benchmark label among the
  learned rows (MMLU: its gold subject). A router never sees the label: this is how far knowing
  the topic exactly would take a learner with the same verdicts.

Needs the ``train`` extra (numpy, scikit-learn). Prints APGR and CostSave@Q95 per table.
"""

from __future__ import annotations

import argparse
import json
import math
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from bench._harness import print_table
from bench.routing_quality import TableRow, order_rows, read_table, router_metrics, split_rows
from scipy.sparse import csr_matrix, hstack
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from modelpilot.proxy.features.shape import walk_request
from modelpilot.proxy.learning import Example, LocalLearner
from modelpilot.proxy.learning.example import BUCKETS
from training.tables import OUTCOME_TABLES

_REQUESTED = "claude-opus-4-6"
_NEIGHBOURS = 30
_LABEL_SMOOTHING = 5.0

# A router maps (learned rows, their examples, scored rows, their examples) to P(acceptable).
Router = Callable[[list[TableRow], list[Example], list[TableRow], list[Example]], Sequence[float]]


def _text(row: TableRow) -> str:
    shape = walk_request(row.request)
    return shape.user_text + "\n" + shape.system_text


def _acceptable(rows: Sequence[TableRow]) -> list[bool]:
    return [row.outcome.weak >= row.outcome.strong for row in rows]


def _numbers(examples: Sequence[Example]) -> csr_matrix:
    return csr_matrix(np.array([example.numbers for example in examples]))


def _buckets(examples: Sequence[Example]) -> csr_matrix:
    data: list[float] = []
    indices: list[int] = []
    pointers = [0]
    for example in examples:
        counts = Counter(example.buckets)
        norm = 1.0 / math.sqrt(max(len(example.buckets), 1))
        indices += counts.keys()
        data += [count * norm for count in counts.values()]
        pointers.append(len(indices))
    return csr_matrix((data, indices, pointers), shape=(len(examples), BUCKETS))


def _fit(train: Any, labels: list[bool], test: Any) -> Sequence[float]:
    if len(set(labels)) < 2:
        return [float(labels[0])] * test.shape[0]
    model = LogisticRegression(C=1.0, max_iter=3000).fit(train, labels)
    return list(model.predict_proba(test)[:, 1])


def _tfidf(vectorizer: TfidfVectorizer) -> Router:
    def route(
        learn: list[TableRow], lx: list[Example], score: list[TableRow], sx: list[Example]
    ) -> Sequence[float]:
        train = vectorizer.fit_transform([_text(row) for row in learn])
        test = vectorizer.transform([_text(row) for row in score])
        return _fit(
            hstack([train, _numbers(lx)]).tocsr(), _acceptable(learn), hstack([test, _numbers(sx)]).tocsr()
        )

    return route


def _neighbours(
    learn: list[TableRow], lx: list[Example], score: list[TableRow], sx: list[Example]
) -> Sequence[float]:
    vectorizer = TfidfVectorizer(sublinear_tf=True)
    learned = vectorizer.fit_transform([_text(row) for row in learn])
    similarity = (vectorizer.transform([_text(row) for row in score]) @ learned.T).toarray()
    labels = np.array(_acceptable(learn), dtype=float)
    nearest = np.argsort(-similarity, axis=1)[:, :_NEIGHBOURS]
    weights = np.take_along_axis(similarity, nearest, 1)
    base = labels.mean()
    return list(((weights * labels[nearest]).sum(1) + 2 * base) / (weights.sum(1) + 2))


def _knows_label(labels: dict[str, str]) -> Router:
    def route(
        learn: list[TableRow], lx: list[Example], score: list[TableRow], sx: list[Example]
    ) -> Sequence[float]:
        base = sum(_acceptable(learn)) / len(learn)
        good: Counter[str] = Counter()
        seen: Counter[str] = Counter()
        for row, ok in zip(learn, _acceptable(learn), strict=True):
            seen[labels[row.id]] += 1
            good[labels[row.id]] += ok
        k = _LABEL_SMOOTHING
        return [(good[labels[r.id]] + k * base) / (seen[labels[r.id]] + k) for r in score]

    return route


def routers(labels: dict[str, str]) -> dict[str, Router]:
    return {
        "cold prior": lambda learn, lx, score, sx: [example.prior_logit for example in sx],
        "batch LR, learner inputs": lambda learn, lx, score, sx: _fit(
            hstack([_buckets(lx), _numbers(lx)]).tocsr(),
            _acceptable(learn),
            hstack([_buckets(sx), _numbers(sx)]).tocsr(),
        ),
        "batch LR, numbers": lambda learn, lx, score, sx: _fit(
            _numbers(lx), _acceptable(learn), _numbers(sx)
        ),
        "batch LR, words": _tfidf(TfidfVectorizer(sublinear_tf=True)),
        "batch LR, char 3-5-grams": _tfidf(
            TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True, min_df=2)
        ),
        f"{_NEIGHBOURS} nearest": _neighbours,
        "knows the label": _knows_label(labels),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m training.learner_references", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--samples", type=int, default=500)
    args = parser.parse_args(argv)
    learner = LocalLearner()
    lines: list[list[str]] = []
    for name, (weak, strong) in OUTCOME_TABLES.items():
        path = args.data_dir / name
        rows = read_table(
            path, weak=weak, strong=strong, weak_price_model="claude-haiku-4-5", strong_price_model=_REQUESTED
        )
        labels = {}
        with path.open(encoding="utf-8") as handle:
            for line in handle:
                if line.strip():
                    raw = json.loads(line)
                    labels[str(raw["id"])] = str(raw.get("label"))
        learn, score = split_rows(rows, "hash")
        learn = order_rows(learn, "shuffled")[: args.samples]
        lx = [learner.example_of({**row.request, "model": _REQUESTED}) for row in learn]
        sx = [learner.example_of({**row.request, "model": _REQUESTED}) for row in score]
        for router, route in routers(labels).items():
            p = route(learn, lx, score, sx)
            metrics = router_metrics([-x for x in p], [row.outcome for row in score])
            save = metrics.cost_save_q95
            lines.append(
                [name, str(len(learn)), router, f"{metrics.apgr:.3f}", "-" if save is None else f"{save:.1%}"]
            )
    print_table(
        "reference routers on the score half", ["table", "verdicts", "router", "APGR", "CostSave@Q95"], lines
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
