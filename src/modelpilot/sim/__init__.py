"""An Anthropic-compatible upstream simulator, faithful to the wire protocol, for tests, the demo
and benchmarks. Deterministic: the same request to the same model gives the same answer.

Contract: ``create_app(SimSettings(...))`` returns a raw ASGI app serving ``/v1/messages`` (JSON
and SSE), ``/v1/messages/count_tokens``, ``/v1/models`` and ``/v1/messages/batches``, plus the
admin endpoints ``/_sim/health`` and ``/_sim/faults``. Fault injection (``x-sim-fault``,
``x-sim-latency``) is described in :mod:`modelpilot.sim.faults`, the per-model behaviour profiles
(``x-sim-behaviour``) in :mod:`modelpilot.sim.profiles`. Prompts have a latent, learnable
difficulty (from their words) that decides which models answer them as well as the strongest and
what the simulator answers as a pairwise judge: :mod:`modelpilot.sim.difficulty` (build workloads
of known difficulty with :func:`make_prompt`) and :mod:`modelpilot.sim.judging`. Imports only ``modelpilot.schema``;
nothing is created at import time.
"""

from __future__ import annotations

from modelpilot.sim.app import SimApp, create_app
from modelpilot.sim.difficulty import WEAK_MARKER, can_answer, make_prompt, prompt_difficulty
from modelpilot.sim.settings import SimSettings

__all__ = [
    "WEAK_MARKER",
    "SimApp",
    "SimSettings",
    "can_answer",
    "create_app",
    "make_prompt",
    "prompt_difficulty",
]
