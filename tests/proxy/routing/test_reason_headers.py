"""Issue 16, item 11: why was this routed, in the response headers. A routed answer names the
decision's reason and an escalated one the escalation's, each as a code of its closed vocabulary
(``DecisionReason``, ``EscalationReason``), never as free text; and docs/proxy.md's header table
lists exactly the ``x-modelpilot-*`` headers the proxy can set."""

from __future__ import annotations

import ast
import re
import uuid
from pathlib import Path
from typing import Any

import pytest

from modelpilot.proxy.routing import RoutePlan
from modelpilot.schema.wire import DecisionReason, EscalationReason, RouteDecision
from tests.proxy.routing.conftest import CHEAP, REQUESTED, Harness, cheap_behaves, plain_body

ROOT = Path(__file__).resolve().parents[3]
PROXY_SOURCE = ROOT / "src" / "modelpilot" / "proxy"
HEADER_NAME = re.compile(r"x-modelpilot-[a-z0-9-]+")


def create(proxy: Any, body: dict[str, Any], **headers: str) -> Any:
    """The raw response of one non-streaming create through the SDK (parsed, so it completed)."""
    with proxy.sdk(**headers) as sdk:
        raw = sdk.messages.with_raw_response.create(**body)
        raw.parse()
        return raw


def test_a_routed_answer_carries_its_decision_reason(harness: Harness) -> None:
    control, url = harness.control_plane()
    proxy = harness.proxy(url)
    raw = create(proxy, cheap_behaves("normal", plain_body))
    assert raw.headers["x-modelpilot-routed"] == "true"
    assert raw.headers["x-modelpilot-served-model"] == CHEAP
    assert raw.headers["x-modelpilot-decision-reason"] == DecisionReason.CHEAPER_MODEL
    assert "x-modelpilot-escalation-reason" not in raw.headers
    # The same code as the request's record (what the request log shows).
    record = proxy.record_for(raw.headers["request-id"])
    assert record.decision_reason == raw.headers["x-modelpilot-decision-reason"]
    assert record.decision_id == control.decision_ids[-1]


def test_a_decision_not_to_route_carries_its_reason_too(harness: Harness) -> None:
    _, url = harness.control_plane(mode="requested")
    proxy = harness.proxy(url)
    raw = create(proxy, plain_body(1))
    assert raw.headers["x-modelpilot-routed"] == "false"
    assert raw.headers["x-modelpilot-decision-reason"] == DecisionReason.REQUESTED_MODEL
    assert "x-modelpilot-escalation-reason" not in raw.headers


def test_without_a_decision_there_is_no_decision_reason(harness: Harness) -> None:
    _, url = harness.control_plane(mode="status_500")
    proxy = harness.proxy(url)
    raw = create(proxy, plain_body(2))
    assert "x-modelpilot-fail-open" in raw.headers
    assert "x-modelpilot-decision-reason" not in raw.headers
    assert "x-modelpilot-escalation-reason" not in raw.headers


@pytest.mark.parametrize(
    ("behaviour", "fault", "reason"),
    [
        ("refusal", None, EscalationReason.REFUSAL),
        ("empty", None, EscalationReason.EMPTY),
        ("normal", f"status=529;model={CHEAP}", EscalationReason.OVERLOADED),
        ("normal", f"status=429;model={CHEAP}", EscalationReason.RATE_LIMITED),
    ],
)
def test_an_escalated_answer_carries_its_escalation_reason(
    harness: Harness, behaviour: str, fault: str | None, reason: EscalationReason
) -> None:
    _, url = harness.control_plane()
    proxy = harness.proxy(url)
    raw = create(proxy, cheap_behaves(behaviour, plain_body), **({"x-sim-fault": fault} if fault else {}))
    assert raw.headers["x-modelpilot-escalated"] == "true"
    assert raw.headers["x-modelpilot-served-model"] == REQUESTED
    assert raw.headers["x-modelpilot-escalation-reason"] == reason
    # The decision that routed it is still named.
    assert raw.headers["x-modelpilot-decision-reason"] == DecisionReason.CHEAPER_MODEL
    assert proxy.record_for(raw.headers["request-id"]).escalated


