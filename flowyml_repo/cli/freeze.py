"""``flowyml freeze`` / ``flowyml verify``: seal a pipeline's definition, check it later."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from flowyml.cli.output import FAILED, USAGE, CliError, emit_json, json_option, when

if TYPE_CHECKING:
    from flowyml.pipeline import Pipeline
    from flowyml.snapshot import PipelineSnapshot


@click.command(short_help="Seal a pipeline's definition as a snapshot.")
@click.argument("target", metavar="FILE.py[:PIPELINE]")
@json_option
def freeze(target: str, as_json: bool) -> None:
    """Seal the pipeline's current definition (code, edges, context) as a snapshot.

    Prints the SHA-256 seal; `flowyml verify FILE.py` checks the code against it.
    """
    from flowyml.cli.project import load_pipeline
    from flowyml.snapshot import freeze_pipeline

    pipeline, _path = load_pipeline(target)
    snap = freeze_pipeline(pipeline)
    if as_json:
        emit_json({"pipeline": snap.pipeline_name, "snapshot_hash": snap.snapshot_hash, "ref": snap.ref,
                   "created": snap.created})
    else:
        click.echo(snap.snapshot_hash)


@click.command(short_help="Check a pipeline against its snapshot.")
@click.argument("target", metavar="FILE.py[:PIPELINE]")
@click.option("--snapshot", "snapshot_hash", metavar="HASH",
              help="The snapshot to check against (a hash prefix; default: the newest).")
@json_option
def verify(target: str, snapshot_hash: str | None, as_json: bool) -> None:
    """Check that the pipeline's code still matches a frozen snapshot (exit 1 if not)."""
    from flowyml.cli.project import load_pipeline

    pipeline, _path = load_pipeline(target)
    snap = _snapshot(pipeline, snapshot_hash)
    ok = snap.verify(pipeline)
    if as_json:
        emit_json({"pipeline": snap.pipeline_name, "snapshot_hash": snap.snapshot_hash, "verified": ok,
                   "reason": snap.reason})
    elif ok:
        click.echo(f"{pipeline.name} matches snapshot {snap.snapshot_hash[:16]} (frozen {when(snap.created)})")
    if not ok:
        raise CliError(f"{pipeline.name} no longer matches snapshot {snap.snapshot_hash[:16]}: "
                       + " ".join((snap.reason or "the definition changed").split()), FAILED)


def _snapshot(pipeline: Pipeline, prefix: str | None) -> PipelineSnapshot:
    from flowyml.records import open_history, ref_of
    from flowyml.snapshot import load_snapshot

    name, project = pipeline.name, pipeline.project_name
    if prefix is None:
        base = ref_of("snapshots", name, "", project=project)[:-1]
        with open_history(pipeline.resolve_stack()) as history:
            tips = history.refs(base)
            if not tips:
                raise CliError(f"{name} has no frozen snapshot: run `flowyml freeze` first", USAGE)
            newest = max(tips, key=lambda ref: (history.commit(tips[ref]).time, ref))
        prefix = newest[len(base):]
    try:
        return load_snapshot(name, prefix, project=project, stack=pipeline.resolve_stack())
    except KeyError as exc:
        raise CliError(f"--snapshot {prefix}: {exc.args[0] if exc.args else exc}", USAGE) from exc
