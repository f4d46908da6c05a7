"""The docs and the README say only what the code does: every `modelpilot ...` command they show
exists with the options they give it, every MODELPILOT_* variable is read somewhere, the error
messages they quote are the ones the commands print, and `modelpilot inspect` prints what
privacy.md shows."""

from __future__ import annotations

import json
import re
import shlex
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from modelpilot.cli import main

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
                yield argv[1:]
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


def test_the_container_recipe_file_is_the_one_documented() -> None:
    proxy_doc = (ROOT / "docs" / "proxy.md").read_text("utf-8")
    recipe = re.search(r"```dockerfile\n(.*?)```", proxy_doc, re.DOTALL)
    assert recipe is not None
    assert (ROOT / "docs" / "Dockerfile.proxy").read_text("utf-8") == recipe.group(1)


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
