"""Evaluators a team might plug in (``--judge-callable tests.proxy.calibration.evaluators:NAME``)."""

from __future__ import annotations

from typing import Any

CASES: list[dict[str, Any]] = []


def reject_unless_identical(case: dict[str, Any]) -> dict[str, bool]:
    CASES.append(case)
    return {"acceptable": case["candidate"]["content"] == case["reference"]["content"]}


async def accept_all(case: dict[str, Any]) -> bool:
    CASES.append(case)
    return True


def broken(case: dict[str, Any]) -> bool:
    raise RuntimeError("the team's evaluator has a bug")


def malformed(case: dict[str, Any]) -> str:
    return "yes"
