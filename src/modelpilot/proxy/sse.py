"""An incremental Server-Sent Events scanner that reads a stream on the side.

It never changes or holds back a byte: the relay forwards each chunk first and then feeds the same
bytes here. Only events whose name is wanted keep their ``data`` lines, so the bulk of a stream
(``content_block_delta`` text) costs one line split and one prefix check per line.

Lines end in ``\\n``, ``\\r\\n`` or ``\\r`` (the SSE spec and the SDK accept all three), and a chunk
boundary may fall anywhere, including between ``\\r`` and ``\\n``.

>>> scanner = SseScanner({b"message_stop"})
>>> scanner.feed(b"event: message_stop\\ndata: {}\\n") + scanner.feed(b"\\n")
[(b'message_stop', b'{}')]
"""

from __future__ import annotations

from collections.abc import Collection


class SseScanner:
    """Split an SSE byte stream into ``(event name, data)`` pairs for the wanted event names."""

    __slots__ = ("_carry", "_data", "_event", "_skip_lf", "_wanted")

    def __init__(self, wanted: Collection[bytes]) -> None:
        self._wanted = frozenset(wanted)
        self._carry = b""  # an incomplete last line
        self._skip_lf = False  # the previous chunk ended in "\r": a leading "\n" belongs to it
        self._event: bytes | None = None
        self._data: list[bytes] = []

    def feed(self, chunk: bytes) -> list[tuple[bytes, bytes]]:
        """Consume ``chunk`` and return the wanted events it completed, in order."""
        if self._skip_lf:
            self._skip_lf = False
            if chunk[:1] == b"\n":
                chunk = chunk[1:]
        if not chunk:
            return []
        buffer = self._carry + chunk if self._carry else chunk
        lines = buffer.splitlines(keepends=True)
        last = lines[-1]
        if last.endswith(b"\n"):
            self._carry = b""
        elif last.endswith(b"\r"):
            # Complete as a line, but a "\n" opening the next chunk would otherwise count as an
            # empty line and dispatch the event early.
            self._carry = b""
            self._skip_lf = True
        else:
            self._carry = lines.pop()
        found: list[tuple[bytes, bytes]] = []
        for raw in lines:
            line = raw.rstrip(b"\r\n")
            if not line:
                if self._event is not None and self._data:
                    found.append((self._event, b"\n".join(self._data)))
                self._event = None
                self._data = []
            elif line.startswith(b"event:"):
                name = line[6:].strip()
                self._event = name if name in self._wanted else b""
                self._data = []
            elif line.startswith(b"data:") and self._event:
                value = line[5:]
                self._data.append(value[1:] if value[:1] == b" " else value)
        return found
