"""``flowyml diff A B``: what changed between two runs, or two versions of a pipeline."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from flowyml.cli.output import USAGE, CliError, emit_json, json_option

if TYPE_CHECKING:
    from flowyml.diff import PipelineDiff


@click.command(short_help="Compare two runs or two pipeline versions.")
@click.argument("old", metavar="A")
@click.argument("new", metavar="B")
@click.option("--pipeline", "-p", metavar="PIPELINE", help="A and B are versions of PIPELINE.")
@click.option("--project", help="The pipeline's project_name, if it has one (versions only).")
@json_option
def diff(old: str, new: str, pipeline: str | None, project: str | None, as_json: bool) -> None:
    """Compare two runs (A and B are run ids) or two versions (PIPELINE@VERSION, or --pipeline).

    For each step that changed it says which part of its cache key changed —
    code, inputs, parameters, cache config — and, between runs, which output
    oids differ. Steps only in B are added (+), only in A removed (-).
    """
    if pipeline is not None or ("@" in old and "@" in new):
        result = _versions(old, new, pipeline, project)
    elif "@" in old or "@" in new:
        raise CliError(f"compare two runs or two versions, not one of each ({old} vs {new})", USAGE)
    else:
        result = _runs(old, new)
    if as_json:
        emit_json(result.to_dict())
    else:
        click.echo(str(result))


def _runs(old: str, new: str) -> PipelineDiff:
    from flowyml.cli.project import Project
    from flowyml.diff import diff_manifests

    with Project.find().runs() as history:
        a, b = history.get(old), history.get(new)
        return diff_manifests(a.manifest, b.manifest)


def _versions(old: str, new: str, pipeline: str | None, project: str | None) -> PipelineDiff:
    from flowyml.diff import diff_definitions
    from flowyml.versioning import load_definition

    sides = []
    for spec in (old, new):
        name, _, version = spec.rpartition("@")
        name = name or pipeline or ""
        if not name or not version:
            raise CliError(f"{spec!r}: write PIPELINE@VERSION, or give --pipeline", USAGE)
        sides.append((name, version))
    # The history is the repository around the current folder, as for every command.
    (a, b) = [load_definition(name, version, project=project) for name, version in sides]
    return diff_definitions(a, b, *(f"{n}@{v}" for n, v in sides))
