"""The usage bucket, declared once: which fields of a :class:`~modelpilot.schema.wire.MeterRow`
name its bucket and which are the counters summed into it.

A bucket is one hour x category x requested x served x routed x escalated (of one deployment, on
either side). Every other field of ``MeterRow`` is an additive counter: a bounded non-negative
integer that rows of one bucket add up. The proxy's spool, the control plane's table, its
ingestion upsert, the usage sums and the CSV export are built from these names, so a counter
added to the wire model reaches each of them (``tests/control/test_usage_columns.py`` follows
every counter from the spool to the console's JSON and CSV).
"""

from __future__ import annotations

from typing import Final

import annotated_types

from modelpilot.schema.wire import MeterRow

#: What names a bucket (the wire model's field order): rows with equal values are one bucket.
BUCKET_KEY: Final[tuple[str, ...]] = (
    "hour",
    "category",
    "requested_model",
    "served_model",
    "routed",
    "escalated",
)
#: Every other field of the wire model, in its order: the additive counters.
COUNTERS: Final[tuple[str, ...]] = tuple(name for name in MeterRow.model_fields if name not in BUCKET_KEY)


def is_money(counter: str) -> bool:
    """Whether a counter is integer micro-dollars (money names its unit: ``*_micros``)."""
    return counter.endswith("_micros")


def counter_bound(counter: str) -> int:
    """The most one ``MeterRow`` may carry of ``counter`` (the wire contract's bound)."""
    metadata = MeterRow.model_fields[counter].metadata
    return min(
        item.le for item in metadata if isinstance(item, annotated_types.Le) and isinstance(item.le, int)
    )


def _check_declaration() -> None:
    # The declaration follows the wire model; a field that fits neither role stops the import.
    fields = MeterRow.model_fields
    missing = [name for name in BUCKET_KEY if name not in fields]
    if missing:
        raise TypeError(f"bucket key fields missing from MeterRow: {missing}")
    for name in COUNTERS:
        if fields[name].annotation is not int:
            raise TypeError(f"MeterRow.{name} is neither a bucket key field nor an integer counter")
        counter_bound(name)  # a counter without an upper bound raises here (min of nothing)


_check_declaration()

__all__ = ["BUCKET_KEY", "COUNTERS", "counter_bound", "is_money"]
