"""A scrolling list of one-line rows with a cursor, drawn only where visible.

Textual's DataTable measures every cell of every row before its first frame:
10,000 runs took 1.3 s to appear here. This widget uses the line API instead
(``render_line`` is called for the rows on screen only), so opening, scrolling
and filtering cost the same for 100 rows or 100,000. Subclasses say how many
rows there are and how to draw one; this class does the cursor, keys and mouse.
"""

from __future__ import annotations

from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.geometry import Region, Size
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip


class LineList(ScrollView, can_focus=True):
    """Rows with a cursor: up/down/page/home/end move it, Enter or a double click chooses.

    Subclasses implement :meth:`row_count` and :meth:`render_row`, and may
    override :meth:`selectable`, :meth:`on_cursor_moved` and :meth:`on_chosen`.
    """

    BINDINGS = [
        Binding("up,k", "cursor(-1)", "Up", show=False),
        Binding("down,j", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home,g", "edge(-1)", "First", show=False),
        Binding("end,G", "edge(1)", "Last", show=False),
        Binding("enter", "choose", "Open", show=False),
    ]
    COMPONENT_CLASSES = {"line-list--cursor", "line-list--cursor-blurred"}
    DEFAULT_CSS = """
    LineList { background: $surface; }
    LineList > .line-list--cursor {
        background: $block-cursor-background; text-style: $block-cursor-text-style;
    }
    LineList > .line-list--cursor-blurred {
        background: $block-cursor-blurred-background; text-style: $block-cursor-blurred-text-style;
    }
    """

    cursor: reactive[int] = reactive(-1, init=False)

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        # Rendered rows other than the cursor's, by index: moving the cursor
        # redraws two rows, not the page (cleared whenever rows may change).
        self._strips: dict[int, Strip] = {}

    # -- for subclasses ----------------------------------------------------------------

    def row_count(self) -> int:
        """How many rows there are."""
        raise NotImplementedError

    def render_row(self, index: int) -> Text:
        """The text of row ``index`` (one line, unstyled background)."""
        raise NotImplementedError

    def row_width(self) -> int:
        """The widest row, for horizontal scrolling (0: as wide as the widget)."""
        return 0

    def selectable(self, index: int) -> bool:
        """Whether the cursor may rest on row ``index``."""
        return True

    def on_cursor_moved(self, index: int) -> None:
        """Called when the cursor lands on a row."""

    def on_chosen(self, index: int) -> None:
        """Called when the row under the cursor is chosen."""

    # -- data changes ------------------------------------------------------------------

    def invalidate(self) -> None:
        """Forget rendered rows (call when what a row shows changed) and redraw."""
        self._strips.clear()
        self.refresh()

    def rows_changed(self, keep: int | None = None) -> None:
        """Call after the rows changed; ``keep`` is the row the cursor should move to."""
        self._strips.clear()
        self.virtual_size = Size(self.row_width(), self.row_count())
        target = self.cursor if keep is None else keep
        count = self.row_count()
        if count == 0:
            target = -1
        else:
            target = self._nearest(max(0, min(target, count - 1)), 1)
        if target == self.cursor:
            if target >= 0:
                self.on_cursor_moved(target)
        else:
            self.cursor = target
        self.refresh()

    # -- drawing -----------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        index = scroll_y + y
        width = self.scrollable_content_region.width
        base = self.rich_style
        if index >= self.row_count():
            return Strip.blank(width, base)
        style = base
        if index == self.cursor:
            name = "line-list--cursor" if self.has_focus else "line-list--cursor-blurred"
            style = base + self.get_component_rich_style(name)
            strip = self._render_strip(index, style)
        else:
            strip = self._strips.get(index) or self._strips.setdefault(index, self._render_strip(index, style))
        return strip.crop_extend(scroll_x, scroll_x + width, style)

    def _render_strip(self, index: int, style: Style) -> Strip:
        text = self.render_row(index)
        text.no_wrap = True
        text.end = ""
        text.stylize_before(style)
        return Strip(list(text.render(self.app.console)), text.cell_len).simplify()

    def watch_cursor(self, old: int, new: int) -> None:
        if new < 0:
            return
        self.scroll_to_region(Region(0, new, 1, 1), animate=False, force=True, x_axis=False, immediate=True)
        self.refresh()
        self.on_cursor_moved(new)

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()

    def on_resize(self) -> None:
        self.invalidate()

    def notify_style_update(self) -> None:
        self._strips.clear()
        super().notify_style_update()

    # -- moving ------------------------------------------------------------------------

    def _nearest(self, index: int, direction: int) -> int:
        """The first selectable row from ``index`` in ``direction``, else in the other."""
        count = self.row_count()
        for step in (direction, -direction):
            i = index
            while 0 <= i < count:
                if self.selectable(i):
                    return i
                i += step
        return -1

    def action_cursor(self, delta: int) -> None:
        """Move to the next selectable row up (-1) or down (1)."""
        start = self.cursor + delta
        count = self.row_count()
        i = start
        while 0 <= i < count and not self.selectable(i):
            i += delta
        if 0 <= i < count:
            self.cursor = i

    def action_page(self, direction: int) -> None:
        """Move one screen up or down."""
        count = self.row_count()
        if count:
            page = max(1, self.scrollable_content_region.height - 1)
            self.cursor = self._nearest(max(0, min(count - 1, self.cursor + direction * page)), direction)

    def action_edge(self, direction: int) -> None:
        """Move to the first (-1) or last (1) row."""
        count = self.row_count()
        if count:
            self.cursor = self._nearest(0 if direction < 0 else count - 1, -direction)

    def action_choose(self) -> None:
        """Choose the row under the cursor."""
        if 0 <= self.cursor < self.row_count():
            self.on_chosen(self.cursor)

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        index = offset.y + self.scroll_offset.y
        if 0 <= index < self.row_count() and self.selectable(index):
            self.focus()
            self.cursor = index
            if event.chain >= 2:
                self.on_chosen(index)
