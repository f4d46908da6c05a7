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
# modelpilot.servers runs uvicorn for any of our apps and modelpilot.ports checks ports for every
# command; neither imports anything of ours.
ALLOWED = {
    "modelpilot.sim": ("modelpilot.schema", "modelpilot.servers", "modelpilot.ports"),
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


# -- what a command loads, following imports transitively --------------------------------------------
def _module_path(module: str) -> Path | None:
    base = SRC.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports_of(module: str) -> set[str]:
    """Every modelpilot module ``module`` imports, at module level or inside a function (both
    run when the command runs), except type-only imports under ``if TYPE_CHECKING:``."""
    path = _module_path(module)
    assert path is not None, module
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                origin = f"{base}.{node.module}" if node.module else base
            else:
                origin = node.module or ""
            names = [origin, *(f"{origin}.{alias.name}" for alias in node.names)]
        for name in names:
            # Importing a.b.c runs a/__init__ and a/b/__init__ too.
            parts = name.split(".")
            for i in range(1, len(parts) + 1):
                prefix = ".".join(parts[:i])
                if prefix.startswith("modelpilot") and _module_path(prefix) is not None:
                    found.add(prefix)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text("utf-8")))
    return found


def loaded_by(module: str) -> set[str]:
    """The modelpilot modules importing ``module`` can load, transitively."""
    seen: set[str] = set()
    todo = [module]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        todo.extend(_imports_of(current) - seen)
    return seen


@pytest.mark.parametrize("module", ["modelpilot.proxy.cli", "modelpilot.proxy.inspect", "modelpilot.sim.cli"])
def test_the_proxy_commands_never_load_the_control_plane(module: str) -> None:
    """``modelpilot proxy`` (and inspect, sim) must run on the base install: nothing they import,
    directly or through another module (as ``stack.py`` once did), is part of the control plane."""
    reached = sorted(m for m in loaded_by(module) if m.startswith("modelpilot.control"))
    assert reached == []


def test_the_transitive_walk_sees_through_an_intermediate_module() -> None:
    # modelpilot.stack runs the control plane (`up`): reaching it must count as loading it.
    assert "modelpilot.control.settings" in loaded_by("modelpilot.stack")
    assert "modelpilot.control.settings" in loaded_by("modelpilot.demo.cli")


def test_running_modelpilot_proxy_loads_no_control_module() -> None:
    probe = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from modelpilot.cli import main\n"
        "result = CliRunner().invoke(main, ['proxy', '--help'])\n"
        "assert result.exit_code == 0, result.output\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('modelpilot.control'))\n"
        "assert loaded == [], loaded\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


# -- the proxy's request pipeline ----------------------------------------------------------------------
#: The stages of a proxied request in order (proxy/pipeline/__init__.py), then what runs them.
PIPELINE = [
    "modelpilot.proxy.pipeline.read",  # read
    "modelpilot.proxy.features.wire_request",  # plan
    "modelpilot.proxy.decisions",  # decide
    "modelpilot.proxy.routing",  # decide: the route plan
    "modelpilot.proxy.pipeline.attempt",  # attempt / escalate
    "modelpilot.proxy.pipeline.relay",  # relay (commits the charge)
    "modelpilot.proxy.pipeline.meter",  # meter
    "modelpilot.proxy.exchange",  # runs the stages for one request
    "modelpilot.proxy.app",  # the dispatcher
]


@pytest.mark.parametrize("position", range(len(PIPELINE)))
def test_no_pipeline_stage_loads_a_later_one(position: int) -> None:
    """The proxy's import graph reads as a pipeline: a stage may use earlier stages only,
    directly or through any other module."""
    stage = PIPELINE[position]
    assert _module_path(stage) is not None, stage
    later = sorted(set(loaded_by(stage)) & set(PIPELINE[position + 1 :]))
    assert later == [], f"{stage} loads {later}"


def test_the_pipeline_walk_sees_the_stages_it_orders() -> None:
    # The exchange runs read to relay; metering reaches it through the app's ``deliver``.
    assert set(PIPELINE[:6]) <= loaded_by("modelpilot.proxy.exchange")
    assert "modelpilot.proxy.pipeline.meter" in loaded_by("modelpilot.proxy.app")
