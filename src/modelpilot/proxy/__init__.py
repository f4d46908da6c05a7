"""The local proxy: an ASGI app that speaks the Anthropic API to the caller and to Anthropic.

Contract: imports only ``modelpilot.schema`` (never ``modelpilot.control``); installs with the
base dependencies; nothing is created at import time. Prompt text, answers and the caller's
Anthropic key never leave this process except toward the configured Anthropic upstream.
"""
