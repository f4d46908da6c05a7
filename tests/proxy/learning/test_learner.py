"""The local learner as a unit: it learns a separable workload, keeps to its bounds, survives a
restart and a corrupt file, and never raises from ``record``."""

from __future__ import annotations

import asyncio
import logging
import random
from pathlib import Path

import pytest

from modelpilot.proxy.features import need_strong_score
from modelpilot.proxy.learning import Example, Hyper, LocalLearner
from modelpilot.proxy.learning.head import Head
from modelpilot.proxy.learning.learner import MAX_HEADS, MAX_PENDING
from tests.proxy.learning.workload import MODEL, workload_body

CHEAP = "claude-haiku-4-5"


def teach(learner: LocalLearner, count: int, *, seed: int = 1, model: str = MODEL) -> None:
    rng = random.Random(seed)
    for i in range(count):
        is_easy = i % 2 == 0
        example = learner.example_of(workload_body(rng, is_easy=is_easy, model=model))
        learner.record(
            example, requested_model=model, candidate_model=CHEAP, acceptable=is_easy, source="verdict"
        )
    learner.drain()


def scores(learner: LocalLearner, *, is_easy: bool, seed: int = 99) -> list[float]:
    rng = random.Random(seed)
    out = []
    for _ in range(40):
        score = learner.predict(learner.example_of(workload_body(rng, is_easy=is_easy)), MODEL)
        assert score.acceptable is not None
        out.append(score.acceptable)
    return out


def test_it_learns_a_workload_its_words_separate() -> None:
    learner = LocalLearner()
    teach(learner, 200)
    easy, hard = scores(learner, is_easy=True), scores(learner, is_easy=False)
    assert min(easy) > max(hard)
    assert sum(easy) / len(easy) > 0.8
    assert sum(hard) / len(hard) < 0.3


def test_it_says_nothing_before_enough_verdicts_and_escalations_are_not_verdicts() -> None:
    learner = LocalLearner(hyper=Hyper(min_verdicts=10))
    example = learner.example_of(workload_body(random.Random(0), is_easy=True))
    assert learner.predict(example, MODEL).acceptable is None
    for _ in range(20):
        learner.record(
            example, requested_model=MODEL, candidate_model=CHEAP, acceptable=False, source="escalation"
        )
    learner.drain()
    assert learner.predict(example, MODEL).acceptable is None
    assert learner.predict(example, MODEL).verdicts == 0
    teach(learner, 10)
    score = learner.predict(example, MODEL)
    assert score.verdicts == 10 and score.acceptable is not None
    # Another requested model has learned nothing.
    assert learner.predict(example, "claude-sonnet-4-6").acceptable is None


def test_a_learner_without_verdicts_predicts_the_shipped_prior() -> None:
    learner = LocalLearner()
    body = workload_body(random.Random(0), is_easy=False)
    analysis, example = learner.analyse(body)
    head = Head.start(len(example.numbers) - 1, Hyper())
    # The prior's P(acceptable) for a one-large-gap candidate: 1 - need_strong_score.
    assert head.probability(example) == pytest.approx(1 - need_strong_score(analysis.features), abs=1e-9)
    learner.record(example, requested_model=MODEL, candidate_model=CHEAP, acceptable=True, source="nonsense")
    assert learner.pending == 0  # an unknown source teaches nothing


def test_persistence_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "state" / "learner.json"
    learner = LocalLearner(path)
    teach(learner, 120)
    learner.save()
    restored = LocalLearner(path)
    for is_easy in (True, False):
        assert scores(restored, is_easy=is_easy) == scores(learner, is_easy=is_easy)
    assert restored.verdicts(MODEL) == 120
    assert [p.name for p in path.parent.iterdir()] == ["learner.json"]  # no temporary left behind
    # It keeps learning where it stopped.
    teach(restored, 2, seed=5)
    assert restored.verdicts(MODEL) == 122


def test_it_stays_bounded(tmp_path: Path) -> None:
    hyper = Hyper(ring_size=32)
    learner = LocalLearner(tmp_path / "learner.json", hyper=hyper)
    teach(learner, 300)
    for i in range(MAX_HEADS + 5):
        teach(learner, 1, model=f"claude-model-{i}")
    assert len(learner._heads) == MAX_HEADS
    assert all(len(head.ring) <= 32 for head in learner._heads.values())
    learner.save()
    size = (tmp_path / "learner.json").stat().st_size
    teach(learner, 300, seed=2, model="claude-model-20")
    learner.save()
    assert (tmp_path / "learner.json").stat().st_size < 3 * size
    example = learner.example_of(workload_body(random.Random(0), is_easy=True))
    for _ in range(MAX_PENDING + 10):
        learner.record(
            example, requested_model=MODEL, candidate_model=CHEAP, acceptable=True, source="verdict"
        )
    assert learner.pending == MAX_PENDING


