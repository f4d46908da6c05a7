"""``training.learner_references`` on small synthetic outcome tables (named as the shared ones)
whose acceptability their words decide: every reference router runs, and those that read the
words or the label rank the hard prompts first."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from training.learner_references import main
from training.tables import OUTCOME_TABLES

from tests.proxy.learning.workload import workload_body


def write_tables(directory: Path) -> None:
    rng = random.Random(7)
    for index, (name, (weak, strong)) in enumerate(OUTCOME_TABLES.items()):
        with (directory / name).open("w", encoding="utf-8") as handle:
            for i in range(160):
                is_easy = rng.random() < 0.6
                request = workload_body(rng, is_easy=is_easy)
                del request["model"]
                row = {
                    "id": f"refs/{index}/{i}",
                    "label": "easy" if is_easy else "hard",
                    "request": request,
                    "scores": {weak: 1.0 if is_easy else 0.0, strong: 1.0},
                }
                handle.write(json.dumps(row) + "\n")


@pytest.mark.slow
def test_reference_routers_run_on_every_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_tables(tmp_path)
    assert main(["--data-dir", str(tmp_path), "--samples", "60"]) == 0
    lines = [line.split("  ") for line in capsys.readouterr().out.splitlines()]
    cells = [[cell.strip() for cell in line if cell.strip()] for line in lines]
    apgr = {(c[0], c[2]): float(c[3]) for c in cells if len(c) == 5 and c[1] == "60"}
    assert len(apgr) == 7 * len(OUTCOME_TABLES)
    for table in OUTCOME_TABLES:
        for router in ("batch LR, learner inputs", "batch LR, words", "knows the label"):
            # The oracle's APGR here is about 0.8 (40 % hard prompts, all sent first).
            assert apgr[(table, router)] > apgr[(table, "cold prior")] + 0.2, (table, router, apgr)
