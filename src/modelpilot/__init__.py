"""ModelPilot: a cost router for the Anthropic Messages API.

Packages and their contract (see DESIGN.md §9):

- ``modelpilot.schema``  pure and shared: the wire contract, the model catalog, cost arithmetic.
- ``modelpilot.proxy``   the local proxy; imports only ``schema``.
- ``modelpilot.control`` the hosted control plane; imports only ``schema``.
- ``modelpilot.sim``     an Anthropic-compatible upstream simulator for tests, demos and benchmarks.
"""

__version__ = "0.1.0"
