"""Laying a run's DAG out as text lanes, ``git log --graph`` style.

Steps are listed one per row in execution order; box-drawing lanes on the
left carry each output down to the steps that consume it::

    ● load
    ● clean
    ├─╮
    │ ● featurize
    ● │ describe
    │ ├─╮
    │ │ ● train
    ├─┴─╯
    ● evaluate

A list scales where boxes do not: 200 steps are 200 rows (scrolled, not
squeezed), and a row is the natural unit for a keyboard cursor. A lane stands
for a set of steps whose remaining consumers are the same, so the fan-out and
fan-in of a map-like stage (one source, 50 parallel steps, one combiner) stays
three lanes wide instead of fifty.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

NODE = "●"  # placeholder the view replaces with the step's status glyph


@dataclass(frozen=True)
class DagRow:
    """One row of the drawing.

    Attributes:
        graph: the lane characters (two cells per lane), padded to a common width.
        step: the step drawn on this row, or None for a row of connecting lines.
        column: the character offset of the step's node in ``graph`` (node rows).
    """

    graph: str
    step: str | None = None
    column: int = 0


class _Lane:
    __slots__ = ("targets",)

    def __init__(self, targets: set[str]) -> None:
        self.targets = targets  # the steps still to come that consume this lane


def layout(order: Sequence[str], upstream: Mapping[str, Sequence[str]]) -> list[DagRow]:
    """Lay out a DAG given in execution order.

    Args:
        order: every step, upstream before downstream.
        upstream: step -> the steps it consumes from (others are ignored).

    Returns:
        Rows to print top to bottom; ``graph`` strings all have the same width.
    """
    known = set(order)
    consumers: dict[str, list[str]] = {name: [] for name in order}
    for name in order:
        for up in upstream.get(name, ()):
            if up in known and name not in consumers[up]:
                consumers[up].append(name)
    rows: list[tuple[list[str], str | None, int]] = []
    lanes: list[_Lane | None] = []
    for name in order:
        col = _place(name, lanes, rows)
        _continue(name, col, set(consumers[name]), lanes, rows)
    width = max((len(cells) for cells, _, _ in rows), default=0)
    return [DagRow("".join(cells).ljust(width), step, 2 * col) for cells, step, col in rows]


def _place(name: str, lanes: list[_Lane | None], rows: list) -> int:
    """Bring every lane feeding ``name`` into one column, draw its node row, return the column."""
    ins = [c for c, lane in enumerate(lanes) if lane is not None and name in lane.targets]
    for c in ins:
        lanes[c].targets.discard(name)  # type: ignore[union-attr]
    ending = [c for c in ins if not lanes[c].targets]  # type: ignore[union-attr]
    col = ending[0] if ending else _free(lanes)
    others = [c for c in ins if c != col]
    if others:
        active = {c for c, lane in enumerate(lanes) if lane is not None}
        rows.append((_connector(active, col, others, set(ending), from_above=col in ins), None, 0))
    for c in ending:
        lanes[c] = None
    if col == len(lanes):
        lanes.append(None)
    cells = _blank(lanes, col)
    cells[2 * col] = NODE
    rows.append((cells, name, col))
    return col


def _continue(name: str, col: int, targets: set[str], lanes: list[_Lane | None], rows: list) -> None:
    """Give ``name``'s outputs a lane, merging lanes bound for the same steps."""
    lanes[col] = _Lane(targets) if targets else None
    while True:
        group = _same_targets(lanes)
        if not group:
            break
        keep, merged = group[0], group[1:]
        active = {c for c, lane in enumerate(lanes) if lane is not None}
        rows.append((_connector(active, keep, merged, set(merged), from_above=True), None, 0))
        for c in merged:
            lanes[c] = None
    while lanes and lanes[-1] is None:
        lanes.pop()


def _same_targets(lanes: list[_Lane | None]) -> list[int]:
    """The columns of the first group of lanes bound for exactly the same steps."""
    by_targets: dict[frozenset[str], list[int]] = {}
    for c, lane in enumerate(lanes):
        if lane is not None and lane.targets:
            by_targets.setdefault(frozenset(lane.targets), []).append(c)
    return next((cols for cols in by_targets.values() if len(cols) > 1), [])


def _free(lanes: list[_Lane | None]) -> int:
    return next((c for c, lane in enumerate(lanes) if lane is None), len(lanes))


def _blank(lanes: list[_Lane | None], extra: int = -1) -> list[str]:
    """A row with a vertical line in every busy lane."""
    count = max(len(lanes), extra + 1)
    cells = [" "] * max(2 * count - 1, 0)
    for c, lane in enumerate(lanes):
        if lane is not None:
            cells[2 * c] = "│"
    return cells


def _connector(active: set[int], col: int, others: list[int], ending: set[int], from_above: bool) -> list[str]:
    """A row joining the lanes in ``others`` into column ``col`` with one horizontal line.

    Args:
        active: busy lane columns (drawn as verticals, crossed where the line passes).
        col: the column the lines join into.
        others: columns joining in.
        ending: the subset of ``others`` whose lane stops here (a corner, not a tee).
        from_above: the lane at ``col`` itself also comes from above.
    """
    lo, hi = min(others + [col]), max(others + [col])
    count = max(max(active, default=0), hi) + 1
    cells = [" "] * (2 * count - 1)
    for c in active:
        cells[2 * c] = "│"
    for x in range(2 * lo, 2 * hi + 1):
        cells[x] = "┼" if x % 2 == 0 and x // 2 in active else "─"
    for c in others:
        ends = c in ending
        if c == lo:
            cells[2 * c] = "╰" if ends else "├"
        elif c == hi:
            cells[2 * c] = "╯" if ends else "┤"
        else:
            cells[2 * c] = "┴" if ends else "┼"
    left, right = lo < col, hi > col
    cells[2 * col] = {
        (True, True, True): "┼", (True, True, False): "┤", (True, False, True): "├",
        (False, True, True): "┬", (False, True, False): "╮", (False, False, True): "╭",
    }.get((from_above, left, right), "│")
    return cells
