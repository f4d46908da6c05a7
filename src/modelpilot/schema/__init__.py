"""Pure, shared definitions: the model catalog and prices, cost arithmetic, and the wire contract
between the proxy and the control plane.

Contract: nothing here performs I/O beyond reading the package's own data files, and nothing here
imports any other ``modelpilot`` package. Both ``proxy`` and ``control`` import from here.
"""
