"""One step of a run: what its cache key was made of, its outputs, its error, its output streams."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Static

from flowyml_tui import display

if TYPE_CHECKING:
    from flowyml.manifest import StepRecord
    from flowyml_tui.source import RunView

# The engine keeps the last 8 KB of each stream (flowyml.execution.capture.KEEP_CHARS).
KEPT_CHARS = 8192


class StepDetail(VerticalScroll):
    """The selected step's record; its outputs table opens artifacts (Enter) and lineage (l)."""

    def compose(self) -> ComposeResult:
        yield Static(id="step-title")
        yield Static(id="step-key")
        yield Static("Outputs", classes="section")
        yield DataTable(id="outputs", cursor_type="row", zebra_stripes=True)
        yield Static(id="step-error")
        yield Static("Printed output", classes="section")
        yield Static(id="step-logs")

    def show(self, view: RunView, name: str) -> None:
        """Show step ``name`` of ``view``."""
        rec = view.steps[name]
        self.query_one("#step-title", Static).update(_title(view, rec))
        self.query_one("#step-key", Static).update(_key_table(rec))
        table = self.query_one("#outputs", DataTable)
        table.clear(columns=True)
        table.add_columns("output", "codec", "size", "kind", "oid")
        for out, o in rec.outputs.items():
            kind = (o.asset or {}).get("kind") or ""
            table.add_row(out, o.codec, display.size(o.size), kind, display.short_id(o.oid, 12), key=out)
        if not rec.outputs:
            table.add_row(Text("none yet" if rec.status in ("pending", "running") else "no outputs", style="dim"),
                          "", "", "", "", key="")
        self.query_one("#step-logs", Static).update(printed(rec))
        error = self.query_one("#step-error", Static)
        error.display = bool(rec.error)
        if rec.error:
            heading = "Skipped" if rec.status == "skipped" else f"Error ({rec.error_type or 'exception'})"
            error.update(Text.assemble((heading + "\n", "bold red"), (display.home_paths(rec.error.rstrip()), "red")))

    @property
    def selected_output(self) -> str | None:
        """The output under the outputs table's cursor."""
        table = self.query_one("#outputs", DataTable)
        if table.row_count == 0:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return key or None


def printed(rec: StepRecord) -> Text:
    """What the step wrote to stdout and stderr, as the manifest keeps it."""
    stdout, stderr = getattr(rec, "stdout", None), getattr(rec, "stderr", None)
    if stdout is None and stderr is None:
        return Text("not captured (recorded by a flowyml without output capture)", style="dim italic")
    if rec.status in ("pending", "running"):
        return Text("not finished yet", style="dim italic")
    if rec.status == "cached":
        source = f" in run {rec.source_run}" if rec.source_run else ""
        return Text(f"cached: the step did not run here; it printed its output{source}", style="dim italic")
    if rec.status in ("skipped", "not_run"):
        return Text("the step did not run", style="dim italic")
    if not stdout and not stderr:
        return Text("nothing printed", style="dim italic")
    text = Text()
    for name, stream, style in (("stdout", stdout, ""), ("stderr", stderr, "yellow")):
        if stream:
            kept = " (last 8 KB)" if len(stream) >= KEPT_CHARS else ""
            text.append(f"{name}{kept}\n", style="bold dim")
            text.append(stream.rstrip("\n") + "\n", style=style)
    text.rstrip()
    return text


def _title(view: RunView, rec: StepRecord) -> Text:
    text = Text()
    text.append(f"{display.glyph(rec.status)} {rec.name}", style="bold " + display.style(rec.status))
    text.append(f"   {display.label(rec.status)}", style=display.style(rec.status))
    if rec.status in ("success", "failed"):
        text.append(f" in {display.duration(rec.duration)}")
    if rec.attempts and rec.attempts > 1:
        text.append(f" after {rec.attempts} attempts", style="yellow")
    if rec.fallback_used:
        text.append("  (fallback used)", style="yellow")
    if rec.status == "cached" and rec.source_run:
        text.append(f"\noutputs reused from run {rec.source_run}", style="cyan")
    if rec.status == "running":
        text.append("\nall its inputs are ready: running (or about to) in the pipeline's process", style="dim")
    if rec.status == "pending":
        text.append("\nwaiting for the steps it depends on", style="dim")
    if rec.upstream:
        text.append("\ndepends on: " + ", ".join(rec.upstream), style="dim")
    return text


def _key_table(rec: StepRecord) -> Table | Text:
    """The cache key and the parts it was made of (code, inputs, parameters, config, files)."""
    if not rec.key:
        return Text("no cache key (the step did not get that far)", style="dim") \
            if rec.status not in ("pending", "running") else Text("")
    parts = rec.key_parts or {}
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    grid.add_row("cache key", Text(rec.key, style="magenta"))
    grid.add_row("code", Text(str(parts.get("code", "-")), style="magenta"))
    inputs = parts.get("inputs") or {}
    if inputs:
        lines = Text()
        for param, oid in inputs.items():
            source = rec.inputs.get(param, param)
            arrow = f"{param} ← {source}" if source != param else param
            lines.append(f"{arrow}  ", style="bold")
            lines.append(f"{display.short_id(oid, 16)}\n", style="cyan")
        lines.rstrip()
        grid.add_row("inputs", lines)
    else:
        grid.add_row("inputs", Text("none", style="dim"))
    params = parts.get("params") or {}
    grid.add_row("parameters", Text("\n".join(f"{k} = {display.value_text(v)}" for k, v in params.items()) or "none",
                                    style="" if params else "dim"))
    config = parts.get("config") or {}
    grid.add_row("config", Text(", ".join(f"{k}: {display.value_text(v)}" for k, v in config.items()) or "-"))
    if rec.files:
        grid.add_row("files read", Text("\n".join(f"{p}  {display.short_id(d, 12)}" for p, d in rec.files.items())))
    return grid
