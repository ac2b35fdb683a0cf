"""``flowyml fsck``: re-hash every object and check every reference the history makes."""

from __future__ import annotations

import click

from flowyml.cli.output import FAILED, CliError, emit_json, json_option, live_enabled, object_progress, size


@click.command(short_help="Re-hash the store, check every reference.")
@click.option("--store", "store_root", type=click.Path(file_okay=False), help="The store to check (default: the project's).")
@json_option
def fsck(store_root: str | None, as_json: bool) -> None:
    """Re-hash every stored object and check that every object a run or registry entry names is stored.

    Prints one line per fault (corrupt, missing, unreadable); exit code 1 if there is any.
    """
    from flowyml.cli.project import Project
    from flowyml.store.fsck import check_store

    project = Project.find()
    root = store_root or project.store_root
    with project.history() as history, object_progress("re-hashing objects", live_enabled(as_json)) as progress:
        report = check_store(root, history, progress=progress)
    if as_json:
        emit_json(report.to_dict())
    else:
        for fault in report.faults:
            click.echo(str(fault))
        click.echo(f"{report.objects} objects ({size(report.bytes)}) re-hashed, "
                   f"{report.references} referenced objects checked: "
                   + ("no faults" if report.ok else f"{len(report.faults)} fault(s)"))
    if not report.ok:
        raise CliError(f"{len(report.faults)} fault(s) in {root}: re-run the steps that made them, "
                       "or pull them from a remote", FAILED)
