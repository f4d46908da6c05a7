"""The routing metrics on tiny hand-computed tables, and bench.routing_quality's main()."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from bench.routing_quality import Outcome, fixed_policy, main, router_metrics, routing_curve

# Two prompts only the strong model gets right, two that both get right; the strong model costs
# 10 per prompt and the weak one 1. r_weak = 0.5, r_strong = 1.0, cost(always strong) = 40.
TABLE = [Outcome(0, 1, 1, 10), Outcome(0, 1, 1, 10), Outcome(1, 1, 1, 10), Outcome(1, 1, 1, 10)]
ORACLE = [1.0, 1.0, 0.0, 0.0]


def test_oracle_curve_and_metrics() -> None:
    points = routing_curve(ORACLE, TABLE)
    assert [(p.c, p.quality, p.cost) for p in points] == [(0.0, 0.5, 4), (0.5, 1.0, 22), (1.0, 1.0, 40)]
    m = router_metrics(ORACLE, TABLE)
    # PGR rises 0 -> 1 over c in [0, 0.5] then stays 1: area 0.25 + 0.5
    assert m.apgr == pytest.approx(0.75)
    assert m.cpt50 == pytest.approx(0.25)
    assert m.cpt80 == pytest.approx(0.4)
    # quality 0.95 is reached 90 % along the first segment: cost 4 + 0.9 * 18 = 20.2
    assert m.cost_save_q95 == pytest.approx(1 - 20.2 / 40)


def test_random_is_the_expectation_over_orders() -> None:
    m = router_metrics([0.3] * 4, TABLE)
    assert m.apgr == pytest.approx(0.5)
    assert m.cpt50 == pytest.approx(0.5)
    assert m.cpt80 == pytest.approx(0.8)
    assert m.cost_save_q95 == pytest.approx(1 - (4 + 0.9 * 36) / 40)


def test_worst_order() -> None:
    m = router_metrics([0.0, 0.0, 1.0, 1.0], TABLE)
    assert m.apgr == pytest.approx(0.25)
    assert m.cpt50 == pytest.approx(0.75)


def test_fixed_policies() -> None:
    assert fixed_policy(TABLE, strong=False) == (0.0, None)  # quality 0.5 < 0.95: never qualifies
    assert fixed_policy(TABLE, strong=True) == (1.0, 0.0)
    good_weak = [Outcome(1, 1, 1, 10)] * 19 + [Outcome(0, 1, 1, 10)]
    pgr, save = fixed_policy(good_weak, strong=False)
    assert (pgr, save) == (0.0, pytest.approx(0.9))


def test_undefined_when_both_models_are_equal() -> None:
    m = router_metrics([0.1, 0.2], [Outcome(1, 1, 1, 2), Outcome(0, 0, 1, 2)])
    assert m.apgr is None and m.cpt50 is None


def _write_table(path: Path) -> None:
    prompts = [
        ("t/0", "What is 2 + 2?", 1.0, 1.0),
        ("t/1", "Prove that the square root of 2 is irrational, step by step.", 0.0, 1.0),
        ("t/2", "hi", 1.0, 1.0),
        ("t/3", "Write a Python function that merges k sorted lists efficiently.", 0.0, 1.0),
        ("t/4", "Name a primary colour.", 1.0, 0.0),
    ]
    with path.open("w") as handle:
        for row_id, prompt, weak, strong in prompts:
            row = {
                "id": row_id,
                "suite": "test",
                "label": "x",
                "request": {"max_tokens": 64, "messages": [{"role": "user", "content": prompt}]},
                "scores": {"small": weak, "big": strong, "other": 0.5},
            }
            handle.write(json.dumps(row) + "\n")
        handle.write(
            json.dumps({"id": "t/5", "request": {"max_tokens": 1, "messages": []}, "scores": {"small": 1}})
            + "\n"
        )


def test_main_on_a_tiny_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    table = tmp_path / "tiny.jsonl"
    _write_table(table)
    out = tmp_path / "scores.jsonl"
    assert (
        main(
            ["--table", str(table), "--weak", "small", "--strong", "big", "--scores-out", str(out), "--json"]
        )
        == 0
    )
    report = json.loads(capsys.readouterr().out)
    assert report["rows"] == 5  # the row without both scores is skipped
    assert set(report["results"]) == {"router", "random", "oracle", "always-weak", "always-strong"}
    assert report["results"]["random"]["apgr"] == pytest.approx(0.5)
    assert report["results"]["oracle"]["apgr"] >= report["results"]["router"]["apgr"]
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["id"] for line in lines] == ["t/0", "t/1", "t/2", "t/3", "t/4"]
    assert all(0.0 <= line["score"] <= 1.0 for line in lines)


def test_main_prints_a_table_for_another_model_pair(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    table = tmp_path / "tiny.jsonl"
    _write_table(table)
    args = [
        "--table",
        str(table),
        "--weak",
        "other",
        "--strong",
        "big",
        "--weak-price-model",
        "claude-sonnet-4-6",
    ]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "APGR" in printed and "always-strong" in printed
