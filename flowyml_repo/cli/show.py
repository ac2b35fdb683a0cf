"""``flowyml show RUN``: one run's steps, timings, cache use and outputs."""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING

import click

from flowyml.cli.output import columns, emit_json, json_option, seconds, size, when
from flowyml.cli.project import complete_run_id

if TYPE_CHECKING:
    from flowyml.runs import Run

_COUNTED = (("success", "ran"), ("cached", "cached"), ("failed", "failed"), ("skipped", "skipped"),
            ("not_run", "not run"))


@click.command(short_help="Show one run: steps, timings, outputs.")
@click.argument("run_id", metavar="RUN", shell_complete=complete_run_id)
@json_option
def show(run_id: str, as_json: bool) -> None:
    """Show RUN: each step's status, duration and cache key; each output's codec, size and oid.

    The traceback of a failed step is printed in full.
    """
    from flowyml.cli.project import Project

    with Project.find().runs() as history:
        run = history.get(run_id)
        manifest = run.manifest
    if as_json:
        emit_json({"commit": run.sha, "ref": run.ref, "time": run.time, **manifest.to_dict()})
        return
    click.echo(render(run))


def render(run: Run) -> str:
    """The text view of a run."""
    m = run.manifest
    c = m.counts()
    counts = ", ".join(f"{c[s]} {label}" for s, label in _COUNTED if c.get(s))
    head = [("run", f"{m.run_id} ({m.pipeline}" + (f", project {m.project}" if m.project else "") + ")"),
            ("status", f"{m.status}: {counts}"),
            ("recorded", f"{when(run.time)}, took {seconds(m.duration)}"),
            ("commit", f"{run.sha[:7]} on {run.ref}")]
    if m.version:
        head.append(("version", m.version))
    if m.context:
        head.append(("context", " ".join(f"{k}={v!r}" for k, v in sorted(m.context.items()))))
    if m.parent_run:
        head.append(("rerun of", m.parent_run + (f" from step {m.from_step}" if m.from_step else "")))
    parts = [columns(head)]
    steps = [(name, rec.status, seconds(rec.duration) if rec.status in ("success", "failed") else "-",
              (rec.key or "-")[:12], f"from run {rec.source_run}" if rec.cached and rec.source_run else "")
             for name, rec in m.steps.items()]
    parts.append(columns(steps, ("STEP", "STATUS", "DURATION", "KEY", "")))
    outputs = [(name, step, rec.codec, size(rec.size), rec.oid[:12])
               for step, srec in m.steps.items() for name, rec in srec.outputs.items()]
    if outputs:
        parts.append(columns(outputs, ("OUTPUT", "STEP", "CODEC", "SIZE", "OID")))
    for name, rec in m.steps.items():
        if rec.status == "failed" and rec.error:
            parts.append(f"traceback of {name}:\n" + textwrap.indent(rec.error.rstrip(), "  "))
    return "\n\n".join(parts)
