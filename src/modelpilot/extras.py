"""How to add one of ModelPilot's optional extras, phrased for the way this copy was installed.

ModelPilot is installed from a source tree, a release archive or a wheel (see docs/install.md),
not from a package index, so ``pip install 'modelpilot[control]'`` would find nothing. pip and
uv record where a package came from (PEP 610, ``direct_url.json``); a hint built from it names
the same place again, which is a command that works.
"""

from __future__ import annotations

import json
from importlib import metadata

#: Where the install guide lives, for messages.
INSTALL_DOC = "docs/install.md"


def installed_from() -> str | None:
    """The ``file://`` URL (or other URL) this distribution was installed from, if recorded."""
    try:
        raw = metadata.distribution("modelpilot").read_text("direct_url.json")
    except metadata.PackageNotFoundError:
        return None
    if not raw:
        return None
    try:
        url = json.loads(raw).get("url")
    except (ValueError, AttributeError):
        return None
    return url if isinstance(url, str) and url else None


def install_command(extra: str) -> str:
    """A pip command that adds ``extra`` to this installation.

    >>> install_command("control")  # doctest: +SKIP
    "pip install 'modelpilot[control] @ file:///home/you/modelpilot'"
    """
    source = installed_from()
    if source is None:
        return f"pip install 'modelpilot[{extra}]' (from the source tree or wheel you installed; see {INSTALL_DOC})"
    return f"pip install 'modelpilot[{extra}] @ {source}'"
