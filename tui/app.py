"""The flowyml terminal UI: ``flowyml ui`` opens it on the project in the current folder.

Screens (one module each): the run list (:mod:`~flowyml_tui.runs_screen`),
one run's DAG and steps (:mod:`~flowyml_tui.run_screen`), an artifact
(:mod:`~flowyml_tui.artifact_screen`), its lineage
(:mod:`~flowyml_tui.lineage_screen`) and a diff of two runs or versions
(:mod:`~flowyml_tui.diff_screen`). The app itself only owns the
:class:`~flowyml_tui.source.HistorySource` and the global keys.
"""

from __future__ import annotations

import os

from textual.app import App
from textual.binding import Binding

from flowyml_tui.runs_screen import RunsScreen
from flowyml_tui.source import HistorySource


class FlowymlApp(App):
    """Browse runs, DAGs, artifacts, lineage and diffs; watch runs in flight.

    Args:
        path: a folder inside the project whose history to show.
        project: only this project's runs.
    """

    TITLE = "flowyml"
    CSS_PATH = "flowyml.tcss"
    BINDINGS = [
        Binding("q", "quit", "Quit"),
        Binding("question_mark", "toggle_keys", "Keys"),
    ]

    def __init__(self, path: str | os.PathLike[str] = ".", project: str | None = None) -> None:
        super().__init__()
        self.source = HistorySource(path, project)

    def on_mount(self) -> None:
        self.push_screen(RunsScreen(self.source))

    def action_toggle_keys(self) -> None:
        """Show or hide the panel listing every key of the focused widget."""
        if self.screen.query("HelpPanel"):
            self.action_hide_help_panel()
        else:
            self.action_show_help_panel()

    def on_unmount(self) -> None:
        self.source.close()


def run_app(path: str | os.PathLike[str] = ".", project: str | None = None) -> None:
    """Run the terminal UI until the user quits (what ``flowyml ui`` calls).

    Args:
        path: a folder inside the project.
        project: only this project's runs.
    """
    FlowymlApp(path, project).run()
