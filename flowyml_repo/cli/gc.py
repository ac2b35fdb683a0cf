"""``flowyml gc``: remove stored objects that no run, registry entry or run in progress names."""

from __future__ import annotations

import click

from flowyml.cli.output import emit_json, json_option, size


@click.command(short_help="Remove objects that no ref reaches.")
@click.option("--dry-run", "-n", is_flag=True, help="Say what would be removed, remove nothing.")
@click.option("--grace", default=3600.0, show_default=True, type=click.FloatRange(min=0), metavar="SECONDS",
              help="Keep unreachable objects younger than this (a step in flight may not have "
                   "recorded its outputs yet); 0 is safe only while nothing runs.")
@click.option("--store", "store_root", type=click.Path(file_okay=False), help="The store to clean (default: the project's).")
@click.option("--verbose", "-v", is_flag=True, help="List every object removed.")
@json_option
def gc(dry_run: bool, grace: float, store_root: str | None, verbose: bool, as_json: bool) -> None:
    """Remove objects no ref reaches, and the cache entries that point at them.

    Every object named by any commit under refs/flowyml/ (every run, every
    registered model and dataset) is kept, and so is every object named by the
    journal of a run in progress. Run with --dry-run first.
    """
    from flowyml.cli.project import Project
    from flowyml.store.gc import collect_garbage

    project = Project.find()
    root = store_root or project.store_root
    with project.history() as history:
        report = collect_garbage(root, history, dry_run=dry_run, grace=grace)
    if as_json:
        emit_json(report.to_dict())
        return
    verb = "would remove" if dry_run else "removed"
    if verbose or dry_run:
        for oid, n in report.removed:
            click.echo(f"{verb} {oid} ({size(n)})")
    click.echo(f"{verb} {len(report.removed)} objects ({size(report.bytes)}) and {report.cache_entries} "
               f"cache entries; kept {report.reachable} reachable objects"
               + (f" and {report.recent} unreachable ones younger than {grace:g}s" if report.recent else ""))
    if report.in_progress:
        click.echo(f"objects of runs in progress kept: {', '.join(report.in_progress)} "
                   "(a run killed long ago keeps its objects until `flowyml rerun RUN` resumes it)")
