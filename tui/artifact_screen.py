"""One stored output: where it is and what it holds (table head, value, metrics, or object type)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.pretty import Pretty
from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from flowyml_tui import display
from flowyml_tui.messages import LoadFailed, PreviewLoaded, RunLoaded
from flowyml_tui.preview import MetricsPreview, ObjectPreview, PreviewError, TablePreview, ValuePreview

if TYPE_CHECKING:
    from flowyml_tui.preview import Preview
    from flowyml_tui.source import HistorySource, RunView

CELL_MAX = 40


class ArtifactScreen(Screen):
    """An artifact's record and a preview of its value."""

    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("l", "lineage", "Lineage"),
        Binding("o", "load_object", "Load object"),
        Binding("g", "goto_run", "Open run"),
    ]

    def __init__(self, source: HistorySource, run_id: str, output: str, view: RunView | None = None) -> None:
        super().__init__()
        self.source = source
        self.run_id = run_id
        self.output = output
        self.view = view
        self.preview: Preview | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(f"Reading {self.output} of run {self.run_id}…", id="artifact-info")
        yield Static(classes="section", id="preview-title")
        yield Static(id="schema")
        yield DataTable(id="table-preview", zebra_stripes=True)
        with VerticalScroll(id="value-scroll"):
            yield Static(id="value-preview")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = f"{self.output} · run {self.run_id}"
        self.query_one("#table-preview").display = False
        self.read(load=False)

    @work(thread=True, exclusive=True, group="artifact-read")
    def read(self, load: bool) -> None:
        """Read the run (if not given) and preview the output; ``load`` unpickles on request."""
        from flowyml.errors import FlowymlError

        try:
            view = self.view or self.source.run_view(self.run_id)
            self.post_message(RunLoaded(view))
            preview = self.source.load_object(view, self.output) if load else self.source.preview(view, self.output)
        except KeyError:
            self.post_message(LoadFailed(self.output, f"run {self.run_id} has no output {self.output!r}"))
            return
        except (FlowymlError, OSError) as exc:
            self.post_message(LoadFailed(self.output, str(exc)))
            return
        except Exception as exc:  # unpickling on request can raise anything
            self.post_message(LoadFailed(self.output, f"{type(exc).__name__}: {exc}"))
            return
        self.post_message(PreviewLoaded(preview))

    def on_run_loaded(self, message: RunLoaded) -> None:
        self.view = message.view
        step, record = self.source.output(message.view, self.output)
        self.query_one("#artifact-info", Static).update(_info(message.view, step, self.output, record))

    def on_preview_loaded(self, message: PreviewLoaded) -> None:
        self.preview = preview = message.preview
        title = self.query_one("#preview-title", Static)
        schema = self.query_one("#schema", Static)
        table = self.query_one("#table-preview", DataTable)
        value = self.query_one("#value-preview", Static)
        table.display = isinstance(preview, (TablePreview, MetricsPreview))
        self.query_one("#value-scroll").display = not table.display
        schema.display = isinstance(preview, TablePreview)
        table.clear(columns=True)
        if isinstance(preview, TablePreview):
            title.update(f"Table — {preview.row_count:,} rows × {len(preview.columns)} columns"
                         f"  (first {len(preview.rows)} shown)")
            schema.update(Text("  ".join(f"{n}: {t}" for n, t in preview.columns), style="dim"))
            table.add_columns(*[n for n, _ in preview.columns])
            table.add_rows([[_cell(v) for v in row] for row in preview.rows])
        elif isinstance(preview, MetricsPreview):
            title.update(f"Metrics — {len(preview.items)} values")
            table.add_columns("metric", "value")
            table.add_rows([[name, _cell(v)] for name, v in preview.items])
        elif isinstance(preview, ValuePreview):
            title.update(f"Value — {preview.summary}")
            value.update(Pretty(preview.value, max_length=200, max_string=2000))
        elif isinstance(preview, ObjectPreview):
            title.update(f"Object — {preview.type_name}")
            value.update(_object(preview))
        elif isinstance(preview, PreviewError):
            title.update("No preview")
            value.update(Text(preview.message, style="red"))

    def on_load_failed(self, message: LoadFailed) -> None:
        self.query_one("#preview-title", Static).update("No preview")
        self.query_one("#value-preview", Static).update(Text(f"Cannot read {message.what}: {message.error}",
                                                             style="red"))

    def action_load_object(self) -> None:
        if not isinstance(self.preview, ObjectPreview) or self.preview.loaded is not None:
            self.notify("Only objects shown by type (pickles) need loading.", severity="information")
            return
        self.notify("Loading the object (this unpickles it from your own store)…")
        self.read(load=True)

    def action_lineage(self) -> None:
        from flowyml_tui.lineage_screen import LineageScreen

        if self.view is not None:
            self.app.push_screen(LineageScreen(self.source, self.view, self.output))

    def action_goto_run(self) -> None:
        from flowyml_tui.run_screen import RunScreen

        if self.view is not None:
            step, _ = self.source.output(self.view, self.output)
            self.app.push_screen(RunScreen(self.source, self.view.run_id, step=step))


def _info(view: RunView, step: str, output: str, record: object) -> Table:
    rec = view.steps[step]
    asset = getattr(record, "asset", None) or {}
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    grid.add_row("output", Text(output, style="bold"))
    grid.add_row("step", Text(f"{step}  ({display.label(rec.status)})", style=display.style(rec.status)))
    grid.add_row("run", Text(f"{view.run_id}  {view.pipeline}", style="cyan"))
    if rec.status == "cached" and rec.source_run:
        grid.add_row("computed by", Text(f"run {rec.source_run} (reused from the cache)", style="cyan"))
    grid.add_row("oid", Text(getattr(record, "oid", ""), style="magenta"))
    grid.add_row("codec", getattr(record, "codec", ""))
    grid.add_row("size", display.size(getattr(record, "size", None)))
    if asset:
        grid.add_row("asset", f"{asset.get('kind', 'asset')}" + (f" {asset['name']!r}" if asset.get("name") else ""))
        if asset.get("metadata"):
            grid.add_row("metadata", display.value_text(asset["metadata"], 200))
    return grid


def _object(preview: ObjectPreview) -> Text:
    text = Text()
    text.append(f"{preview.type_name}\n", style="bold")
    text.append(f"{preview.codec}, {display.size(preview.size)}\n\n", style="dim")
    if preview.loaded is None:
        text.append("Not loaded: loading a pickle runs code. It came from your own store; press o to load it.",
                    style="italic")
    else:
        text.append(preview.loaded)
    return text


def _cell(value: object) -> Text:
    if value is None:
        return Text("null", style="dim italic")
    text = value if isinstance(value, str) else repr(value)
    if len(text) > CELL_MAX:
        text = text[: CELL_MAX - 1] + "…"
    return Text(text, style="" if isinstance(value, str) else "cyan")
