"""The local learner on the routing path: its score goes out in the route request (and splits
the decision cache), escalations and feedback teach it, all through the real proxy."""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

import orjson
from click.testing import CliRunner

from modelpilot.cli import main
from modelpilot.proxy.decisions import bucket_key, build_route_request
from modelpilot.proxy.learning import LocalLearner
from modelpilot.schema.wire import RouteRequest
from tests.proxy.learning.workload import workload_body
from tests.proxy.routing.conftest import CHEAP, REQUESTED, Harness, body_for, cheap_behaves, plain_body


def trained(path: Path | None = None, count: int = 200) -> LocalLearner:
    learner = LocalLearner(path)
    rng = random.Random(3)
    for i in range(count):
        is_easy = i % 2 == 0
        example = learner.example_of(workload_body(rng, is_easy=is_easy, model=REQUESTED))
        learner.record(
            example, requested_model=REQUESTED, candidate_model=CHEAP, acceptable=is_easy, source="verdict"
        )
    learner.drain()
    if path is not None:
        learner.save()
    return learner


def wait_for(predicate: Any) -> None:
    deadline = time.monotonic() + 10
    while not predicate():
        assert time.monotonic() < deadline, "the learner never got the outcome"
        time.sleep(0.005)


def test_the_route_request_carries_the_learned_score_and_the_bucket_its_band() -> None:
    learner = trained()
    rng = random.Random(8)
    easy = build_route_request(workload_body(rng, is_easy=True, model=REQUESTED), learner)
    hard = build_route_request(workload_body(rng, is_easy=False, model=REQUESTED), learner)
    assert easy is not None and hard is not None
    assert easy.features.learned_verdicts == hard.features.learned_verdicts == 200
    assert easy.features.learned_acceptable is not None and hard.features.learned_acceptable is not None
    assert easy.features.learned_acceptable > 0.8 > 0.3 > hard.features.learned_acceptable
    # Same category, size and difficulty band: only the learned band tells them apart.
    assert bucket_key(easy) != bucket_key(hard)
    assert ":l" in bucket_key(easy)
    # Without a learner (or before enough verdicts) nothing learned is sent, and no band.
    plain = build_route_request(workload_body(rng, is_easy=True, model=REQUESTED))
    assert plain is not None and plain.features.learned_acceptable is None
    assert plain.features.learned_verdicts == 0 and ":l" not in bucket_key(plain)


def test_the_proxy_sends_its_learned_score(harness: Harness, tmp_path: Path) -> None:
    path = tmp_path / "learner.json"
    trained(path)
    control, url = harness.control_plane(mode="requested")
    proxy = harness.proxy(url, learner_path=str(path))
    rng = random.Random(11)
    with proxy.sdk() as sdk:
        sdk.messages.create(**workload_body(rng, is_easy=True, model=REQUESTED))
        sdk.messages.create(**workload_body(rng, is_easy=False, model=REQUESTED))
    easy, hard = (RouteRequest.model_validate_json(body) for body in control.route_bodies()[-2:])
    assert easy.features.learned_verdicts == 200
    assert easy.features.learned_acceptable is not None and hard.features.learned_acceptable is not None
    assert easy.features.learned_acceptable > hard.features.learned_acceptable


def test_an_escalation_teaches_the_learner_not_acceptable(harness: Harness, tmp_path: Path) -> None:
    _, url = harness.control_plane()
    proxy = harness.proxy(url, learner_path=str(tmp_path / "learner.json"))
    assert proxy.app.router is not None and proxy.app.router.learner is not None
    learner = proxy.app.router.learner
    body = cheap_behaves("refusal", lambda i: body_for(f"Plan a trip to place {i}."))
    with proxy.sdk() as sdk:
        raw = sdk.messages.with_raw_response.create(**body)
    assert raw.headers["x-modelpilot-escalated"] == "true"
    wait_for(lambda: learner.outcomes(REQUESTED) == 1)
    assert learner.verdicts(REQUESTED) == 0  # an escalation is not a paired-check verdict
    (item,) = learner._heads[REQUESTED].ring
    assert item.acceptable is False and item.weight == 0.5


def test_feedback_on_a_routed_answer_teaches_the_learner(
    harness: Harness, client_bytes: Any, tmp_path: Path
) -> None:
    _, url = harness.control_plane()
    proxy = harness.proxy(url, learner_path=str(tmp_path / "learner.json"))
    assert proxy.app.router is not None and proxy.app.router.learner is not None
    learner = proxy.app.router.learner
    body = cheap_behaves("normal", plain_body)
    with proxy.sdk() as sdk:
        raw = sdk.messages.with_raw_response.create(**body)
    assert raw.headers["x-modelpilot-routed"] == "true"
    request_id = raw.headers["request-id"]
    proxy.record_for(request_id)
    status, _ = client_bytes(proxy.url + "/modelpilot/feedback", orjson.dumps({"request_id": request_id}))
    assert status == 202
    wait_for(lambda: learner.outcomes(REQUESTED) == 1)
    (item,) = learner._heads[REQUESTED].ring
    assert item.acceptable is False
    # A second report of the same answer teaches nothing more.
    client_bytes(proxy.url + "/modelpilot/feedback", orjson.dumps({"request_id": request_id}))
    assert learner.pending == 0 and learner.outcomes(REQUESTED) == 1


def test_inspect_shows_the_learned_score_from_the_learner_file(tmp_path: Path) -> None:
    path = tmp_path / "learner.json"
    trained(path)
    request_file = tmp_path / "request.json"
    request_file.write_bytes(orjson.dumps(workload_body(random.Random(4), is_easy=True, model=REQUESTED)))
    result = CliRunner().invoke(main, ["inspect", str(request_file), "--learner", str(path)])
    assert result.exit_code == 0, result.output
    sent = RouteRequest.model_validate_json(result.stdout_bytes)
    assert sent.features.learned_verdicts == 200
    assert sent.features.learned_acceptable is not None and sent.features.learned_acceptable > 0.8
    # The learner's file adds a probability and a count, nothing of its examples or weights.
    assert set(orjson.loads(result.stdout_bytes)["features"]) == set(type(sent.features).model_fields)
    without = CliRunner().invoke(
        main, ["inspect", str(request_file), "--learner", str(tmp_path / "none.json")]
    )
    assert orjson.loads(without.stdout_bytes)["features"]["learned_acceptable"] is None
