"""The ``modelpilot`` command.

Subcommands live beside the code they run (``modelpilot.proxy.cli``, ``modelpilot.sim.cli``, ...)
and are imported only when invoked, so ``modelpilot proxy`` works on the base install without the
control plane's dependencies, and ``--help`` stays fast.
"""

from __future__ import annotations

import importlib

import click

from modelpilot import __version__
from modelpilot.extras import install_command

# name -> "module:attribute" of a click.Command
SUBCOMMANDS: dict[str, str] = {
    "up": "modelpilot.stack:up_command",
    "demo": "modelpilot.demo.cli:demo_command",
    "proxy": "modelpilot.proxy.cli:proxy_command",
    "sim": "modelpilot.sim.cli:sim_command",
    "control": "modelpilot.control.cli:control_command",
    "migrate": "modelpilot.control.cli:migrate_command",
    "admin": "modelpilot.control.cli:admin_group",
    "inspect": "modelpilot.proxy.inspect:inspect_command",
}


class LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use."""

    def __init__(self, *args: object, lazy_subcommands: dict[str, str], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.lazy_subcommands = lazy_subcommands

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy_subcommands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = self.lazy_subcommands.get(cmd_name)
        if target is None:
            return super().get_command(ctx, cmd_name)
        module_name, attribute = target.split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and not exc.name.startswith("modelpilot"):
                raise click.ClickException(
                    f"'modelpilot {cmd_name}' needs the package {exc.name!r}; "
                    "install it with: " + install_command("control")
                ) from exc
            raise
        command = getattr(module, attribute)
        assert isinstance(command, click.Command)
        return command


@click.group(
    cls=LazyGroup, lazy_subcommands=SUBCOMMANDS, context_settings={"help_option_names": ["-h", "--help"]}
)
@click.version_option(__version__, prog_name="modelpilot")
def main() -> None:
    """ModelPilot: send each Claude API request to the cheapest model that will do the job.

    Prompts, answers and your Anthropic key never leave this machine.
    """


if __name__ == "__main__":
    main()
