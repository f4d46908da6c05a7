"""Independent arithmetic for the metering tests: what an SDK response should cost, and what the
control plane stored, so that "nothing lost, nothing counted twice" is checked against numbers
the proxy's own accounting did not produce."""

from __future__ import annotations

import anthropic
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from modelpilot.control.store.tables import UsageAggregate
from modelpilot.schema.catalog import load_catalog

CATALOG = load_catalog()

Totals = tuple[int, int, int, int, int]


def price(usage: anthropic.types.Usage, model: str) -> int:
    """What ``usage`` costs on ``model``, in micro-dollars rounded half up (the catalog's rates,
    computed here independently of the proxy's accounting)."""
    spec = CATALOG.get(model)
    assert spec is not None and spec.pricing is not None
    rates = spec.pricing.base
    write_1h = usage.cache_creation.ephemeral_1h_input_tokens if usage.cache_creation else 0
    write_5m = (usage.cache_creation_input_tokens or 0) - write_1h
    units = (
        usage.input_tokens * rates.input
        + usage.output_tokens * rates.output
        + write_5m * rates.cache_write_5m
        + write_1h * rates.cache_write_1h
        + (usage.cache_read_input_tokens or 0) * rates.cache_read
    )
    return (units + 500_000) // 1_000_000


def metered_totals(engine: Engine) -> Totals:
    """requests, input tokens, output tokens, actual and baseline micro-dollars, as stored."""
    with Session(engine) as session:
        row = session.execute(
            select(
                func.coalesce(func.sum(UsageAggregate.requests), 0),
                func.coalesce(func.sum(UsageAggregate.input_tokens), 0),
                func.coalesce(func.sum(UsageAggregate.output_tokens), 0),
                func.coalesce(func.sum(UsageAggregate.actual_cost_micros), 0),
                func.coalesce(func.sum(UsageAggregate.baseline_cost_micros), 0),
            )
        ).one()
    return (int(row[0]), int(row[1]), int(row[2]), int(row[3]), int(row[4]))
