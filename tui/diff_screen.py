"""Two runs (or two versions of a pipeline) compared step by step.

Each step is "same", "modified", "added" or "removed"; for a modified step the
detail pane says which part of its cache key changed — code, inputs,
parameters, config — and, between runs, which output oids differ.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from flowyml_tui import display
from flowyml_tui.messages import DiffLoaded, LoadFailed

if TYPE_CHECKING:
    from flowyml_tui.source import DiffView, HistorySource

CHANGE_STYLE = {"same": "dim", "modified": "yellow", "added": "green", "removed": "red"}
PART_LABEL = {"code": "code", "inputs": "inputs", "params": "parameters", "config": "cache config",
              "outputs": "declared outputs", "status": "status"}


class DiffScreen(Screen):
    """The differences between two runs or two versions."""

    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("c", "only_changes", "Only changes"),
        Binding("s", "swap", "Swap sides"),
    ]

    def __init__(self, source: HistorySource, runs: tuple[str, str] | None = None,
                 versions: tuple[str, str, str] | None = None) -> None:
        super().__init__()
        if (runs is None) == (versions is None):
            raise ValueError("DiffScreen needs either runs=(old, new) or versions=(pipeline, old, new)")
        self.source = source
        self.runs = runs
        self.versions = versions
        self.view: DiffView | None = None
        self.only_changes = False

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("Comparing…", id="diff-summary")
        yield DataTable(id="diff-steps", cursor_type="row", zebra_stripes=True)
        with VerticalScroll(id="diff-detail-scroll"):
            yield Static(id="diff-detail")
        yield Footer()

    def on_mount(self) -> None:
        old, new = self.runs or self.versions[1:]  # type: ignore[index]
        self.sub_title = f"diff {old} → {new}"
        self.query_one("#diff-steps", DataTable).add_columns("step", "change", "what changed", "outputs")
        self.query_one("#diff-steps").focus()
        self.read()

    @work(thread=True, exclusive=True, group="diff-read")
    def read(self) -> None:
        from flowyml.errors import FlowymlError

        try:
            if self.runs is not None:
                view = self.source.diff_runs(*self.runs)
            else:
                view = self.source.diff_versions(*self.versions)  # type: ignore[misc]
        except (FlowymlError, OSError) as exc:
            self.post_message(LoadFailed("the diff", str(exc)))
            return
        self.post_message(DiffLoaded(view))

    def on_diff_loaded(self, message: DiffLoaded) -> None:
        self.view = message.view
        self.query_one("#diff-summary", Static).update(_summary(message.view))
        self._fill()

    def on_load_failed(self, message: LoadFailed) -> None:
        self.query_one("#diff-summary", Static).update(Text(f"Cannot compare: {message.error}", style="red"))

    def _fill(self) -> None:
        assert self.view is not None
        table = self.query_one("#diff-steps", DataTable)
        table.clear()
        diff = self.view.diff
        for name in self.view.steps:
            change = change_of(diff, name)
            if self.only_changes and change == "same":
                continue
            step = diff.step(name)
            parts = ", ".join(PART_LABEL.get(p, p) for p in step.parts) if step else ""
            outputs = ", ".join(step.outputs) if step and step.outputs else ""
            table.add_row(Text(name, style="bold"), Text(change, style=CHANGE_STYLE[change]), parts, outputs, key=name)
        if table.row_count:
            self._show(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)
        else:
            self.query_one("#diff-detail", Static).update(Text("No step changed.", style="green"))

    @on(DataTable.RowHighlighted, "#diff-steps")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show(event.row_key.value)

    def _show(self, name: str | None) -> None:
        if self.view is None or name is None:
            return
        self.query_one("#diff-detail", Static).update(detail(self.view, name))

    def action_only_changes(self) -> None:
        self.only_changes = not self.only_changes
        if self.view is not None:
            self._fill()

    def action_swap(self) -> None:
        if self.runs is not None:
            self.runs = (self.runs[1], self.runs[0])
        elif self.versions is not None:
            self.versions = (self.versions[0], self.versions[2], self.versions[1])
        old, new = self.runs or self.versions[1:]  # type: ignore[index]
        self.sub_title = f"diff {old} → {new}"
        self.read()


def change_of(diff: Any, name: str) -> str:
    """"added", "removed", "modified" or "same"."""
    if name in diff.added:
        return "added"
    if name in diff.removed:
        return "removed"
    return "modified" if diff.step(name) is not None else "same"


def detail(view: DiffView, name: str) -> Table | Text:
    """What changed in step ``name``, part by part, old → new."""
    diff = view.diff
    change = change_of(diff, name)
    if change in ("added", "removed"):
        side = "new" if change == "added" else "old"
        return Text(f"{name}: only in the {side} side ({diff.new if change == 'added' else diff.old}).",
                    style=CHANGE_STYLE[change])
    step = diff.step(name)
    if step is None:
        what = "same code, inputs, parameters and config"
        return Text(f"{name}: unchanged — {what}" + (", same outputs." if view.kind == "runs" else "."), style="dim")
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    grid.add_row(Text(name, style="bold yellow"), Text(", ".join(PART_LABEL.get(p, p) for p in step.parts) +
                                                        " changed" if step.parts else "outputs changed"))
    for part, (old, new) in step.details.items():
        grid.add_row(PART_LABEL.get(part, part), _change(part, old, new))
    for out, (old, new) in step.outputs.items():
        grid.add_row(f"output {out}", _pair(display.short_id(old, 16) or "-", display.short_id(new, 16) or "-"))
    return grid


def _change(part: str, old: Any, new: Any) -> Text:
    if part == "code":
        return _pair(display.short_id(str(old), 16), display.short_id(str(new), 16))
    if isinstance(old, dict) or isinstance(new, dict):
        old, new = old or {}, new or {}
        text = Text()
        for key in sorted(set(old) | set(new)):
            a, b = old.get(key), new.get(key)
            if a == b:
                continue
            text.append(f"{key}: ", style="bold")
            text.append_text(_pair(_short(part, a), _short(part, b)))
            text.append("\n")
        text.rstrip()
        return text
    return _pair(display.value_text(old, 60), display.value_text(new, 60))


def _short(part: str, value: Any) -> str:
    if value is None:
        return "(none)"
    if part == "inputs" and isinstance(value, str):
        return display.short_id(value, 16)
    return display.value_text(value, 60)


def _pair(old: str, new: str) -> Text:
    return Text.assemble((old, "red"), " → ", (new, "green"))


def _summary(view: DiffView) -> Text:
    diff = view.diff
    text = Text()
    what = "runs" if view.kind == "runs" else f"versions of {view.pipeline}"
    text.append(f"diff {what}  ", style="bold")
    text.append(f"{diff.old}", style="red")
    text.append(" → ")
    text.append(f"{diff.new}", style="green")
    counts = [f"{len(diff.modified)} modified", f"{len(diff.added)} added", f"{len(diff.removed)} removed"]
    text.append("   " + ", ".join(counts), style="dim")
    if not diff.changed:
        text.append("\nno changes", style="green")
    for key, (old, new) in diff.context.items():
        text.append(f"\ncontext {key}: ", style="bold")
        text.append_text(_pair(display.value_text(old, 40), display.value_text(new, 40)))
    return text
