"""Every command in the `modelpilot` tree has a clear, complete --help."""

from __future__ import annotations

from collections.abc import Iterator

import click
import pytest
from click.testing import CliRunner

from modelpilot.cli import SUBCOMMANDS, main


def walk(
    command: click.Command, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    """Every command under ``command`` (lazy subcommands imported), with its argv path."""
    yield path, command
    if isinstance(command, click.Group):
        ctx = click.Context(command)
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            assert sub is not None, name
            yield from walk(sub, (*path, name))


COMMANDS = dict(walk(main))


def test_the_tree_holds_every_registered_subcommand() -> None:
    top_level = {path[0] for path in COMMANDS if len(path) == 1}
    assert top_level == set(SUBCOMMANDS)
    assert ("admin", "create-key") in COMMANDS


@pytest.mark.parametrize("path", sorted(COMMANDS), ids=lambda p: " ".join(("modelpilot", *p)))
def test_help_describes_the_command_and_every_option(path: tuple[str, ...]) -> None:
    command = COMMANDS[path]
    result = CliRunner().invoke(main, [*path, "--help"], prog_name="modelpilot")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Usage: modelpilot")
    summary = (command.help or "").strip()
    assert len(summary.split()) >= 4, f"{path}: the command needs a sentence of help"
    for param in command.params:
        if isinstance(param, click.Option):
            assert param.help, f"modelpilot {' '.join(path)} {param.opts[0]} has no help text"
            for opt in param.opts:
                assert opt in result.output
        elif isinstance(param, click.Argument):
            assert param.human_readable_name in result.output


@pytest.mark.parametrize("path", sorted(p for p, c in COMMANDS.items() if not isinstance(c, click.Group)))
def test_an_unknown_option_is_one_line_with_the_way_to_help(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(main, [*path, "--no-such-option"], prog_name="modelpilot")
    assert result.exit_code == 2
    error_lines = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert error_lines == ["Error: No such option '--no-such-option'."]
    assert f"Try 'modelpilot {' '.join(path)} --help' for help." in result.output
