"""Local request features: what the proxy may tell the control plane about a request.

Contract: :func:`extract_features` turns an Anthropic Messages request body into
:class:`Features`, a frozen record of numbers, booleans and the task
:class:`~modelpilot.schema.wire.Category`; never text, hashes or embeddings of text. It runs in
pure Python (no numpy), in bounded time for any request size, and loads its small shipped
weights (``data/router.json``) on first use, not at import. :func:`need_strong_score` is the
routing policy's score over those features.

>>> from modelpilot.proxy.features import extract_features, need_strong_score
>>> f = extract_features({"max_tokens": 256, "messages": [{"role": "user", "content": "Solve 3x + 5 = 20."}]})
>>> f.category.value, 0.0 <= need_strong_score(f) <= 1.0
('math', True)
"""

from __future__ import annotations

from modelpilot.proxy.features.artifact import ArtifactError, RouterModel, load_router_model
from modelpilot.proxy.features.extract import Features, extract_features
from modelpilot.proxy.features.score import need_strong_score
from modelpilot.schema.wire import Category

__all__ = [
    "ArtifactError",
    "Category",
    "Features",
    "RouterModel",
    "extract_features",
    "load_router_model",
    "need_strong_score",
]
