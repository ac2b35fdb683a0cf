"""``flowyml runs [PIPELINE]``: the recorded runs, newest first."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from flowyml.cli.output import columns, emit_json, json_option, when

if TYPE_CHECKING:
    from flowyml.runs import Run


@click.command(short_help="List recorded runs, newest first.")
@click.argument("pipeline", required=False)
@click.option("--limit", "-n", default=20, show_default=True, type=click.IntRange(min=0),
              help="Show at most this many runs (0: all).")
@click.option("--status", type=click.Choice(["success", "failed"]), help="Only runs that ended so.")
@json_option
def runs(pipeline: str | None, limit: int, status: str | None, as_json: bool) -> None:
    """List recorded runs (of PIPELINE, or of every pipeline), newest first."""
    from flowyml.cli.project import Project

    with Project.find().runs() as history:
        found = history.runs(pipeline, limit=limit or None, status=status)
    if as_json:
        emit_json([run_summary(r) for r in found])
        return
    if not found:
        click.echo(f"no runs of {pipeline!r} yet" if pipeline else "no runs yet: flowyml run FILE.py", err=True)
        return
    click.echo(columns([(r.run_id, when(r.time), r.summary) for r in found], ("RUN", "RECORDED", "SUMMARY")))


def run_summary(run: Run) -> dict:
    """The listing fields of a run, for ``--json``."""
    return {"run_id": run.run_id, "pipeline": run.pipeline, "status": run.status, "time": run.time,
            "summary": run.summary, "project": run.project, "parent_run": run.parent_run,
            "commit": run.sha, "ref": run.ref}
