"""``bench.routing_quality --learn-from`` / ``--split`` / ``--curve`` on a small synthetic table
whose acceptability its words decide: the real local learner must learn it."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from bench.routing_quality import main

from tests.proxy.learning.workload import workload_body


def write_table(path: Path, rows: int, *, seed: int) -> list[bool]:
    """``rows`` prompts; the weak model fails exactly the hard ones. Returns which are easy."""
    rng = random.Random(seed)
    easy = []
    with path.open("w", encoding="utf-8") as handle:
        for i in range(rows):
            is_easy = rng.random() < 0.6
            request = workload_body(rng, is_easy=is_easy)
            del request["model"]
            scores = {"weak-m": 1.0 if is_easy else 0.0, "strong-m": 1.0}
            handle.write(
                json.dumps({"id": f"synthetic/{seed}/{i}", "request": request, "scores": scores}) + "\n"
            )
            easy.append(is_easy)
    return easy


def test_a_curve_on_halves_of_one_table_shows_the_learner_learning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    table = tmp_path / "table.jsonl"
    write_table(table, 400, seed=1)
    argv = ["--table", str(table), "--weak", "weak-m", "--strong", "strong-m", "--split", "hash"]
    assert main([*argv, "--learn-order", "shuffled", "--curve", "0", "50", "all", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    cold, fifty, everything = report["curve"]
    assert cold["verdicts"] == 0 and fifty["verdicts"] == 50
    assert 150 < everything["verdicts"] < 250  # about half the rows learn, the others are scored
    assert 150 < report["scored_rows"] < 250
    assert everything["apgr"] > cold["apgr"] + 0.2
    assert everything["cost_save_q95"] > cold["cost_save_q95"]


def test_learn_from_another_file_then_score_writes_the_scores(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    train, test, out = tmp_path / "train.jsonl", tmp_path / "test.jsonl", tmp_path / "scores.jsonl"
    write_table(train, 200, seed=2)
    easy = write_table(test, 60, seed=3)
    argv = ["--table", str(test), "--weak", "weak-m", "--strong", "strong-m", "--learn-from", str(train)]
    assert main([*argv, "--learn-samples", "120", "--scores-out", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["learned_rows"] == 120 and report["rows"] == 60
    scores = [json.loads(line)["score"] for line in out.read_text("utf-8").splitlines()]
    assert len(scores) == 60
    # The need-the-strong-model score puts every hard prompt above every easy one.
    assert min(s for s, e in zip(scores, easy, strict=True) if not e) > max(
        s for s, e in zip(scores, easy, strict=True) if e
    )


def test_a_learner_setting_other_than_the_shipped_one_is_measured(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    table = tmp_path / "hyper_table.jsonl"
    write_table(table, 300, seed=4)
    argv = ["--table", str(table), "--weak", "weak-m", "--strong", "strong-m", "--split", "hash"]
    argv += ["--learn-order", "shuffled", "--curve", "0", "all", "--json"]
    # A learner that never uses its score (min_verdicts above the rows learned) stays at the prior.
    assert main([*argv, "--hyper", "min_verdicts=100000", "--hyper", "loss_decay=0.98"]) == 0
    cold, everything = json.loads(capsys.readouterr().out)["curve"]
    assert everything["verdicts"] > 100 and everything["apgr"] == pytest.approx(cold["apgr"])
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out)["curve"][1]["apgr"] > cold["apgr"] + 0.2
    with pytest.raises(SystemExit):
        main([*argv, "--hyper", "no_such_setting=1"])
