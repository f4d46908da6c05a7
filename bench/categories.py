"""The proxy's task categories on labelled, live-shaped requests: per-class precision and recall.

    python -m bench.categories [--data FILE.jsonl] [--split dev|holdout|holdout2|holdout3|all] [--json]

Each row of the data file (default: ``tests/proxy/features/data/live_shaped.jsonl``) is a
Messages request body in the shapes real apps send (system prompts, multi-turn conversations,
tool definitions and tool results, JSON-schema output, pasted documents), the category a user
would give it and the part of the set it belongs to: ``dev`` (the demo's own workload, recorded
through the simulator with its planned categories, plus requests written to tune against),
``holdout`` (written after the rules were tuned on ``dev``, to check them; the rules were then
tuned on it as well, in issue 14 item 7's second round), ``holdout2`` (written before that
second round and never tuned on, but then used to choose the refitted category model) or
``holdout3`` (written before the category model was refitted on the labelled rows, never tuned
on: the honest number). Every body
goes through the proxy's real :func:`~modelpilot.proxy.features.extract_features`; the table
gives each class's precision, recall and support, the accuracy, and the most frequent (expected
-> predicted) confusions.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench._harness import emit, json_flag, print_table
from modelpilot.proxy.features import extract_features

DEFAULT_DATA = Path(__file__).resolve().parents[1] / "tests/proxy/features/data/live_shaped.jsonl"
SPLITS = ("dev", "holdout", "holdout2", "holdout3", "tune4", "holdout4", "all")


@dataclass(frozen=True, slots=True)
class Labelled:
    """One request of the set with the category a user would give it."""

    id: str
    category: str
    split: str
    source: str
    request: dict[str, Any]


def load_rows(path: Path = DEFAULT_DATA, split: str = "all") -> list[Labelled]:
    """The rows of ``path`` in ``split`` (``all`` for every row), in file order."""
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        raw = json.loads(line)
        if split in ("all", raw["split"]):
            rows.append(Labelled(raw["id"], raw["category"], raw["split"], raw["source"], raw["request"]))
    return rows


def predict(rows: Iterable[Labelled]) -> list[tuple[Labelled, str]]:
    """Each row with the category the proxy's feature extraction gives it."""
    return [(row, extract_features(row.request).category.value) for row in rows]


def measure(predicted: Sequence[tuple[Labelled, str]]) -> dict[str, Any]:
    """Per-class precision, recall and support, accuracy and confusion pairs of ``predicted``.

    A class the rows never expect still gets a line when something was predicted as it (its
    precision is then 0): a label users never mean is a wrong label.
    """
    expected = Counter(row.category for row, _ in predicted)
    guessed = Counter(label for _, label in predicted)
    hits = Counter(row.category for row, label in predicted if row.category == label)
    classes: dict[str, dict[str, float | int | None]] = {}
    for name in sorted(set(expected) | set(guessed)):
        classes[name] = {
            "precision": hits[name] / guessed[name] if guessed[name] else None,
            "recall": hits[name] / expected[name] if expected[name] else None,
            "support": expected[name],
            "predicted": guessed[name],
        }
    confusions = Counter((row.category, label) for row, label in predicted if row.category != label)
    total = len(predicted)
    return {
        "rows": total,
        "accuracy": sum(hits.values()) / total if total else None,
        "classes": classes,
        "confusions": [
            {"expected": want, "predicted": got, "count": count}
            for (want, got), count in sorted(confusions.items(), key=lambda item: (-item[1], item[0]))
        ],
        "errors": [
            {"id": row.id, "expected": row.category, "predicted": label}
            for row, label in predicted
            if row.category != label
        ],
    }


def _share(value: float | int | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def report(result: Mapping[str, Any]) -> None:
    rows = [
        [name, _share(c["precision"]), _share(c["recall"]), str(c["support"]), str(c["predicted"])]
        for name, c in result["classes"].items()
    ]
    title = (
        f"{result['data']} [{result['split']}]: {result['rows']} rows, accuracy {_share(result['accuracy'])}"
    )
    print_table(title, ["category", "precision", "recall", "support", "predicted"], rows)
    pairs = [[c["expected"], c["predicted"], str(c["count"])] for c in result["confusions"]]
    if pairs:
        print_table("confusions", ["expected", "predicted", "count"], pairs)
    if result["errors"]:
        print("\nmislabelled: " + ", ".join(f"{e['id']} -> {e['predicted']}" for e in result["errors"]))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.categories", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="labelled requests (JSON Lines)")
    parser.add_argument("--split", choices=SPLITS, default="all", help="which part of the set to measure")
    json_flag(parser)
    args = parser.parse_args(argv)
    result = measure(predict(load_rows(args.data, args.split)))
    result["data"] = str(args.data)
    result["split"] = args.split
    emit(result, as_json=args.json, report=report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