def _decision(reason: DecisionReason) -> RouteDecision:
    return RouteDecision(
        decision_id=str(uuid.uuid4()),
        model=REQUESTED,
        routed=False,
        reason=reason,
        ttl_s=0,
        bucket="chat:t0",
    )


@pytest.mark.parametrize("reason", list(DecisionReason))
def test_every_decision_reason_goes_out_as_its_code(reason: DecisionReason) -> None:
    plan = RoutePlan(requested_model=REQUESTED, decision=_decision(reason))
    headers = dict(plan.headers(served_model=REQUESTED, escalated=False))
    assert headers[b"x-modelpilot-decision-reason"] == reason.value.encode()


@pytest.mark.parametrize(
    ("failure", "code"),
    [
        *((reason.value, reason.value) for reason in EscalationReason),
        ("status_500", "server_error"),
        ("status_400", "client_error"),
        ("status_529", "overloaded"),
        # A failure kind this version does not know, or anything text-like, is only "other".
        ("something new", "other"),
        ("x\r\nset-cookie: a=b", "other"),
        (None, "other"),
    ],
)
def test_an_escalation_reason_goes_out_only_as_a_code(failure: str | None, code: str) -> None:
    plan = RoutePlan(requested_model=REQUESTED, decision=_decision(DecisionReason.CHEAPER_MODEL))
    headers = dict(plan.headers(served_model=REQUESTED, escalated=True, escalation_reason=failure))
    assert headers[b"x-modelpilot-escalation-reason"] == code.encode()
    assert code in set(EscalationReason)
    not_escalated = dict(plan.headers(served_model=REQUESTED, escalated=False, escalation_reason=failure))
    assert b"x-modelpilot-escalation-reason" not in not_escalated


# -- the documentation's header table and the code agree -------------------------------------------
def documented_headers() -> dict[str, str]:
    """docs/proxy.md's response-header table: ``{header name: its description}``."""
    text = (ROOT / "docs" / "proxy.md").read_text("utf-8")
    section = text.split("## Why was this routed? The response headers", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        match = re.fullmatch(r"\|\s*`(x-modelpilot-[^`]+)`\s*\|(.*)\|", line.strip())
        if match:
            rows[match.group(1)] = match.group(2)
    assert rows, "no header table found in docs/proxy.md"
    return rows


def headers_the_proxy_sets() -> set[str]:
    """Every ``x-modelpilot-*`` name the proxy's code holds as a literal (str or bytes) of its own:
    the response headers it can set (it sends no such request header). Docstrings and comments,
    which only mention names, are not literals of a name alone."""
    names = set()
    for path in PROXY_SOURCE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str | bytes):
                value = node.value.decode("latin-1") if isinstance(node.value, bytes) else node.value
                if HEADER_NAME.fullmatch(value):
                    names.add(value)
    return names


def test_the_header_table_lists_exactly_the_headers_the_proxy_sets() -> None:
    documented = set(documented_headers())
    in_code = headers_the_proxy_sets()
    assert {"x-modelpilot-decision-reason", "x-modelpilot-escalation-reason"} <= in_code
    assert in_code - documented == set(), "set by the proxy but not in docs/proxy.md's table"
    assert documented - in_code == set(), "in docs/proxy.md's table but never set by the proxy"


def test_the_header_table_names_every_reason_code() -> None:
    rows = documented_headers()
    decision = set(re.findall(r"`([a-z_]+)`", rows["x-modelpilot-decision-reason"]))
    escalation = set(re.findall(r"`([a-z_]+)`", rows["x-modelpilot-escalation-reason"]))
    assert decision == {r.value for r in DecisionReason}
    assert escalation == {r.value for r in EscalationReason}
