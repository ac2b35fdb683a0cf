"""The first screen: every run of every pipeline, newest first, updated live.

Reads happen in one thread worker that runs at start and then every half
second: it compares the flowyml refs (a few files) with what it saw last and
lists the runs again only when they moved, then polls the run journals for
runs in flight. Filtering 10,000 rows is a list comprehension on the UI side.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Footer, Header, Input, Select, Static

from flowyml_tui import display
from flowyml_tui.messages import (HistoryMissing, InflightLoaded, LoadFailed, RunChosen, RunsLoaded,
                                  VersionsLoaded)
from flowyml_tui.run_table import RunTable
from flowyml_tui.source import RunRow, inflight_status, live_row, row_of

if TYPE_CHECKING:
    from flowyml.inflight import InflightRun
    from flowyml_tui.source import HistorySource

POLL_SECONDS = 0.5
STATUSES = (("all statuses", ""), ("success", "success"), ("failed", "failed"), ("running", "running"))


class RunsScreen(Screen):
    """Every run, filterable by pipeline, status and free text."""

    BINDINGS = [
        Binding("slash", "search", "Search"),
        Binding("escape", "clear_search", "Clear", show=False),
        Binding("space", "mark", "Mark"),
        Binding("d", "diff", "Diff"),
        Binding("v", "versions", "Versions"),
        Binding("p", "focus_filter('pipeline')", "Pipeline"),
        Binding("s", "focus_filter('status')", "Status"),
        Binding("r", "reload", "Reload"),
    ]

    def __init__(self, source: HistorySource) -> None:
        super().__init__()
        self.source = source
        self.recorded: list[RunRow] = []
        self.live: list[InflightRun] = []
        self.missing: str | None = None
        self.loaded = False
        self._poller = None
        self._force = True
        self._pipelines: list[str] = []  # the pipeline filter's choices
        self._last_error: str | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="filters"):
            yield Input(placeholder="/ search pipeline, run id, status", id="search", compact=True)
            yield Select([("all pipelines", "")], value="", allow_blank=False, id="pipeline", compact=True)
            yield Select(STATUSES, value="", allow_blank=False, id="status", compact=True)
        yield Static(id="runs-header", classes="table-header")
        yield RunTable(id="runs")
        yield Static("Reading the run history…", id="runs-message", classes="message")
        yield Static(id="runs-status", classes="status-line")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = display.folder(self.source.path)
        self.query_one(RunTable).focus()
        self.poll()
        self.set_interval(POLL_SECONDS, self.poll)

    # -- reading -------------------------------------------------------------------

    def poll(self) -> None:
        """Start a poll unless one is still running (a slow disk must not pile them up)."""
        if self.live:
            self.query_one(RunTable).invalidate()  # the elapsed time of runs in flight moves on
        if self._poller is not None and not self._poller.is_finished:
            return
        force, self._force = self._force, False
        self._poller = self.read_history(force)

    @work(thread=True, exclusive=True, group="runs-poll")
    def read_history(self, force: bool = False) -> None:
        """List the runs if the refs moved, then the runs in flight; post what changed."""
        from flowyml.errors import FlowymlError
        from flowyml_tui.source import MissingHistory

        recorded = {r.run_id for r in self.recorded}
        try:
            if self.source.changed() or force:
                runs = self.source.runs()
                rows = [row_of(run) for run in runs]
                self.post_message(RunsLoaded(rows))
                newest = {}
                for run in runs:
                    newest.setdefault(run.pipeline, run)
                self.source.watch_stores(newest.values())
                recorded = {r.run_id for r in rows}
        except MissingHistory as exc:
            if self.missing is None or force:
                self.post_message(HistoryMissing(str(exc)))
        except (FlowymlError, OSError) as exc:
            self.post_message(LoadFailed("the run history", str(exc)))
            return
        try:  # journals need no history: a project's first run is in flight before it has one
            live = self.source.inflight(recorded)
        except OSError as exc:
            self.post_message(LoadFailed("the runs in flight", str(exc)))
            return
        if _progress(live) != _progress(self.live) or force:
            self.post_message(InflightLoaded(live))

    def on_runs_loaded(self, message: RunsLoaded) -> None:
        self.recorded = message.rows
        self.missing = None
        self.loaded = True
        self._refresh_pipelines()
        self.apply_filter()

    def on_inflight_loaded(self, message: InflightLoaded) -> None:
        self.live = message.runs
        if self.loaded:
            self._refresh_pipelines()
            self.apply_filter()

    def on_history_missing(self, message: HistoryMissing) -> None:
        self.missing = message.reason
        self.loaded = True
        self.apply_filter()

    def on_load_failed(self, message: LoadFailed) -> None:
        if message.error != self._last_error:  # the poll would repeat it twice a second
            self._last_error = message.error
            self.notify(message.error, title=f"Cannot read {message.what}", severity="error")

    # -- filtering -----------------------------------------------------------------

    def all_rows(self) -> list[RunRow]:
        """Runs in flight first, then the recorded runs, newest first."""
        return [live_row(r) for r in self.live] + self.recorded

    def filtered(self) -> list[RunRow]:
        """The rows matching the search text, pipeline and status filters."""
        words = self.query_one("#search", Input).value.lower().split()
        pipeline = self.query_one("#pipeline", Select).value
        status = self.query_one("#status", Select).value
        rows = self.all_rows()
        if pipeline:
            rows = [r for r in rows if r.pipeline == pipeline]
        if status:
            rows = [r for r in rows if r.status == status or (status == "running" and r.live)]
        if words:
            rows = [r for r in rows if all(w in r.search_text for w in words)]
        return rows

    def apply_filter(self) -> None:
        """Show the rows that pass the filters, and say why when there are none."""
        table = self.query_one(RunTable)
        rows = self.filtered()
        table.set_rows(rows)
        self.query_one("#runs-header", Static).update(table.header())
        self.query_one("#runs-message", Static).update(self._message(rows))
        self.query_one("#runs-message").display = not rows
        appeared = bool(rows) and not table.display
        table.display = bool(rows)
        if appeared and not isinstance(self.focused, (Input, Select)):
            table.focus()  # hiding the empty list took the focus away from it
        self._update_status(rows)

    def _message(self, rows: list[RunRow]) -> str:
        if rows:
            return ""
        if self.missing:
            return f"No flowyml history here.\n\n{self.missing}."
        if not self.loaded:
            return "Reading the run history…"
        if not self.recorded and not self.live:
            return ("No runs recorded yet.\n\nRun a pipeline (for example `python my_pipeline.py` or "
                    "`flowyml run my_pipeline.py`) and it appears here within a second.")
        return "No run matches the filters. Press Escape to clear them."

    def _update_status(self, rows: list[RunRow]) -> None:
        total = len(self.recorded)
        pipelines = len({r.pipeline for r in self.recorded})
        parts = [f"{total:,} run{'s' * (total != 1)}", f"{pipelines} pipeline{'s' * (pipelines != 1)}"]
        running = sum(1 for r in self.live if live_row(r).status == "running")
        if running:
            parts.append(f"{running} running")
        if len(rows) != len(self.all_rows()):
            parts.append(f"{len(rows):,} shown")
        marked = self.query_one(RunTable).marked
        if marked:
            parts.append("marked " + ", ".join(m[:8] for m in marked) + " — d to diff")
        self.query_one("#runs-status", Static).update("  ·  ".join(parts))

    def _refresh_pipelines(self) -> None:
        names = sorted({r.pipeline for r in self.recorded} | {r.pipeline for r in self.live})
        if names == self._pipelines:
            return
        self._pipelines = names
        select = self.query_one("#pipeline", Select)
        current = select.value
        select.set_options([("all pipelines", "")] + [(n, n) for n in names])
        select.value = current if current in names else ""

    @on(Input.Changed, "#search")
    @on(Select.Changed)
    def _filters_changed(self) -> None:
        if self.loaded:
            self.apply_filter()

    @on(Input.Submitted, "#search")
    def _search_done(self) -> None:
        self.query_one(RunTable).focus()

    # -- actions -------------------------------------------------------------------

    def on_run_chosen(self, message: RunChosen) -> None:
        from flowyml_tui.run_screen import RunScreen

        self.app.push_screen(RunScreen(self.source, message.value.run_id))

    def action_search(self) -> None:
        self.query_one("#search", Input).focus()

    def action_clear_search(self) -> None:
        self.query_one("#search", Input).value = ""
        self.query_one("#pipeline", Select).value = ""
        self.query_one("#status", Select).value = ""
        self.query_one(RunTable).focus()

    def action_focus_filter(self, which: str) -> None:
        self.query_one(f"#{which}", Select).focus()

    def action_mark(self) -> None:
        table = self.query_one(RunTable)
        table.toggle_mark()
        self._update_status(table.rows)

    def action_reload(self) -> None:
        self._force = True
        self.poll()

    def action_diff(self) -> None:
        """Diff the two marked runs; one marked run against the cursor; else the cursor against the run before."""
        table = self.query_one(RunTable)
        current = table.current
        pair = list(table.marked)
        if len(pair) < 2 and current is not None and current.run_id not in pair:
            pair.append(current.run_id)
        if len(pair) == 2:
            old, new = sorted(pair, key=lambda rid: self._started(rid))
            self._open_diff(old, new)
        elif current is not None:
            self._diff_with_previous(current.run_id)

    @work(thread=True, exclusive=True, group="runs-diff")
    def _diff_with_previous(self, run_id: str) -> None:
        from flowyml.errors import FlowymlError

        try:
            previous = self.source.previous_run(run_id)
        except FlowymlError as exc:
            self.post_message(LoadFailed("the previous run", str(exc)))
            return
        if previous is None:
            self.app.call_from_thread(self.notify, "This run has no earlier run to compare with; "
                                      "mark two runs with Space, then press d.", severity="warning")
        else:
            self.app.call_from_thread(self._open_diff, previous, run_id)

    def _open_diff(self, old: str, new: str) -> None:
        from flowyml_tui.diff_screen import DiffScreen

        if any(r.live and r.run_id in (old, new) for r in self.all_rows()):
            self.notify("A run in flight cannot be diffed until it is recorded.", severity="warning")
            return
        self.app.push_screen(DiffScreen(self.source, runs=(old, new)))

    def _started(self, run_id: str) -> float:
        return next((r.started for r in self.all_rows() if r.run_id == run_id), 0.0)

    def action_versions(self) -> None:
        current = self.query_one(RunTable).current
        if current is not None:
            self._load_versions(current.pipeline)

    @work(thread=True, exclusive=True, group="runs-versions")
    def _load_versions(self, pipeline: str) -> None:
        from flowyml.errors import FlowymlError

        try:
            self.post_message(VersionsLoaded(pipeline, self.source.versions(pipeline)))
        except FlowymlError as exc:
            self.post_message(LoadFailed(f"the versions of {pipeline}", str(exc)))

    def on_versions_loaded(self, message: VersionsLoaded) -> None:
        from flowyml_tui.diff_screen import DiffScreen
        from flowyml_tui.versions_screen import VersionsScreen

        if len(message.versions) < 2:
            self.notify(f"Pipeline {message.pipeline!r} has {len(message.versions)} recorded version(s); "
                        "a version diff needs two (create them with Pipeline(name, version=...)).",
                        severity="warning")
            return

        def chosen(pair: tuple[str, str] | None) -> None:
            if pair:
                self.app.push_screen(DiffScreen(self.source, versions=(message.pipeline, *pair)))

        self.app.push_screen(VersionsScreen(message.pipeline, message.versions), chosen)


def _progress(runs: list[InflightRun]) -> list[tuple[str, int, str]]:
    """What changes on screen when a run in flight progresses."""
    return [(r.run_id, len(r.steps), inflight_status(r)) for r in runs]
