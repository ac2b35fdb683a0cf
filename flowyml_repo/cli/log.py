"""``flowyml log PIPELINE``: a pipeline's run history, like ``git log --oneline``."""

from __future__ import annotations

import click

from flowyml.cli.output import emit_json, json_option


@click.command(short_help="A pipeline's runs, like git log --oneline.")
@click.argument("pipeline")
@click.option("--limit", "-n", default=0, type=click.IntRange(min=0), help="Show at most this many (0: all).")
@click.option("--project", help="The pipeline's project_name, if it has one.")
@json_option
def log(pipeline: str, limit: int, project: str | None, as_json: bool) -> None:
    """One line per commit on PIPELINE's run ref, newest first: commit, run id, summary.

    The same history is `git log refs/flowyml/runs/PIPELINE` in any git client.
    """
    from flowyml.cli.project import Project
    from flowyml.records import ref_of
    from flowyml.store.runindex import RUN_ID_TRAILER

    ref = ref_of("runs", pipeline, project=project)
    with Project.find().history() as history:
        commits = list(history.log(ref, limit=limit or None))
    rows = [{"commit": c.sha, "run_id": c.trailers.get(RUN_ID_TRAILER, ""), "time": c.time, "summary": c.summary}
            for c in commits]
    if as_json:
        emit_json(rows)
        return
    if not rows:
        click.echo(f"no runs of {pipeline!r} ({ref})", err=True)
        return
    for row in rows:
        click.echo(f"{row['commit'][:7]} {row['run_id'] or '-':<12} {row['summary']}")
