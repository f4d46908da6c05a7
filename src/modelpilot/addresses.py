"""Where ``modelpilot up`` listens, kept in its state directory for the other commands.

``up`` writes ``listening.json`` (``{"proxy": url, "control": url, ...}``) once every server
listens and deletes it when it stops; ``modelpilot demo`` reads it to find the proxy whatever
port it was given. Loads neither the proxy nor the control plane.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

ADDRESSES_FILE = "listening.json"


def write_addresses(state_dir: Path, urls: dict[str, str]) -> None:
    """Record ``urls`` (name -> base URL), replacing the previous record atomically."""
    path = state_dir / ADDRESSES_FILE
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(urls, indent=2), "utf-8")
    os.replace(partial, path)


def read_addresses(state_dir: Path) -> dict[str, str]:
    """The URLs a running ``up`` recorded; empty when none runs there (or the file is unreadable)."""
    try:
        raw = json.loads((state_dir / ADDRESSES_FILE).read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(raw, dict):
        return {}
    return {str(k): v for k, v in raw.items() if isinstance(v, str)}


def forget_addresses(state_dir: Path) -> None:
    """Delete the record (``up`` stopped)."""
    (state_dir / ADDRESSES_FILE).unlink(missing_ok=True)
