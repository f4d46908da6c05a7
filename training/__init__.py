"""Offline training of the proxy's small local models (never imported at run time)."""
