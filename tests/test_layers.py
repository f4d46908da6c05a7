"""The dependency rules of DESIGN.md §9 and STYLE.md §2, enforced on the source tree."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"

# layer -> prefix it must never import (its own modules are always allowed)
FORBIDDEN = {
    "modelpilot.proxy": "modelpilot.control",
    "modelpilot.control": "modelpilot.proxy",
    "modelpilot.schema": "modelpilot.",
    "modelpilot.sim": "modelpilot.",  # the simulator may use schema only, see ALLOWED
}
# modelpilot.servers runs uvicorn for any of our apps; it imports nothing of ours.
ALLOWED = {
    "modelpilot.sim": ("modelpilot.schema", "modelpilot.servers"),
    "modelpilot.proxy": ("modelpilot.servers",),
    "modelpilot.control": ("modelpilot.servers",),
}


def iter_imports(root: Path) -> Iterator[tuple[str, str]]:
    for path in root.rglob("*.py"):
        module = ".".join(path.relative_to(root).with_suffix("").parts).removesuffix(".__init__")
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    yield module, alias.name
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                    yield module, f"{base}.{node.module}" if node.module else base
                elif node.module:
                    yield module, node.module


def test_layers_do_not_cross() -> None:
    crossings = []
    for module, imported in iter_imports(SRC):
        for layer, banned in FORBIDDEN.items():
            if not (module == layer or module.startswith(layer + ".")):
                continue
            if imported.startswith((layer, *ALLOWED.get(layer, ()))):
                continue
            if imported.startswith(banned):
                crossings.append(f"{module} imports {imported}")
    assert crossings == []


@pytest.mark.parametrize("module", ["modelpilot.proxy.app", "modelpilot.proxy.cli", "modelpilot.sim"])
def test_the_proxy_and_simulator_import_without_the_control_plane_dependencies(module: str) -> None:
    """`pip install modelpilot` (no extras) must be enough for the proxy and the simulator."""
    blocker = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in {'fastapi', 'sqlalchemy', 'alembic', 'psycopg', 'jinja2'}:\n"
        "            raise ImportError('blocked ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        f"import {module}\n"
    )
    result = subprocess.run([sys.executable, "-c", blocker], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


def test_importing_the_package_creates_nothing() -> None:
    """Nothing happens at import time: no event loop, no sockets, no threads."""
    probe = (
        "import threading, modelpilot.cli, modelpilot.schema.pricing\n"
        "assert threading.active_count() == 1, threading.enumerate()\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
