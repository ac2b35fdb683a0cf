"""Picking two recorded versions of a pipeline to diff: first the old one, then the new one."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static


class VersionsScreen(ModalScreen[tuple[str, str] | None]):
    """A list of versions; Enter picks the old side, then the new side. Escape cancels.

    Args:
        pipeline: the pipeline's name.
        versions: its recorded versions, oldest first.
    """

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, pipeline: str, versions: list[str]) -> None:
        super().__init__()
        self.pipeline = pipeline
        self.versions = versions
        self.old: str | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="versions-box"):
            yield Static(f"Versions of {self.pipeline}", classes="section")
            yield Static("Pick the OLD version (Enter)", id="versions-prompt")
            yield OptionList(*self.versions, id="versions")

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        options.focus()
        options.highlighted = max(0, len(self.versions) - 2)

    @on(OptionList.OptionSelected)
    def _picked(self, event: OptionList.OptionSelected) -> None:
        version = self.versions[event.option_index]
        if self.old is None:
            self.old = version
            self.query_one("#versions-prompt", Static).update(f"Old: {version}. Now pick the NEW version (Enter)")
            self.query_one(OptionList).highlighted = len(self.versions) - 1
        elif version == self.old:
            self.notify("Pick a different version for the new side.", severity="warning")
        else:
            self.dismiss((self.old, version))

    def action_cancel(self) -> None:
        self.dismiss(None)