@pytest.mark.parametrize(
    "content",
    [
        b"{not json",
        b'{"format_version": 99}',
        b'{"format_version": 1, "buckets": 65536, "numeric_size": 3}',
        b"\x00\xff",
    ],
)
def test_a_corrupt_file_is_one_log_line_and_a_fresh_start(
    tmp_path: Path, content: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "learner.json"
    path.write_bytes(content)
    with caplog.at_level(logging.WARNING, logger="modelpilot.proxy"):
        learner = LocalLearner(path)
    assert len(caplog.records) == 1
    assert "starting from the shipped prior" in caplog.records[0].getMessage()
    example = learner.example_of(workload_body(random.Random(0), is_easy=True))
    assert learner.predict(example, MODEL).verdicts == 0
    teach(learner, 30)
    learner.save()
    assert LocalLearner(path).verdicts(MODEL) == 30


def test_record_never_raises() -> None:
    learner = LocalLearner()
    example = learner.example_of(workload_body(random.Random(0), is_easy=True))
    bad_calls = [
        {"example": "not an example", "requested_model": MODEL},
        {"example": Example((1, 2), (0.5,)), "requested_model": MODEL},
        {"example": example, "requested_model": None},
        {"example": example, "requested_model": "x" * 10_000},
        {"example": example, "requested_model": ""},
    ]
    for call in bad_calls:
        learner.record(candidate_model=CHEAP, acceptable=True, source="verdict", **call)  # type: ignore[arg-type]
    learner.record(example, requested_model=MODEL, candidate_model=CHEAP, acceptable=True, source="judge")
    assert learner.pending == 0


async def test_in_a_running_loop_outcomes_are_applied_soon_after_not_during_the_call() -> None:
    learner = LocalLearner(hyper=Hyper(min_verdicts=1))
    example = learner.example_of(workload_body(random.Random(0), is_easy=True))
    learner.record(example, requested_model=MODEL, candidate_model=CHEAP, acceptable=True, source="verdict")
    assert learner.pending == 1 and learner.verdicts(MODEL) == 0
    await asyncio.sleep(0)  # one turn of the loop: the scheduled drain runs
    assert learner.pending == 0 and learner.verdicts(MODEL) == 1


async def test_aclose_writes_the_file(tmp_path: Path) -> None:
    path = tmp_path / "learner.json"
    learner = LocalLearner(path, save_interval_s=3600)
    example = learner.example_of(workload_body(random.Random(0), is_easy=True))
    learner.record(example, requested_model=MODEL, candidate_model=CHEAP, acceptable=True, source="verdict")
    await learner.aclose()
    assert LocalLearner(path).verdicts(MODEL) == 1


async def test_while_the_file_is_being_written_the_loop_does_not_wait_for_it() -> None:
    learner = LocalLearner()
    example = learner.example_of(workload_body(random.Random(0), is_easy=True))
    learner._lock.acquire()  # as save() holds it in a worker thread while it encodes the file
    try:
        learner.record(
            example, requested_model=MODEL, candidate_model=CHEAP, acceptable=True, source="verdict"
        )
        await asyncio.sleep(0)  # the scheduled drain ran, found the lock taken and did not block
        assert learner.pending == 1
    finally:
        learner._lock.release()
    deadline = asyncio.get_running_loop().time() + 10
    while learner.pending:
        assert asyncio.get_running_loop().time() < deadline, "the drain was never retried"
        await asyncio.sleep(0.01)
    assert learner.verdicts(MODEL) == 1


async def test_an_outcome_from_another_thread_is_applied_by_the_loop() -> None:
    learner = LocalLearner()
    example = learner.example_of(workload_body(random.Random(0), is_easy=True))
    learner.record(example, requested_model=MODEL, candidate_model=CHEAP, acceptable=True, source="verdict")
    await asyncio.sleep(0)  # the learner now knows its loop
    await asyncio.to_thread(
        learner.record,
        example,
        requested_model=MODEL,
        candidate_model=CHEAP,
        acceptable=False,
        source="verdict",
    )
    deadline = asyncio.get_running_loop().time() + 10
    while learner.verdicts(MODEL) < 2:
        assert asyncio.get_running_loop().time() < deadline, "the loop never applied it"
        await asyncio.sleep(0.01)
    assert learner.pending == 0


async def test_a_burst_is_applied_a_few_outcomes_per_turn_of_the_loop() -> None:
    learner = LocalLearner()
    example = learner.example_of(workload_body(random.Random(0), is_easy=True))
    for _ in range(40):
        learner.record(
            example, requested_model=MODEL, candidate_model=CHEAP, acceptable=True, source="verdict"
        )
    await asyncio.sleep(0)
    assert 0 < learner.verdicts(MODEL) < 40  # one batch, then the loop serves others
    for _ in range(10):
        await asyncio.sleep(0)
    assert learner.verdicts(MODEL) == 40 and learner.pending == 0
