"""``flowyml versions PIPELINE``: recorded pipeline versions (or registered model/dataset versions)."""

from __future__ import annotations

import click

from flowyml.cli.output import USAGE, CliError, columns, emit_json, json_option, size


@click.command(short_help="List a pipeline's recorded versions.")
@click.argument("pipeline", required=False)
@click.option("--model", metavar="NAME", help="List the registered versions of model NAME instead.")
@click.option("--dataset", metavar="NAME", help="List the catalogued versions of dataset NAME instead.")
@click.option("--project", help="The project_name the pipeline, model or dataset belongs to.")
@json_option
def versions(pipeline: str | None, model: str | None, dataset: str | None, project: str | None,
             as_json: bool) -> None:
    """List the versions recorded for PIPELINE, oldest first.

    A VersionedPipeline (Pipeline(..., version="v2")) records its definition
    under its version each time it is built; compare two with
    `flowyml diff PIPELINE@v1 PIPELINE@v2`.
    """
    chosen = [x for x in (pipeline, model, dataset) if x is not None]
    if len(chosen) != 1:
        raise CliError("name one thing: a PIPELINE, or --model NAME, or --dataset NAME", USAGE)
    if pipeline is not None:
        from flowyml.versioning import list_versions

        found = list_versions(pipeline, project=project)
        if as_json:
            emit_json(found)
        elif found:
            click.echo("\n".join(found))
        else:
            click.echo(f"no versions of {pipeline!r} recorded (pipelines without version= record none)", err=True)
        return
    _registry("model" if model is not None else "dataset", model or dataset or "", project, as_json)


def _registry(kind: str, name: str, project: str | None, as_json: bool) -> None:
    from flowyml.cli.project import Project
    from flowyml.registry import versions as registered

    with Project.find().history() as history:
        entries = registered(history, kind, name, project)
    if as_json:
        emit_json([e.to_dict() for e in entries])
    elif entries:
        click.echo(columns([(f"v{e.version}", e.run_id, f"{e.step}.{e.output}", e.codec, size(e.size), e.oid[:12])
                            for e in entries], ("VERSION", "RUN", "FROM", "CODEC", "SIZE", "OID")))
    else:
        click.echo(f"no {kind} {name!r} registered", err=True)
