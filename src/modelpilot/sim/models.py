"""``/v1/models``: the catalog as ``ModelInfo`` objects, newest first like the real API."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from modelpilot.schema.catalog import Catalog, ModelSpec
from modelpilot.sim.errors import NotFoundError
from modelpilot.sim.pages import paginate


def model_info(model: ModelSpec) -> dict[str, Any]:
    """A catalog entry as the API's ``ModelInfo``."""
    return {
        "type": "model",
        "id": model.id,
        "display_name": model.display_name,
        "created_at": model.created_at,
        "lifecycle": model.lifecycle,
        "line": model.line,
        "max_input_tokens": model.max_input_tokens,
        "max_tokens": model.max_tokens,
        "deprecated_at": model.deprecated_at,
        "retires_at": model.retires_at,
    }


def _newest_first(catalog: Catalog) -> list[ModelSpec]:
    # A stable sort keeps catalog order among models released the same day.
    return sorted(catalog.models, key=lambda m: m.created_at, reverse=True)


def list_models(catalog: Catalog, query: Mapping[str, str]) -> dict[str, Any]:
    """The ``GET /v1/models`` page for ``query``."""
    return paginate(_newest_first(catalog), query, id_of=lambda m: m.id, render=model_info)


def get_model(catalog: Catalog, model_id: str) -> dict[str, Any]:
    """``GET /v1/models/{id}``; aliases resolve to their model."""
    model = catalog.get(model_id)
    if model is None:
        raise NotFoundError(f"model: {model_id}")
    return model_info(model)
