"""Decision ids any replica can verify without storage: a UUID whose last half is an HMAC of its
first half and the deployment's id under the server secret.

``/v1/logs`` stores a record's ``decision_id`` only if this server issued it to that deployment
(docs/privacy.md): a proxy cannot pick the 16 bytes, so the field cannot carry data of its own.
Every replica with the same session secrets agrees, with no table to share; secrets rotate as the
sessions' do (the first one issues, every one verifies).

>>> deployment = uuid.UUID(int=7)
>>> issued = issue_decision_id(("s" * 32,), deployment)
>>> is_issued(issued, ("s" * 32,), deployment), is_issued(issued, ("s" * 32,), uuid.UUID(int=8))
(True, False)
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from collections.abc import Sequence

_PURPOSE = b"modelpilot decision id\x00"


def _tag(secret: str, deployment_id: uuid.UUID, head: bytes) -> bytes:
    digest = hmac.new(secret.encode("utf-8"), _PURPOSE + deployment_id.bytes + head, hashlib.sha256).digest()
    tag = bytearray(digest[:8])
    tag[0] = (tag[0] & 0x3F) | 0x80  # the RFC 4122 variant bits, so the id is a valid UUID
    return bytes(tag)


def issue_decision_id(secrets_: Sequence[str], deployment_id: uuid.UUID) -> str:
    """A fresh decision id for ``deployment_id`` (a version-4-shaped UUID), signed with the first
    secret."""
    head = bytearray(secrets.token_bytes(8))
    head[6] = (head[6] & 0x0F) | 0x40  # version 4
    return str(uuid.UUID(bytes=bytes(head) + _tag(secrets_[0], deployment_id, bytes(head))))


def is_issued(decision_id: str, secrets_: Sequence[str], deployment_id: uuid.UUID) -> bool:
    """Whether ``decision_id`` was issued to ``deployment_id`` under one of ``secrets_``."""
    try:
        raw = uuid.UUID(decision_id).bytes
    except ValueError:
        return False
    head, tag = raw[:8], raw[8:]
    return any(hmac.compare_digest(tag, _tag(secret, deployment_id, head)) for secret in secrets_)


__all__ = ["is_issued", "issue_decision_id"]
