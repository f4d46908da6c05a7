"""The docs and the README say only what the code does: every `modelpilot ...` command they show
exists with the options they give it, every MODELPILOT_* variable is read somewhere, the error
messages they quote are the ones the commands print, and `modelpilot inspect` prints what
privacy.md shows."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from sqlalchemy import select

from modelpilot.cli import main
from modelpilot.control.store.engine import create_db_engine, create_session_factory
from modelpilot.control.store.tables import Deployment

ROOT = Path(__file__).resolve().parents[1]
DOCS = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
_FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)
_INLINE = re.compile(r"`([^`]+)`")
_INVOCATION = re.compile(r"(?:^|[\s/])modelpilot[ \t]+(.*)$")
_SHELL_STOP = {"<", ">", "|", "&&", ";", "2>&1", "#"}


def _fenced(text: str) -> list[str]:
    return _FENCE.findall(text)


def _prose(text: str) -> str:
    return _FENCE.sub("", text)


def _invocations(text: str) -> Iterator[list[str]]:
    """The argv (after ``modelpilot``) of every invocation shown in code blocks or inline code."""
    lines: list[str] = []
    for block in _fenced(text):
        lines.extend(block.replace("\\\n", " ").splitlines())
        for entrypoint in re.findall(r"^ENTRYPOINT (\[.*\])$", block, re.MULTILINE):
            argv = json.loads(entrypoint)
            if argv[0] == "modelpilot":
                # `docker run IMAGE ARGS` appends ARGS (by default the CMD) to the entrypoint.
                cmd = re.search(r"^CMD (\[.*\])$", block, re.MULTILINE)
                yield argv[1:] + (json.loads(cmd.group(1)) if cmd else [])
    lines.extend(" ".join(span.split()) for span in _INLINE.findall(_prose(text)))
    for line in lines:
        match = _INVOCATION.search(line)
        if match is None or line.lstrip().startswith(("ENTRYPOINT", "RUN ")):
            continue
        tokens = shlex.split(match.group(1), comments=True)
        for i, token in enumerate(tokens):
            if token in _SHELL_STOP:
                tokens = tokens[:i]
                break
        yield tokens


def _resolve(argv: list[str]) -> tuple[list[click.Command], list[str]]:
    """The chain of commands argv names (main first) and the tokens left for the last one."""
    chain: list[click.Command] = [main]
    rest: list[str] = []
    for token in argv:
        current = chain[-1]
        if isinstance(current, click.Group) and not token.startswith("-") and token != "...":
            sub = current.get_command(click.Context(current), token)
            if sub is not None:
                chain.append(sub)
                continue
            if not rest:
                raise AssertionError(f"modelpilot {' '.join(argv)}: no such command {token!r}")
        rest.append(token)
    return chain, rest


def _options(chain: list[click.Command]) -> set[str]:
    return {
        opt for command in chain for param in command.params for opt in (*param.opts, *param.secondary_opts)
    }


INVOCATIONS = [(doc.name, argv) for doc in DOCS for argv in _invocations(doc.read_text("utf-8"))]


def test_the_docs_show_commands() -> None:
    shown = {tuple(argv[:1]) for _, argv in INVOCATIONS}
    for command in ("up", "demo", "proxy", "control", "migrate", "admin", "inspect"):
        assert (command,) in shown


@pytest.mark.parametrize(
    ("doc", "argv"), INVOCATIONS, ids=lambda v: " ".join(v) if isinstance(v, list) else v
)
def test_every_documented_command_and_option_exists(doc: str, argv: list[str]) -> None:
    chain, rest = _resolve(argv)
    known = _options(chain) | {"-h", "--help"}
    for token in rest:
        if token.startswith("-"):
            assert token.split("=")[0] in known, f"{doc}: modelpilot {' '.join(argv)}: no option {token}"
    path = [command.name or "" for command in chain[1:]]
    result = CliRunner().invoke(main, [*path, "--help"], prog_name="modelpilot")
    assert result.exit_code == 0, result.output


def _all_options() -> set[str]:
    found: set[str] = set()

    def walk(command: click.Command) -> None:
        found.update(_options([command]))
        if isinstance(command, click.Group):
            ctx = click.Context(command)
            for name in command.list_commands(ctx):
                sub = command.get_command(ctx, name)
                assert sub is not None
                walk(sub)

    walk(main)
    return found | {"-h", "--help"}


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_option_named_in_prose_exists(doc: Path) -> None:
    options = _all_options()
    named = {span.split()[0].split("=")[0] for span in _INLINE.findall(_prose(doc.read_text("utf-8")))}
    for flag in sorted(n for n in named if n.startswith("--")):
        assert flag in options, f"{doc.name} names {flag}, which no modelpilot command has"


def _environment_names() -> set[str]:
    names: set[str] = set()

    def walk(command: click.Command) -> None:
        for param in command.params:
            envvar = getattr(param, "envvar", None)
            names.update([envvar] if isinstance(envvar, str) else envvar or [])
        if isinstance(command, click.Group):
            ctx = click.Context(command)
            for name in command.list_commands(ctx):
                sub = command.get_command(ctx, name)
                assert sub is not None
                walk(sub)

    walk(main)
    # Read directly from os.environ (secrets, test settings): any quoted literal in the code.
    for source in [*(ROOT / "src").rglob("*.py"), *(ROOT / "tests").glob("conftest.py")]:
        names.update(re.findall(r"[\"'](MODELPILOT_[A-Z0-9_]+)[\"']", source.read_text("utf-8")))
    return names


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_environment_variable_named_is_read(doc: Path) -> None:
    known = _environment_names()
    for name in sorted(set(re.findall(r"\bMODELPILOT_[A-Z0-9_]*[A-Z0-9]\b", doc.read_text("utf-8")))):
        assert name in known, f"{doc.name} names {name}, which nothing reads"


def test_inspect_prints_what_the_privacy_contract_shows() -> None:
    privacy = (ROOT / "docs" / "privacy.md").read_text("utf-8")
    shown = next(block for block in _fenced(privacy) if block.startswith('{"requested_model"'))
    example = ROOT / "docs" / "examples" / "request.json"
    result = subprocess.run(
        [sys.executable, "-m", "modelpilot.cli", "inspect", str(example)],
        capture_output=True,
        timeout=60,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.decode().strip() == "POST /v1/route"
    assert result.stdout.decode() == shown.strip()
    request = json.loads(example.read_text("utf-8"))
    for secret in ("Acme", "jane.doe@example.com", "INV-2024-0042", "4242", request["system"]):
        assert secret not in result.stdout.decode()


RECIPES = sorted((ROOT / "docs").glob("Dockerfile.*"))


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: p.name)
def test_the_container_recipe_file_is_the_one_documented(recipe: Path) -> None:
    shown = [
        block
        for doc in DOCS
        for block in re.findall(r"```dockerfile\n(.*?)```", doc.read_text("utf-8"), re.DOTALL)
    ]
    assert recipe.read_text("utf-8") in shown
    built = f"docker build -f docs/{recipe.name} "
    assert any(built in doc.read_text("utf-8") for doc in DOCS), f"no doc shows how to build {recipe.name}"


def _quoted_errors() -> set[str]:
    return {
        line
        for doc in DOCS
        for block in _fenced(doc.read_text("utf-8"))
        for line in block.splitlines()
        if line.startswith("Error: ")
    }


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _error_of(argv: list[str], env: dict[str, str] | None = None) -> str:
    result = CliRunner().invoke(main, argv, prog_name="modelpilot", env=env)
    assert result.exit_code in (1, 2), result.output
    assert isinstance(result.exception, SystemExit), result.exception
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1, result.stderr
    return errors[0]


def test_the_quoted_error_messages_are_the_ones_printed(tmp_path: Path) -> None:
    sqlite = f"sqlite:///{tmp_path / 'c.sqlite3'}"
    port = str(_free_port())
    printed = {
        _error_of(["control", "--port", port, "--database-url", "mysql://x"]),
        _error_of(
            ["control", "--port", port, "--database-url", sqlite, "--secret-file", str(tmp_path / "s")],
            {"MODELPILOT_SESSION_SECRETS": "short"},
        ),
        _error_of(["proxy", "--port", port, "--control-plane", "http://127.0.0.1:8700"]),
        _error_of(
            ["proxy", "--port", port, "--control-plane", "http://10.0.0.1"],
            {"MODELPILOT_API_KEY": "mp_live_" + "k" * 43},
        ),
        _error_of(
            ["proxy", "--port", port, "--control-plane", "http://127.0.0.1:8700"],
            {"MODELPILOT_API_KEY": "sk-ant-api03-" + "k" * 40},
        ),
    }
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        taken_port = taken.getsockname()[1]
        in_use = _error_of(["proxy", "--port", str(taken_port)])
    printed.add(in_use.replace(str(taken_port), "8787"))
    assert _quoted_errors() == printed


# -- install commands: every one the docs show works, from a clean copy of the source tree ----------
# No container engine runs here: the recipes are checked for syntax and paths, and their `pip
# install` runs like the documented ones (against the copied tree) instead of inside an image.
DOCKER_INSTRUCTIONS = {
    "FROM", "RUN", "COPY", "ADD", "USER", "ENV", "VOLUME", "EXPOSE", "HEALTHCHECK", "ENTRYPOINT",
    "CMD", "WORKDIR", "ARG", "LABEL", "STOPSIGNAL", "SHELL", "ONBUILD",
}  # fmt: skip
_INSTALL = re.compile(r"((?:\S*/)?pip install .+|uv tool install .+|make dist)$")


def _install_commands() -> list[str]:
    """Every install command the docs and the container recipes show, in order, once each."""
    lines: list[str] = []
    for doc in DOCS:
        text = doc.read_text("utf-8")
        for block in _fenced(text):
            lines.extend(block.replace("\\\n", " ").splitlines())
        lines.extend(" ".join(span.split()) for span in _INLINE.findall(_prose(text)))
    # The recipes' RUN lines are among them: each recipe is shown in a doc (checked above).
    found: list[str] = []
    for line in lines:
        for part in re.split(r"&&|;", line):
            match = _INSTALL.search(part.strip())
            if match and match.group(1) not in found:
                found.append(match.group(1))
    # `make dist` first: it builds the wheel a later command installs.
    return sorted(found, key=lambda command: command != "make dist")


def _as_run_here(command: str, tree: Path) -> list[str]:
    """The argv of ``command`` run in ``tree``: the source paths the docs and the recipes use
    (``.``, /src, /src/modelpilot) point at ``tree``; options that change nothing in a fresh
    environment (--upgrade, --no-cache-dir) are dropped so the same install runs once."""
    line = command.replace("file:///src/modelpilot", tree.as_uri())
    line = re.sub(r"(?<![\w./])(?:/src(?:/modelpilot)?|\.)(?=[\['\"\s]|$)", str(tree), line)
    argv = shlex.split(line)
    if argv[0].endswith("/pip"):
        argv[0] = "pip"
    return [arg for arg in argv if arg not in ("--upgrade", "--no-cache-dir")]


def test_the_docs_never_install_from_a_package_index() -> None:
    """ModelPilot is on no index: every pip command names a directory, an archive or a file URL."""
    commands = _install_commands()
    assert any("[control]" in command for command in commands)
    assert "make dist" in commands
    assert any(command.startswith("uv tool install") for command in commands)
    for command in commands:
        args = [a for a in shlex.split(command) if not a.startswith("-")][2:]
        if command.startswith(("make", "uv tool")):
            args = args[1:] if command.startswith("uv tool") else []
        for arg in args:
            assert arg.startswith((".", "/", "dist/")) or " @ file://" in arg, f"{command}: from an index"
    for doc in [*DOCS, *RECIPES]:
        text = doc.read_text("utf-8")
        by_name = re.search(r"install (['\"]?)modelpilot(\[[\w,]+\])?\1(?=[\s`]|$)", text)
        assert by_name is None, f"{doc.name}: {by_name.group(0)} needs a package index"


def test_the_container_recipes_are_well_formed() -> None:
    ignored = (ROOT / ".dockerignore").read_text("utf-8").split()
    for name in ("src", "pyproject.toml", "README.md"):
        assert name not in ignored, f".dockerignore leaves {name} out of the build"
    for recipe in RECIPES:
        text = recipe.read_text("utf-8")
        instructions = [
            line.split()[0]
            for line in text.replace("\\\n", " ").splitlines()
            if line.strip() and not line.startswith("#")
        ]
        assert instructions[0] == "FROM", recipe.name
        assert set(instructions) <= DOCKER_INSTRUCTIONS, recipe.name
        for args in re.findall(r"^(?:ENTRYPOINT|CMD) (\[.*\])$", text, re.MULTILINE):
            assert all(isinstance(arg, str) for arg in json.loads(args))
        for source in re.findall(r"^(?:COPY|ADD) (\S+) \S+$", text, re.MULTILINE):
            assert (ROOT / source).exists(), f"{recipe.name} copies {source}, which is not in the tree"


def _copy_of_the_tree(target: Path) -> Path:
    """What a clone or a release archive holds: the tracked (and new, not ignored) files."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            (target / name).write_bytes(source.read_bytes())
    return target


