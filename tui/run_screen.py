"""One run: its DAG with each step's status on the left, the selected step on the right.

A run in flight is re-read every half second from its journal; when it is
committed (its journal disappears) the screen switches to the recorded
manifest and stops polling.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from flowyml_tui import display
from flowyml_tui.dag_view import DagView
from flowyml_tui.messages import LoadFailed, RunLoaded, StepChosen, StepHighlighted
from flowyml_tui.step_detail import StepDetail

if TYPE_CHECKING:
    from flowyml_tui.source import HistorySource, RunView

POLL_SECONDS = 0.5


class RunScreen(Screen):
    """The DAG and step details of one run."""

    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("tab", "app.focus_next", "Switch pane", show=False),
        Binding("a", "artifact", "Artifact"),
        Binding("l", "lineage", "Lineage"),
        Binding("d", "diff", "Diff with previous"),
        Binding("r", "reload", "Reload"),
    ]

    def __init__(self, source: HistorySource, run_id: str, step: str | None = None) -> None:
        super().__init__()
        self.source = source
        self.run_id = run_id
        self.view: RunView | None = None
        self._wanted_step = step
        self._poller = None
        self._timer = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(f"Reading run {self.run_id}…", id="run-summary")
        with Horizontal(id="run-body"):
            yield DagView(id="dag")
            yield StepDetail(id="detail")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = f"run {self.run_id}"
        self.query_one(DagView).border_title = "steps"
        self.query_one(StepDetail).border_title = "step"
        self.query_one(DagView).focus()
        self.poll()

    # -- reading -------------------------------------------------------------------

    def poll(self) -> None:
        if self.view is not None and self.view.live:  # the elapsed time moves on between steps
            self.query_one("#run-summary", Static).update(_summary(self.view))
        if self._poller is None or self._poller.is_finished:
            self._poller = self.read_run()

    @work(thread=True, exclusive=True, group="run-read")
    def read_run(self) -> None:
        """Read the run (from its journal while in flight, else from the history)."""
        from flowyml.errors import FlowymlError

        try:
            view = self.source.run_view(self.run_id)
        except (FlowymlError, OSError) as exc:
            self.post_message(LoadFailed(f"run {self.run_id}", str(exc)))
            return
        if self.view is None or _progress(view) != _progress(self.view):
            self.post_message(RunLoaded(view))

    def on_run_loaded(self, message: RunLoaded) -> None:
        view = message.view
        self.view = view
        self.run_id = view.run_id
        self.query_one("#run-summary", Static).update(_summary(view))
        dag = self.query_one(DagView)
        dag.set_view(view)
        if self._wanted_step:
            dag.select_step(self._wanted_step)
            self._wanted_step = None
        if dag.current_step:
            self.query_one(StepDetail).show(view, dag.current_step)
        if view.live and self._timer is None:
            self._timer = self.set_interval(POLL_SECONDS, self.poll)
        elif not view.live and self._timer is not None:
            self._timer.stop()
            self._timer = None
            self.notify(f"Run {view.run_id} finished: {view.status}.")

    def on_load_failed(self, message: LoadFailed) -> None:
        self.query_one("#run-summary", Static).update(Text(f"Cannot read {message.what}: {message.error}",
                                                           style="red"))

    # -- selection -----------------------------------------------------------------

    def on_step_highlighted(self, message: StepHighlighted) -> None:
        if self.view is not None:
            self.query_one(StepDetail).show(self.view, message.value)

    def on_step_chosen(self, message: StepChosen) -> None:
        self.query_one("#outputs", DataTable).focus()

    @on(DataTable.RowSelected, "#outputs")
    def _output_chosen(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value:
            self._open_artifact(event.row_key.value)

    def _selected_output(self) -> str | None:
        detail = self.query_one(StepDetail)
        output = detail.selected_output
        if output is None:
            self.notify("This step has no outputs.", severity="warning")
        return output

    def _open_artifact(self, output: str) -> None:
        from flowyml_tui.artifact_screen import ArtifactScreen

        if self.view is not None:
            self.app.push_screen(ArtifactScreen(self.source, self.view.run_id, output, view=self.view))

    def action_artifact(self) -> None:
        output = self._selected_output()
        if output:
            self._open_artifact(output)

    def action_lineage(self) -> None:
        from flowyml_tui.lineage_screen import LineageScreen

        output = self._selected_output()
        if output and self.view is not None:
            self.app.push_screen(LineageScreen(self.source, self.view, output))

    def action_reload(self) -> None:
        self.view = None
        self.poll()

    def action_diff(self) -> None:
        if self.view is None or self.view.live:
            self.notify("A run in flight cannot be diffed until it is recorded.", severity="warning")
            return
        self._diff()

    @work(thread=True, exclusive=True, group="run-diff")
    def _diff(self) -> None:
        from flowyml.errors import FlowymlError

        try:
            previous = self.source.previous_run(self.run_id)
        except FlowymlError as exc:
            self.post_message(LoadFailed("the previous run", str(exc)))
            return
        self.app.call_from_thread(self._open_diff, previous)

    def _open_diff(self, previous: str | None) -> None:
        from flowyml_tui.diff_screen import DiffScreen

        if previous is None:
            self.notify("No earlier run of this pipeline to compare with.", severity="warning")
        else:
            self.app.push_screen(DiffScreen(self.source, runs=(previous, self.run_id)))


def _progress(view: RunView) -> tuple:
    """What changes on screen as a run in flight progresses."""
    return view.live, view.status, tuple((n, r.status) for n, r in view.steps.items())


def _summary(view: RunView) -> Text:
    text = Text()
    text.append(f"{view.pipeline}", style="bold")
    text.append(f"  run {view.run_id}  ", style="cyan")
    text.append(f"{display.glyph(view.status)} {display.run_label(view.status)}", style=display.style(view.status))
    seconds = view.duration if view.duration is not None else time.time() - view.started
    text.append(f"   started {display.timestamp(view.started)}   {display.duration(seconds)}")
    counts = view.counts()
    parts = [f"{n} {display.label(s)}" for s, n in sorted(counts.items(), key=lambda kv: _ORDER.get(kv[0], 9))]
    text.append("   " + ", ".join(parts), style="dim")
    if view.parent_run:
        text.append(f"\nrerun of {view.parent_run}" + (f" from step {view.from_step}" if view.from_step else ""),
                    style="italic")
    if view.context:
        text.append("\ncontext: " + ", ".join(f"{k}={display.value_text(v, 30)}" for k, v in view.context.items()),
                    style="dim")
    if view.live:
        note = "in flight — updating live" + (
            "; steps not finished yet are taken from the pipeline's previous run" if view.planned else
            "; only finished steps are known until the run is recorded")
        text.append("\n" + note, style="yellow")
    return text


_ORDER = {"success": 0, "cached": 1, "failed": 2, "skipped": 3, "not_run": 4, "running": 5, "pending": 6}
