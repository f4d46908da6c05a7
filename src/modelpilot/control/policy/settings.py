"""A deployment's routing settings: the shape the console edits and the policy reads.

>>> RoutingSettings(mode="shadow", quality_target=0.9).mode
'shadow'
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from modelpilot.schema.catalog import Catalog
from modelpilot.schema.wire import Category

RoutingMode = Literal["off", "shadow", "on"]
DEFAULT_CALIBRATION_RATE_BPS = 200
DEFAULT_CALIBRATION_DAILY_CAP_MICROS = 1_000_000
#: $10,000 a day: far above any sensible cap, and inside the wire contract's money bound.
MAX_CALIBRATION_DAILY_CAP_MICROS = 10_000_000_000
QualityTarget = Annotated[float, Field(ge=0.5, le=0.999, allow_inf_nan=False)]


class CategoryRule(BaseModel):
    """What routing does for one task category: ``never`` serves the requested model; ``route``
    routes, optionally with its own quality target."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    action: Literal["route", "never"] = "route"
    quality_target: QualityTarget | None = None


class RoutingSettings(BaseModel):
    """Everything a deployment decides about routing. Model ids are checked against the catalog
    by :func:`catalog_problems` (the model alone cannot know the catalog)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: RoutingMode = "on"
    quality_target: QualityTarget = 0.95
    #: Model ids routing may choose; None means every routable model in the catalog.
    allowed_models: list[str] | None = None
    category_rules: dict[Category, CategoryRule] = Field(default_factory=dict)
    #: Requested model id -> the model always served for it.
    pins: dict[str, str] = Field(default_factory=dict)
    metadata_logs: bool = False
    log_retention_days: Annotated[int, Field(ge=1)] = 30
    #: Paired checks (calibration): the share of routable requests the proxy also answers with
    #: the cheaper candidate and judges, in basis points (200 = 2 %; 0 turns them off) ...
    calibration_rate_bps: Annotated[int, Field(ge=0, le=10_000)] = DEFAULT_CALIBRATION_RATE_BPS
    #: ... and the most their extra calls may cost per UTC day, in micro-dollars.
    calibration_daily_cap_micros: Annotated[int, Field(ge=0, le=MAX_CALIBRATION_DAILY_CAP_MICROS)] = (
        DEFAULT_CALIBRATION_DAILY_CAP_MICROS
    )


def catalog_problems(
    settings: RoutingSettings, catalog: Catalog, *, max_retention_days: int
) -> list[tuple[str, str]]:
    """Where ``settings`` disagrees with the catalog or the control plane's limits, as
    ``(json_path, reason)`` pairs; empty when the settings are usable."""
    problems: list[tuple[str, str]] = []
    for index, model_id in enumerate(settings.allowed_models or ()):
        if model_id not in catalog:
            problems.append((f"$.allowed_models[{index}]", "unknown_model"))
    for requested, served in settings.pins.items():
        if requested not in catalog:
            problems.append((f"$.pins.{requested}", "unknown_model"))
        spec = catalog.get(served)
        if spec is None:
            problems.append((f"$.pins.{requested}", "unknown_served_model"))
        elif not spec.is_routable:
            problems.append((f"$.pins.{requested}", "served_model_not_routable"))
    if settings.log_retention_days > max_retention_days:
        problems.append(("$.log_retention_days", f"at_most_{max_retention_days}"))
    return problems
