"""How values look on screen: statuses, durations, sizes, times and ids.

Kept apart from the widgets so every screen says "cached" and "1.2 MB" the
same way, and so the wording can be tested without an app.
"""

from __future__ import annotations

import os
import time
from typing import Any

# Step and run statuses as shown: (glyph, label, style). "pending" and
# "running" exist only for runs in flight (see flowyml.inflight).
STATUS = {
    "success": ("✓", "ran", "green"),
    "cached": ("↺", "cached", "cyan"),
    "failed": ("✗", "failed", "bold red"),
    "skipped": ("⊘", "skipped", "yellow"),
    "not_run": ("○", "not run", "dim"),
    "pending": ("○", "pending", "dim"),
    "running": ("◐", "running", "bold yellow"),
    "stalled": ("◌", "stalled?", "magenta"),
}
_UNKNOWN = ("?", "unknown", "")

# Run-level wording differs for one status: a run that succeeded "succeeded".
RUN_LABEL = {"success": "success", "failed": "failed", "running": "running", "stalled": "stalled?"}


def glyph(status: str) -> str:
    """The one-cell symbol for a status."""
    return STATUS.get(status, _UNKNOWN)[0]


def label(status: str) -> str:
    """The word for a step status ("ran", "cached", …)."""
    return STATUS.get(status, _UNKNOWN)[1] if status in STATUS else status


def style(status: str) -> str:
    """The Rich style for a status."""
    return STATUS.get(status, _UNKNOWN)[2]


def run_label(status: str) -> str:
    """The word for a run status."""
    return RUN_LABEL.get(status, status or "?")


def duration(seconds: float | None) -> str:
    """``0.4 ms``, ``12 ms``, ``3.2 s``, ``4m 05s``, ``2h 03m``; ``-`` when unknown."""
    if seconds is None or seconds < 0:
        return "-"
    if seconds < 0.001:
        return f"{seconds * 1000:.1f} ms"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{int(seconds // 60)}m {int(seconds % 60):02d}s"
    return f"{int(seconds // 3600)}h {int(seconds % 3600 // 60):02d}m"


def size(n: int | None) -> str:
    """A byte count for people: ``812 B``, ``4.1 KB``, ``1.2 MB`` (powers of 1024)."""
    if n is None:
        return "-"
    value = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1024 or unit == "TB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"  # unreachable; keeps type checkers calm


def timestamp(when: float | None) -> str:
    """Local time ``2024-05-01 14:03:22``; ``-`` when unknown."""
    if not when:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(when))


def short_id(text: str | None, n: int = 8) -> str:
    """The first ``n`` characters of a run id or oid."""
    return (text or "")[:n]


def value_text(value: Any, limit: int = 80) -> str:
    """A one-line repr, shortened with an ellipsis."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def folder(path: str | os.PathLike[str]) -> str:
    """A folder as people write it: ``~/project`` under the home folder."""
    text = os.fspath(path)
    home = os.path.expanduser("~")
    if home not in ("", "/", "~") and (text == home or text.startswith(home + os.sep)):
        return "~" + text[len(home):]
    return text


def home_paths(text: str) -> str:
    """``text`` with the home folder written ``~`` (tracebacks read better)."""
    home = os.path.expanduser("~")
    if home in ("", "/", "~"):
        return text
    return text.replace(home + os.sep, "~" + os.sep)
