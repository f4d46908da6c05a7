"""The control plane: accounts, deployments, API keys, the routing decision service, ingestion of
aggregates, and the console.

Contract: imports only ``modelpilot.schema`` (never ``modelpilot.proxy``); needs the ``control``
extra; nothing is created at import time.
"""
