"""The benchmark-label → category mapping the classifier is trained on (training/tables.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from training.tables import category_of, read_rows

from modelpilot.proxy.features import Category


@pytest.mark.parametrize(
    ("suite", "label", "expected"),
    [
        ("routellm-mmlu", "high_school_mathematics", Category.MATH),
        ("routellm-mmlu", "college_computer_science", Category.CODE),
        ("routellm-mmlu", "formal_logic", Category.REASONING),
        ("routellm-mmlu", "anatomy", Category.QA),
        ("routellm-gsm8k", "math_word_problem", Category.MATH),
        ("routerarena-sub10", "WMT19-de-en", Category.TRANSLATION),
        ("routerarena-sub10", "LiveCodeBench", Category.CODE),
        ("routerarena-sub10", "AIME", Category.MATH),
        ("routerarena-sub10", "Ethics_justice", Category.CLASSIFICATION),
        ("routerarena-sub10", "ChessInstruct", Category.REASONING),
        ("routerarena-sub10", "NarrativeQA", Category.QA),
        ("arena-hard-categories", "creative_writing", Category.CREATIVE_WRITING),
        ("arena-hard-categories", "AWS Cloud Services Essentials", None),
        ("unknown-suite", "x", None),
    ],
)
def test_category_of(suite: str, label: str, expected: Category | None) -> None:
    assert category_of(suite, label) is expected


def test_read_rows_skips_rows_without_both_scores(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    rows = [
        {
            "id": "a",
            "suite": "routellm-gsm8k",
            "label": "l",
            "request": {"messages": []},
            "scores": {"w": 0, "s": 1},
        },
        {"id": "b", "suite": "routellm-gsm8k", "label": "l", "request": {"messages": []}, "scores": {"w": 1}},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    read = read_rows(path, ("w", "s"))
    assert [(r.id, r.weak, r.strong, r.category) for r in read] == [("a", 0.0, 1.0, Category.MATH)]
