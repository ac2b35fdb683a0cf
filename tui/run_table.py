"""The run list: one line per run, newest first, drawn only where visible."""

from __future__ import annotations

import time

from rich.cells import cell_len
from rich.text import Text

from flowyml_tui import display
from flowyml_tui.line_list import LineList
from flowyml_tui.messages import RunChosen, RunHighlighted
from flowyml_tui.source import RunRow

# (title, width); the pipeline column's width follows the longest name.
COLUMNS = (("", 1), ("status", 10), ("pipeline", 0), ("run", 12), ("started", 19), ("duration", 9),
           ("steps", 13))
PIPELINE_MAX = 32


class RunTable(LineList):
    """The runs, with a mark column for picking two runs to diff.

    Posts :class:`~flowyml_tui.messages.RunHighlighted` as the cursor moves and
    :class:`~flowyml_tui.messages.RunChosen` on Enter or a double click.
    """

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.rows: list[RunRow] = []
        self.marked: list[str] = []  # run ids, in the order they were marked
        self._pipeline_width = 8

    # -- data ----------------------------------------------------------------------

    def set_rows(self, rows: list[RunRow]) -> None:
        """Show ``rows``; the cursor stays on the same run when it is still listed."""
        current = self.current
        self.rows = rows
        widest = max((cell_len(r.pipeline) for r in rows), default=8)
        self._pipeline_width = max(8, min(PIPELINE_MAX, widest))
        keep = None
        if current is not None:
            keep = next((i for i, r in enumerate(rows) if r.run_id == current.run_id), None)
        self.rows_changed(keep if keep is not None else (0 if current is None else None))

    @property
    def current(self) -> RunRow | None:
        """The run under the cursor."""
        return self.rows[self.cursor] if 0 <= self.cursor < len(self.rows) else None

    def toggle_mark(self) -> None:
        """Mark or unmark the run under the cursor (two marked runs can be diffed)."""
        row = self.current
        if row is None:
            return
        if row.run_id in self.marked:
            self.marked.remove(row.run_id)
        else:
            self.marked = (self.marked + [row.run_id])[-2:]
        self.invalidate()

    def header(self) -> Text:
        """The column titles, aligned with the rows."""
        text = Text(style="bold")
        for title, width in COLUMNS:
            text.append(title.ljust(width or self._pipeline_width)[: width or self._pipeline_width] + " ")
        return text

    # -- LineList ------------------------------------------------------------------

    def row_count(self) -> int:
        return len(self.rows)

    def render_row(self, index: int) -> Text:
        row = self.rows[index]
        mark = "●" if row.run_id in self.marked else " "
        text = Text()
        text.append(mark + " ", style="bold magenta")
        text.append(f"{display.glyph(row.status)} {display.run_label(row.status)}".ljust(10)[:10] + " ",
                    style=display.style(row.status))
        name = row.pipeline if cell_len(row.pipeline) <= self._pipeline_width else \
            row.pipeline[: self._pipeline_width - 1] + "…"
        text.append(name + " " * (self._pipeline_width - cell_len(name)) + " ", style="bold")
        text.append(display.short_id(row.run_id, 12).ljust(12) + " ", style="cyan")
        text.append(display.timestamp(row.started).ljust(19) + " ")
        if row.duration is None:
            text.append(display.duration(max(0.0, time.time() - row.started)).rjust(9) + " ", style="yellow")
        else:  # the commit subject keeps hundredths of a second
            text.append((display.duration(row.duration) if row.duration >= 0.01 else "<10 ms").rjust(9) + " ")
        text.append(_steps(row), style="dim" if not row.failed else "red")
        if row.parent_run:
            text.append(f"  rerun of {display.short_id(row.parent_run)}", style="dim italic")
        if row.project:
            text.append(f"  [{row.project}]", style="dim")
        return text

    def on_cursor_moved(self, index: int) -> None:
        self.post_message(RunHighlighted(self, self.rows[index]))

    def on_chosen(self, index: int) -> None:
        self.post_message(RunChosen(self, self.rows[index]))


def _steps(row: RunRow) -> str:
    """``4 cached / 6`` (``3 done`` for a run in flight, whose total is not known)."""
    if row.live:
        return f"{row.total} done"
    text = f"{row.cached} cached / {row.total}"
    return text + (f", {row.failed} failed" if row.failed else "")
