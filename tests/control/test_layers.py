"""Imports flow one way (STYLE.md §2): control never imports proxy; inside control, the store
never imports the web framework and domain modules never import the HTTP layer."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

import modelpilot

SRC = Path(modelpilot.__file__).parent
WEB = ("fastapi", "starlette", "jinja2", "uvicorn")
RULES: list[tuple[str, tuple[str, ...]]] = [
    ("modelpilot.control", ("modelpilot.proxy", "modelpilot.sim")),
    ("modelpilot.schema.wire", ("modelpilot.control", "modelpilot.proxy", *WEB, "sqlalchemy")),
    ("modelpilot.schema.firewall", ("modelpilot.", *WEB, "sqlalchemy", "pydantic")),
    ("modelpilot.control.store", ("modelpilot.control.http", "modelpilot.control.app", *WEB)),
]
DOMAIN = (
    "accounts", "credentials", "deployments", "errors", "keys", "metering", "passwords", "routing", "tokens",
)  # fmt: skip
RULES += [
    (f"modelpilot.control.{name}", ("modelpilot.control.http", "modelpilot.control.app", *WEB))
    for name in DOMAIN
]
RULES += [
    (f"modelpilot.control.{name}", ("modelpilot.control.http", *WEB)) for name in ("sessions", "throttle")
]


def iter_imports() -> Iterator[tuple[str, str]]:
    for path in SRC.rglob("*.py"):
        module = "modelpilot." + ".".join(path.relative_to(SRC).with_suffix("").parts)
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                yield from ((module, alias.name) for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                yield module, node.module


def test_layers_do_not_cross():
    for module, imported in iter_imports():
        for layer, banned in RULES:
            inside = module == layer or module.startswith(layer + ".")
            if inside and imported.startswith(banned) and not imported.startswith(layer):
                pytest.fail(f"{module} imports {imported}")
