"""Everything the reliability suite's code under test wrote as logs: records from every logger
in this process, and the stderr/stdout of every subprocess server the suite starts. The last test
greps it all for the suite's secrets (``canaries.py``)."""

from __future__ import annotations

import logging
import threading
from typing import IO

_lock = threading.Lock()
_lines: list[str] = []


class _Handler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
        except Exception:  # a broken record must not break the test that logged it
            text = repr(record.__dict__)
        add(text)


HANDLER = _Handler(level=logging.DEBUG)
HANDLER.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))


def add(text: str) -> None:
    with _lock:
        _lines.append(text)


def lines() -> list[str]:
    with _lock:
        return list(_lines)


def drain_stream(stream: IO[bytes] | None, label: str) -> threading.Thread | None:
    """Copy a subprocess's output into the log book as it comes (a daemon thread), so its pipe
    never fills and nothing it said is missed."""
    if stream is None:
        return None

    def copy() -> None:
        for raw in iter(stream.readline, b""):
            add(f"[{label}] " + raw.decode("utf-8", "replace").rstrip("\n"))
        stream.close()

    thread = threading.Thread(target=copy, daemon=True, name=f"logbook-{label}")
    thread.start()
    return thread
