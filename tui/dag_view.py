"""The DAG of one run, drawn as lanes (see :mod:`flowyml_tui.dag_layout`), one step per row."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.cells import cell_len
from rich.text import Text

from flowyml_tui import display
from flowyml_tui.dag_layout import DagRow, layout
from flowyml_tui.line_list import LineList
from flowyml_tui.messages import StepChosen, StepHighlighted

if TYPE_CHECKING:
    from flowyml_tui.source import RunView

NAME_MAX = 40
LANE_STYLE = "blue"


class DagView(LineList):
    """Each step with its status glyph, name, status and duration; the cursor picks a step.

    Posts :class:`~flowyml_tui.messages.StepHighlighted` as the cursor moves
    and :class:`~flowyml_tui.messages.StepChosen` on Enter or a double click.
    """

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.view: RunView | None = None
        self.rows: list[DagRow] = []
        self._name_width = 8
        self._width = 0

    def set_view(self, view: RunView) -> None:
        """Draw ``view``'s steps; the cursor stays on the same step if it still exists."""
        current = self.current_step
        self.view = view
        self.rows = layout(view.order, {name: rec.upstream for name, rec in view.steps.items()})
        self._name_width = min(NAME_MAX, max((cell_len(n) for n in view.order), default=8))
        graph = len(self.rows[0].graph) if self.rows else 0
        self._width = graph + 2 + self._name_width + 22
        keep = next((i for i, r in enumerate(self.rows) if current is not None and r.step == current), None)
        self.rows_changed(keep if keep is not None else (0 if current is None else None))

    @property
    def current_step(self) -> str | None:
        """The step under the cursor."""
        return self.rows[self.cursor].step if 0 <= self.cursor < len(self.rows) else None

    def select_step(self, name: str) -> None:
        """Move the cursor to step ``name``."""
        index = next((i for i, r in enumerate(self.rows) if r.step == name), None)
        if index is not None:
            self.cursor = index

    # -- LineList ------------------------------------------------------------------

    def row_count(self) -> int:
        return len(self.rows)

    def row_width(self) -> int:
        return self._width

    def selectable(self, index: int) -> bool:
        return self.rows[index].step is not None

    def render_row(self, index: int) -> Text:
        row = self.rows[index]
        text = Text()
        if row.step is None or self.view is None:
            text.append(row.graph, style=LANE_STYLE)
            return text
        rec = self.view.steps[row.step]
        text.append(row.graph[: row.column], style=LANE_STYLE)
        text.append(display.glyph(rec.status), style=display.style(rec.status))
        text.append(row.graph[row.column + 1:], style=LANE_STYLE)
        name = row.step if cell_len(row.step) <= self._name_width else row.step[: self._name_width - 1] + "…"
        text.append("  " + name + " " * (self._name_width - cell_len(name)), style="bold")
        text.append("  " + display.label(rec.status).ljust(8), style=display.style(rec.status))
        if rec.status in ("success", "failed"):
            text.append(display.duration(rec.duration).rjust(9), style="dim")
        if rec.attempts and rec.attempts > 1:
            text.append(f"  {rec.attempts} attempts", style="yellow")
        return text

    def on_cursor_moved(self, index: int) -> None:
        step = self.rows[index].step
        if step is not None:
            self.post_message(StepHighlighted(self, step))

    def on_chosen(self, index: int) -> None:
        step = self.rows[index].step
        if step is not None:
            self.post_message(StepChosen(self, step))
