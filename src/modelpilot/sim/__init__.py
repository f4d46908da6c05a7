"""An Anthropic-compatible upstream simulator, faithful to the wire protocol, for tests, the demo
and benchmarks. Deterministic: the same request to the same model gives the same answer.

Contract: imports only ``modelpilot.schema``; nothing is created at import time.
"""
