"""``flowyml cat RUN OUTPUT``: print a stored output (a value, or a table preview)."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from flowyml.cli.output import USAGE, CliError, emit_json, json_option
from flowyml.cli.project import complete_run_id

_TABLES = {("pandas", "DataFrame"), ("pandas", "Series"), ("polars", "DataFrame"), ("polars", "Series"),
           ("pyarrow", "Table"), ("pyarrow", "RecordBatch")}


@click.command(short_help="Print a stored output of a run.")
@click.argument("run_id", metavar="RUN", shell_complete=complete_run_id)
@click.argument("output")
@click.option("--rows", "-n", default=10, show_default=True, type=click.IntRange(min=0),
              help="Rows of a table to preview.")
@click.option("--raw", is_flag=True, help="Write the stored bytes as they are (verified against the oid).")
@json_option
def cat(run_id: str, output: str, rows: int, raw: bool, as_json: bool) -> None:
    """Print OUTPUT of RUN: plain values as they are (JSON with --json), tables as a preview."""
    from flowyml.cli.project import Project
    from flowyml.execution.task import load_input

    project = Project.find()
    with project.runs() as history:
        run = history.get(run_id)
        try:
            art = run.artifact(output)
        except KeyError:
            raise CliError(f"run {run.run_id} has no output {output!r}; it has: "
                           f"{', '.join(run.outputs) or 'none'}", USAGE) from None
        store = project.store_for(run, art.oid)
        if raw:
            sys.stdout.buffer.write(store.get_bytes(art.oid))
            sys.stdout.buffer.flush()
            return
        value = load_input(store, art.name, art.record)
    data = getattr(value, "data", value) if art.record.asset else value
    if as_json:
        if not _is_json(data):
            raise CliError(f"{output} is a {type(data).__name__}, not a plain value: drop --json", USAGE)
        emit_json(data)
        return
    click.echo(render(data, rows))


def render(value: Any, rows: int) -> str:
    """A value for people: strings as they are, plain values as JSON, tables previewed."""
    kind = (type(value).__module__.partition(".")[0], type(value).__name__)
    if kind in _TABLES:
        return _preview(value, kind, rows)
    if isinstance(value, str):
        return value
    if _is_json(value) and isinstance(value, (dict, list)):
        return json.dumps(value, indent=2, ensure_ascii=False)
    return repr(value) if not hasattr(value, "shape") else str(value)


def _preview(table: Any, kind: tuple[str, str], rows: int) -> str:
    shape = getattr(table, "shape", None) or (table.num_rows, table.num_columns)
    head = table.slice(0, rows) if kind[0] == "pyarrow" else table.head(rows)
    if kind[0] == "pyarrow":
        body = head.to_string(preview_cols=20) if hasattr(head, "to_string") else str(head)
    else:
        body = str(head)
    dims = f"{shape[0]} rows" + (f" x {shape[1]} columns" if len(shape) > 1 else "")
    more = f" (first {rows} shown)" if shape[0] > rows else ""
    return f"{body}\n[{dims}{more}]"


def _is_json(value: Any) -> bool:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return False
    return True