def _run(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, f"{' '.join(argv)}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.mark.slow
def test_every_documented_install_command_works(tmp_path: Path) -> None:
    """Each command runs as written in a clean copy of the tree (the docs' "source directory").

    pip's own resolver checks that it accepts each form of requirement the docs use (a directory,
    a file URL, a wheel; ``--dry-run``); the install itself is done by uv's pip interface with the
    same arguments into a fresh environment, reusing uv's cache to stay fast. Paths the docs use
    for the target machine map into tmp_path: /opt/modelpilot (the environment), /src and
    /src/modelpilot (the source tree, as the container recipes copy it). `make dist` runs with the
    uv of this environment (UV=...) instead of installing its own into the copy's .venv.
    """
    uv = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    assert uv is not None, "uv is installed with the dev environment (make)"
    tree = _copy_of_the_tree(tmp_path / "tree")
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PIP_"))}
    runs: list[list[str]] = []
    for command in _install_commands():
        if (argv := _as_run_here(command, tree)) not in runs:
            runs.append(argv)
    pip = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--no-deps"]
    pip_checked: set[str] = set()

    def check_with_pip(args: list[str], cwd: Path) -> None:
        form = re.sub(r"\[[\w,]+\]", "", " ".join(args))
        if form not in pip_checked:
            pip_checked.add(form)
            out = _run([*pip, "--disable-pip-version-check", *args], cwd, environ)
            assert "Would install modelpilot" in out, args

    migrated = False
    for n, argv in enumerate(runs):
        line = shlex.join(argv)
        if argv == ["make", "dist"]:
            _run([*argv, f"UV={uv}"], tree, environ)
            continue
        if argv[:3] == ["uv", "tool", "install"]:
            tools = {"UV_TOOL_DIR": str(tmp_path / "tools"), "UV_TOOL_BIN_DIR": str(tmp_path / "bin")}
            _run([uv, *argv[1:]], tree, {**environ, **tools})
            _check_installed(tmp_path / "bin", line, tmp_path)
            continue
        assert argv[:2] == ["pip", "install"], line
        check_with_pip(argv[2:], tree)
        venv = tmp_path / f"env{n}"
        _run([uv, "venv", "--quiet", str(venv)], tree, environ)
        _run(
            [uv, "pip", "install", "--quiet", "--python", str(venv / "bin" / "python"), *argv[2:]],
            tree,
            environ,
        )
        _check_installed(venv / "bin", line, tmp_path)
        if "control" in line and not migrated:
            # The migrations (package data) ship: an installed control plane creates its database.
            database = f"sqlite:///{tmp_path / 'installed.sqlite3'}"
            out = _run([str(venv / "bin" / "modelpilot"), "migrate", "--database-url", database], tmp_path)
            assert "is up to date" in out
            migrated = True
            # The hint a missing extra prints is a pip command that works too.
            hint = _run([str(venv / "bin" / "python"), "-c", _HINT], tree, environ).strip()
            assert hint.startswith(f"pip install 'modelpilot[demo] @ {tree.as_uri()}"), hint
            check_with_pip(shlex.split(hint)[2:], tmp_path)
    assert migrated


_HINT = "from modelpilot.extras import install_command; print(install_command('demo'))"


def _check_installed(bin_dir: Path, command: str, tmp_path: Path) -> None:
    out = _run([str(bin_dir / "modelpilot"), "--version"], tmp_path)
    assert out.startswith("modelpilot, version "), command
    if "[" not in command:
        # The base install runs the proxy without the control plane's dependencies.
        _run([str(bin_dir / "modelpilot"), "proxy", "--help"], tmp_path)


def _make_invocations() -> list[list[str]]:
    found: list[list[str]] = []
    for doc in DOCS:
        text = doc.read_text("utf-8")
        lines = [line for block in _fenced(text) for line in block.splitlines()]
        lines += _INLINE.findall(_prose(text))
        for line in lines:
            match = re.match(r"\s*((?:\w+=\S+ )*)make ([\w .=-]+?)\s*(?:#.*)?$", line)
            if match:
                argv = shlex.split(match.group(2))
                if argv not in found:
                    found.append(argv)
    return found


def test_every_documented_make_command_exists() -> None:
    """`make run`, `make test`, `make dist`, ... with the variables the docs give them: each is a
    target the Makefile has (checked with `make -n`, which runs nothing)."""
    invocations = _make_invocations()
    assert ["run"] in invocations and ["test"] in invocations and ["dist"] in invocations
    for argv in invocations:
        result = subprocess.run(["make", "-n", *argv], cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, f"make {' '.join(argv)}: {result.stderr}"
    ported = subprocess.run(
        ["make", "-n", "run", "PORT=9787", "CONTROL_PORT=9700"], cwd=ROOT, capture_output=True, text=True
    ).stdout
    assert "modelpilot up --port 9787 --control-port 9700" in ported


# -- the management API's example runs as written against a real control plane -------------------
def _wait_until_healthy(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, "the control plane exited"
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"{url} did not become healthy")


def test_the_management_api_example_runs_as_written(tmp_path: Path) -> None:
    """docs/management-api.md's example block, run by bash with curl against `modelpilot control`
    (a subprocess on loopback, SQLite), with the token `modelpilot admin create-token` printed."""
    doc = (ROOT / "docs" / "management-api.md").read_text("utf-8")
    example = next(block for block in _fenced(doc) if "api() {" in block)
    database = f"sqlite:///{tmp_path / 'control.sqlite3'}"
    admin = [sys.executable, "-m", "modelpilot.cli", "admin", "--database-url", database]
    environ = {k: v for k, v in os.environ.items() if not k.startswith("MODELPILOT_")}
    created = subprocess.run(
        [*admin, "create-account", "docs-mgmt@example.com", "--password-stdin"],
        input=b"a long enough password\n",
        capture_output=True,
        env=environ,
        timeout=120,
    )
    assert created.returncode == 0, created.stderr
    token = subprocess.run(
        [*admin, "create-token", "docs-mgmt@example.com", "ci"], capture_output=True, env=environ, timeout=60
    )
    assert token.returncode == 0, token.stderr
    secret = token.stdout.decode().strip()
    assert secret.startswith("mp_mgmt_")

    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [
        sys.executable, "-m", "modelpilot.cli", "control", "--port", str(port),
        "--database-url", database, "--secret-file", str(tmp_path / "secret"),
    ]  # fmt: skip
    with (tmp_path / "control.log").open("wb") as log:
        control = subprocess.Popen(argv, stdout=log, stderr=log, env=environ)
        try:
            _wait_until_healthy(url, control)
            result = subprocess.run(
                ["bash", "-euo", "pipefail", "-c", example],
                capture_output=True,
                text=True,
                env={**environ, "CONTROL_PLANE": url, "TOKEN": secret},
                cwd=tmp_path,
                timeout=120,
            )
        finally:
            control.terminate()
            control.wait(timeout=30)
    assert result.returncode == 0, result.stderr + (tmp_path / "control.log").read_text()
    key, target, header = result.stdout.splitlines()
    assert re.fullmatch(r"mp_live_[0-9A-Za-z]{43}", key)
    assert target == "0.97"
    assert header.startswith("hour,category,requested_model,served_model,")
    # It cleaned up after itself: the account has no deployment left.
    listing = subprocess.run(
        [*admin, "list-tokens", "docs-mgmt@example.com"], capture_output=True, env=environ
    )
    assert listing.returncode == 0 and secret[:12] in listing.stdout.decode()
    engine = create_db_engine(database)
    try:
        with create_session_factory(engine)() as db:
            assert db.scalars(select(Deployment)).all() == []
    finally:
        engine.dispose()
