"""The ``flowyml`` command: a click group with one command per module.

Commands are imported when used (``flowyml --help`` imports only the small command
modules, never pandas, pyarrow, dulwich, textual or dask), and every deliberate
flowyml error becomes one line on stderr and an exit code (see
:mod:`flowyml.cli.output`).

Shell completion (click's): add one line to your shell's start-up file::

    eval "$(_FLOWYML_COMPLETE=bash_source flowyml)"     # ~/.bashrc
    eval "$(_FLOWYML_COMPLETE=zsh_source flowyml)"      # ~/.zshrc
    _FLOWYML_COMPLETE=fish_source flowyml | source      # ~/.config/fish/completions/flowyml.fish
"""

from __future__ import annotations

import importlib
from typing import Any

import click

from flowyml.errors import FlowymlError

# name -> module under flowyml.cli holding a click command of that name (attribute
# `name` with "-" as "_"), in the order `flowyml --help` lists them.
COMMANDS = {
    "init": "init",
    "run": "run",
    "runs": "runs",
    "show": "show",
    "log": "log",
    "diff": "diff",
    "rerun": "rerun",
    "cat": "cat",
    "lineage": "lineage",
    "versions": "versions",
    "freeze": "freeze",
    "verify": "freeze",
    "fsck": "fsck",
    "gc": "gc",
    "push": "remote",
    "pull": "remote",
    "ui": "ui",
}

EPILOG = """\b
Shell completion: eval "$(_FLOWYML_COMPLETE=bash_source flowyml)" in ~/.bashrc
(zsh_source for zsh, fish_source for fish).
Exit codes: 0 success, 1 failed run or damaged store, 2 bad usage."""


class FlowymlGroup(click.Group):
    """A group that imports each command's module on first use and maps errors to exit codes."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module = COMMANDS.get(cmd_name)
        if module is None:
            return None
        return getattr(importlib.import_module(f"flowyml.cli.{module}"), cmd_name.replace("-", "_"))

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (FlowymlError, OSError) as exc:  # deliberate errors, and the disk's (full, read-only …)
            if ctx.params.get("traceback"):
                raise
            from flowyml.cli.output import CliError, exit_code_for, one_line

            raise CliError(one_line(exc), exit_code_for(exc)) from exc


@click.group(cls=FlowymlGroup, epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="flowyml", prog_name="flowyml", message="%(prog)s %(version)s")
@click.option("--traceback", is_flag=True, help="Show the full traceback of an error instead of one line.")
def main(traceback: bool) -> None:
    """flowyml: reproducible ML pipelines, with run history in git.

    Run a pipeline with `flowyml run pipeline.py`, list runs with `flowyml runs`,
    compare two with `flowyml diff A B`. Runs are named by any unambiguous
    prefix of their id.
    """
