"""``modelpilot inspect`` prints what the proxy really sends; ``POST /modelpilot/feedback``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner

from modelpilot.cli import main
from modelpilot.proxy.feedback import Feedback
from tests.proxy.routing.conftest import WEATHER_TOOL, Harness, plain_body


@pytest.mark.parametrize(
    "body",
    [
        plain_body(1),
        {
            **plain_body(2),
            "tools": [WEATHER_TOOL],
            "stream": True,
            "max_tokens": 2048,
            "thinking": {"type": "enabled", "budget_tokens": 1024},
        },
        {**plain_body(3), "system": "Solve: x^2 = 4. def f(): return 1", "max_tokens": 4000},
    ],
)
def test_inspect_prints_exactly_the_bytes_the_control_plane_receives(
    harness: Harness, client_bytes: Any, tmp_path: Path, body: dict[str, Any]
) -> None:
    control, url = harness.control_plane()
    proxy = harness.proxy(url)
    raw = orjson.dumps(body)
    status, _ = client_bytes(proxy.url + "/v1/messages", raw)
    assert status == 200
    request_file = tmp_path / "request.json"
    request_file.write_bytes(raw)
    result = CliRunner().invoke(main, ["inspect", str(request_file)])
    assert result.exit_code == 0, result.output
    assert result.stdout_bytes == control.route_bodies()[0]


def test_inspect_says_when_nothing_would_be_sent(tmp_path: Path) -> None:
    request_file = tmp_path / "request.json"
    request_file.write_bytes(b'{"max_tokens": 5, "messages": []}')
    result = CliRunner().invoke(main, ["inspect", str(request_file)])
    assert result.exit_code == 0 and result.stdout_bytes == b""
    request_file.write_bytes(b"{nope")
    assert CliRunner().invoke(main, ["inspect", str(request_file)]).exit_code == 1


def test_feedback_counts_a_bad_answer_once(harness: Harness, client_bytes: Any) -> None:
    reports: list[Feedback] = []
    _, url = harness.control_plane()
    proxy = harness.proxy(url, app_options={"on_feedback": reports.append})
    with proxy.sdk() as sdk:
        raw = sdk.messages.with_raw_response.create(**plain_body(5))
    request_id = raw.headers["request-id"]
    proxy.record_for(request_id)  # remembered once its record is made
    feedback_url = proxy.url + "/modelpilot/feedback"
    status, answer = client_bytes(feedback_url, orjson.dumps({"request_id": request_id, "reason": "wrong"}))
    assert (status, orjson.loads(answer)) == (202, {"accepted": True, "duplicate": False})
    status, answer = client_bytes(feedback_url, orjson.dumps({"request_id": request_id}))
    assert (status, orjson.loads(answer)) == (202, {"accepted": True, "duplicate": True})
    (report,) = reports
    assert report.request_id == request_id and report.routed and report.category != ""
    status, answer = client_bytes(feedback_url, orjson.dumps({"request_id": "req_unknown"}))
    assert status == 404 and orjson.loads(answer)["error"]["type"] == "not_found_error"
    status, answer = client_bytes(feedback_url, b'{"id": 1}')
    assert status == 400 and orjson.loads(answer)["error"]["type"] == "invalid_request_error"
    assert proxy.app.feedback.reports == 1
