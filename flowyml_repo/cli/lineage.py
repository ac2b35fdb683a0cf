"""``flowyml lineage ARTIFACT``: what an output was made from, and what was made from it."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from flowyml.cli.output import USAGE, CliError, columns, emit_json, json_option, size

if TYPE_CHECKING:
    from flowyml.runs import Artifact, RunHistory


@click.command(short_help="Trace what an output came from and fed.")
@click.argument("artifact", metavar="[RUN:]OUTPUT")
@json_option
def lineage(artifact: str, as_json: bool) -> None:
    """Trace OUTPUT of RUN (default: the newest run that has an output of that name).

    Upstream: the outputs it was computed from, transitively, in that run.
    Downstream: every output computed from these bytes, in any run.
    """
    from flowyml.cli.project import Project

    with Project.find().runs() as history:
        art = find_artifact(history, artifact)
        run_id, step = art.produced_by
        upstream, downstream = art.upstream(), art.downstream()
        if as_json:
            emit_json({"artifact": _row(art), "produced_by": {"run_id": run_id, "step": step},
                       "upstream": [_row(a) for a in upstream], "downstream": [_row(a) for a in downstream]})
            return
        click.echo(f"{art.name}: output of step {art.step} in run {art.run.run_id} "
                   f"({art.codec}, {size(art.size)}, oid {art.oid[:12]})")
        click.echo(f"computed by run {run_id}, step {step}")
        header = ("RUN", "STEP", "OUTPUT", "OID")
        click.echo("\nupstream (made from):\n" + (columns([_cells(a) for a in upstream], header, "  ")
                                                 if upstream else "  nothing: a source"))
        click.echo("\ndownstream (made from it, any run):\n" + (columns([_cells(a) for a in downstream], header, "  ")
                                                               if downstream else "  nothing yet"))


def find_artifact(history: RunHistory, spec: str) -> Artifact:
    """``RUN:OUTPUT`` in that run, or ``OUTPUT`` in the newest run that has it.

    Raises:
        CliError: (exit 2) no such output.
    """
    run_id, sep, output = spec.partition(":")  # run ids are hex: the first colon ends one
    if not sep:
        output = spec
        for run in history.runs(limit=None):
            if output in run.outputs:
                return run.artifact(output)
        raise CliError(f"no recorded run has an output called {output!r}", USAGE)
    run = history.get(run_id)
    if output not in run.outputs:
        raise CliError(f"run {run.run_id} has no output {output!r}; it has: "
                       f"{', '.join(run.outputs) or 'none'}", USAGE)
    return run.artifact(output)


def _row(a: Artifact) -> dict:
    return {"run_id": a.run.run_id, "step": a.step, "output": a.name, "oid": a.oid, "codec": a.codec, "size": a.size}


def _cells(a: Artifact) -> tuple[str, ...]:
    return (a.run.run_id, a.step, a.name, a.oid[:12])
