"""Per-model behaviour profiles: which requests a model answers badly, and how.

Cheap models are not always good enough; the proxy's escalation checks exist for that. The
simulator reproduces it deterministically so tests and the demo can rely on it:

* Models of a line with a failure rate (by default only ``haiku``, at
  ``SimSettings.cheap_failure_rate`` = 15 %; ``SimSettings.profiles`` maps line -> rate) misbehave
  on the requests whose hash falls below that rate. Every other line (sonnet, opus, fable, mythos)
  always answers normally.
* The kind of misbehaviour is drawn, again from the request hash, among the kinds that apply:

  ``refusal``         stop_reason ``refusal``, ``stop_details`` {"type": "refusal",
                      "category": "general_harms"} and a one-line text (always applicable)
  ``empty``           ``content: []`` or one empty text block, stop_reason ``end_turn`` (always)
  ``bad_tool_input``  the tool_use input misses a required property or has one of the wrong
                      type (only when the answer calls a tool whose schema can be violated)
  ``bad_json``        structured output that is malformed JSON or violates the schema (only with
                      ``output_config.format`` of type ``json_schema`` and no tool call)

* Header ``x-sim-behaviour: refusal|empty|bad_tool_input|bad_json|normal`` forces a behaviour for
  one request, on any model. ``bad_tool_input`` makes the answer call a tool when the request has
  one; a forced kind that cannot apply (no tools, no schema) falls back to ``normal``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, get_args

from modelpilot.sim.errors import InvalidRequestError

Behaviour = Literal["normal", "refusal", "empty", "bad_tool_input", "bad_json"]
BEHAVIOURS: tuple[Behaviour, ...] = get_args(Behaviour)


def parse_behaviour(value: str | None) -> Behaviour | None:
    """Read the ``x-sim-behaviour`` header (None when absent)."""
    if value is None:
        return None
    value = value.strip()
    for behaviour in BEHAVIOURS:
        if behaviour == value:
            return behaviour
    raise InvalidRequestError(
        f"x-sim-behaviour: unknown behaviour {value!r}; use one of {', '.join(BEHAVIOURS)}"
    )


def choose_behaviour(
    *, failure_rate: float, draw: float, kind_draw: float, applicable: Sequence[Behaviour]
) -> Behaviour:
    """Pick the behaviour for one request from two uniform draws in [0, 1) taken from its hash."""
    if draw >= failure_rate or not applicable:
        return "normal"
    return applicable[min(int(kind_draw * len(applicable)), len(applicable) - 1)]
