"""Messages: what workers report back and what widgets tell their screens.

Workers read the disk in threads and post one of the ``*Loaded`` messages to
the screen that started them (``post_message`` is thread-safe); widgets post
the cursor messages. Handlers are named after the class: ``on_runs_loaded``,
``on_step_highlighted`` and so on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual.message import Message

if TYPE_CHECKING:
    from flowyml.inflight import InflightRun
    from flowyml_tui.lineage_tree import LineageNode
    from flowyml_tui.preview import Preview
    from flowyml_tui.source import DiffView, RunRow, RunView


# -- from workers ------------------------------------------------------------------------


class RunsLoaded(Message):
    """The recorded runs, newest first (sent when the history changed)."""

    def __init__(self, rows: list[RunRow]) -> None:
        super().__init__()
        self.rows = rows


class InflightLoaded(Message):
    """The runs in flight right now (sent when that set or their progress changed)."""

    def __init__(self, runs: list[InflightRun]) -> None:
        super().__init__()
        self.runs = runs


class HistoryMissing(Message):
    """There is no history where the app was opened."""

    def __init__(self, reason: str) -> None:
        super().__init__()
        self.reason = reason


class RunLoaded(Message):
    """A run's view, for the run screen (again each time a run in flight progresses)."""

    def __init__(self, view: RunView) -> None:
        super().__init__()
        self.view = view


class PreviewLoaded(Message):
    """An artifact's preview."""

    def __init__(self, preview: Preview) -> None:
        super().__init__()
        self.preview = preview


class LineageLoaded(Message):
    """The upstream and downstream trees of an artifact."""

    def __init__(self, upstream: LineageNode, downstream: LineageNode, producers: list[tuple[str, str, str]]) -> None:
        super().__init__()
        self.upstream = upstream
        self.downstream = downstream
        self.producers = producers


class DiffLoaded(Message):
    """Two runs or two versions compared."""

    def __init__(self, view: DiffView) -> None:
        super().__init__()
        self.view = view


class VersionsLoaded(Message):
    """The versions recorded for a pipeline."""

    def __init__(self, pipeline: str, versions: list[str]) -> None:
        super().__init__()
        self.pipeline = pipeline
        self.versions = versions


class LoadFailed(Message):
    """A worker could not read what it was asked for."""

    def __init__(self, what: str, error: str) -> None:
        super().__init__()
        self.what = what
        self.error = error


# -- from widgets ------------------------------------------------------------------------


class _Cursor(Message):
    """A list cursor event; ``control`` is the list that sent it (for ``@on(..., "#id")``)."""

    def __init__(self, sender: Any, value: Any) -> None:
        super().__init__()
        self.sender = sender
        self.value = value

    @property
    def control(self) -> Any:
        return self.sender


class RunHighlighted(_Cursor):
    """The run list's cursor moved to a run (``value`` is its RunRow)."""


class RunChosen(_Cursor):
    """A run was opened (Enter or double click; ``value`` is its RunRow)."""


class StepHighlighted(_Cursor):
    """The DAG's cursor moved to a step (``value`` is the step name)."""


class StepChosen(_Cursor):
    """A step was chosen in the DAG (``value`` is the step name)."""
