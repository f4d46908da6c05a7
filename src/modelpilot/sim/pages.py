"""Cursor pagination as the API does it: ``limit`` (1-1000), ``after_id``, ``before_id``."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from modelpilot.sim.errors import InvalidRequestError

T = TypeVar("T")


def read_limit(query: Mapping[str, str], default: int = 20) -> int:
    raw = query.get("limit")
    if raw is None:
        return default
    try:
        limit = int(raw)
    except ValueError as exc:
        raise InvalidRequestError("limit: Input should be a valid integer") from exc
    if limit < 1:
        raise InvalidRequestError("limit: Input should be greater than or equal to 1")
    if limit > 1000:
        raise InvalidRequestError("limit: Input should be less than or equal to 1000")
    return limit


def paginate(
    items: Sequence[T], query: Mapping[str, str], *, id_of: Callable[[T], str], render: Callable[[T], Any]
) -> dict[str, Any]:
    """One page of ``items`` (already in API order) as ``{data, has_more, first_id, last_id}``."""
    limit = read_limit(query)
    ids = [id_of(item) for item in items]
    after, before = query.get("after_id"), query.get("before_id")
    if before is not None:
        end = ids.index(before) if before in ids else 0
        start = max(0, end - limit)
        page, has_more = items[start:end], start > 0
    else:
        start = ids.index(after) + 1 if after is not None and after in ids else 0
        if after is not None and after not in ids:
            start = len(items)
        page, has_more = items[start : start + limit], start + limit < len(items)
    data = [render(item) for item in page]
    return {
        "data": data,
        "has_more": has_more,
        "first_id": id_of(page[0]) if page else None,
        "last_id": id_of(page[-1]) if page else None,
    }
