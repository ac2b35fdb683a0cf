"""``flowyml ui``: the terminal UI (the ``flowyml_tui`` package, imported only here)."""

from __future__ import annotations

import click

from flowyml.cli.output import FAILED, CliError


@click.command(short_help="Browse runs in the terminal UI.")
@click.option("--project", help="Only this project's runs.")
def ui(project: str | None) -> None:
    """Browse runs, DAGs, artifacts, lineage and diffs in the terminal."""
    from flowyml.cli.project import Project

    try:
        from flowyml_tui.app import run_app
    except ImportError as exc:
        raise CliError(f"the terminal UI is not installed ({exc}); install flowyml with its UI "
                       "(pip install flowyml) to use `flowyml ui`", FAILED) from exc
    options = {"project": project} if project else {}
    run_app(path=str(Project.find().root), **options)
