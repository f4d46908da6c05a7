"""An Anthropic-compatible upstream simulator, faithful to the wire protocol, for tests, the demo
and benchmarks. Deterministic: the same request to the same model gives the same answer.

Contract: ``create_app(SimSettings(...))`` returns a raw ASGI app serving ``/v1/messages`` (JSON
and SSE), ``/v1/messages/count_tokens``, ``/v1/models`` and ``/v1/messages/batches``, plus the
admin endpoints ``/_sim/health`` and ``/_sim/faults``. Fault injection (``x-sim-fault``,
``x-sim-latency``) is described in :mod:`modelpilot.sim.faults`, the per-model behaviour profiles
(``x-sim-behaviour``) in :mod:`modelpilot.sim.profiles`. Imports only ``modelpilot.schema``;
nothing is created at import time.
"""

from __future__ import annotations

from modelpilot.sim.app import SimApp, create_app
from modelpilot.sim.settings import SimSettings

__all__ = ["SimApp", "SimSettings", "create_app"]
