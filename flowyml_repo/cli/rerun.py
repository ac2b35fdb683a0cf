"""``flowyml rerun RUN [--from-step STEP]``: resume a run, or redo it from one step."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from flowyml.cli.output import USAGE, CliError, json_option
from flowyml.cli.project import complete_run_id
from flowyml.cli.run import context_option

if TYPE_CHECKING:
    from flowyml.cli.project import Project


@click.command(short_help="Resume a run, or redo it from one step.")
@click.argument("run_id", metavar="RUN", shell_complete=complete_run_id)
@click.option("--from-step", metavar="STEP", help="Execute STEP and everything downstream of it again.")
@click.option("--file", "target", metavar="FILE.py[:PIPELINE]",
              help="Where the pipeline is defined (default: the file `flowyml run` last ran it from).")
@context_option
@json_option
def rerun(run_id: str, from_step: str | None, target: str | None, overrides: tuple[str, ...],
          as_json: bool) -> None:
    """Run RUN's pipeline again, reusing what RUN recorded.

    Without --from-step this resumes RUN (a killed run included): every step it
    finished is reused and the rest execute. With --from-step that step and its
    descendants execute again and the rest are reused.
    """
    from flowyml.cli.project import Project, load_pipeline, recall_source
    from flowyml.cli.run import execute, parse_overrides, report

    project = Project.find()
    pipeline_name = _pipeline_of(project, run_id)
    if target is None:
        target = recall_source(project, pipeline_name)
        if target is None:
            raise CliError(f"run {run_id} is of pipeline {pipeline_name!r}, which `flowyml run` has not run here; "
                           f"say where it is defined: flowyml rerun {run_id} --file FILE.py", USAGE)
    pipeline, _path = load_pipeline(target)
    if pipeline.name != pipeline_name:
        raise CliError(f"run {run_id} is of pipeline {pipeline_name!r}, but {target} defines {pipeline.name!r}",
                       USAGE)
    if pipeline.stack is None and pipeline.cache_dir is None:
        pipeline.cache_dir = project.store_root
    values = parse_overrides(overrides, pipeline.context)
    result = execute(pipeline, values, as_json,
                     lambda on_event: pipeline.rerun(run_id, from_step, context=values or None, on_event=on_event))
    report(result, as_json)


def _pipeline_of(project: Project, run_id: str) -> str:
    """The pipeline of a recorded run, or of a run in progress (from its journal)."""
    from flowyml.errors import RunNotFound

    with project.runs() as history:
        try:
            return history.get(run_id).pipeline
        except RunNotFound:
            pass
    from flowyml.store.journal import Journal

    runs_dir = project.store_root / "runs"
    matches = sorted(runs_dir.glob(f"{run_id}*.journal")) if runs_dir.is_dir() else []
    if len(matches) == 1:
        records = Journal(project.store_root, matches[0].name[: -len(".journal")]).read()
        if records and records[0].get("pipeline"):
            return str(records[0]["pipeline"])
    raise CliError(f"no run {run_id!r} in the history or in the journals under {runs_dir}", USAGE)
