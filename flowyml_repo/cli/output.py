"""What the command line prints, and how it fails.

* Results go to **stdout**: aligned text for people, or one JSON document with
  ``--json`` for scripts.
* Progress goes to **stderr**, drawn by rich, only when stderr is a terminal and
  ``--json`` is off (rich is imported only then: it is ~20 ms nobody piping the
  output should pay).
* Errors are **one line** on stderr, ``error: <what to fix>``, and an exit code:
  0 success, 1 a failed run or a damaged store, 2 bad usage (a wrong argument, an
  unknown run or version, a pipeline that does not build).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import click

OK, FAILED, USAGE = 0, 1, 2


class CliError(click.ClickException):
    """An error shown as one line on stderr, with its exit code.

    Args:
        message: what went wrong and what to do.
        exit_code: 1 (failure) or 2 (bad usage).
    """

    def __init__(self, message: str, exit_code: int = FAILED) -> None:
        super().__init__(message)
        self.exit_code = exit_code

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


def exit_code_for(exc: BaseException) -> int:
    """2 when the user can fix the command or the pipeline; 1 for everything else."""
    from flowyml.config import ConfigError
    from flowyml.errors import AmbiguousRunId, PipelineDefinitionError, RunNotFound
    from flowyml.versioning import VersionNotFound

    usage = (RunNotFound, AmbiguousRunId, PipelineDefinitionError, ConfigError, VersionNotFound)
    return USAGE if isinstance(exc, usage) else FAILED


def one_line(exc: BaseException) -> str:
    """An exception's message on one line."""
    errors = getattr(exc, "errors", None)
    if isinstance(errors, list) and errors:  # TypeMismatchError: one clause per mismatch
        return "pipeline type validation failed: " + "; ".join(errors)
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return "; ".join(lines) or type(exc).__name__


# -- stdout -------------------------------------------------------------------------------

json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")


def emit_json(data: Any) -> None:
    """Print ``data`` as JSON on stdout."""
    click.echo(json.dumps(data, indent=2, default=str, ensure_ascii=False))


def columns(rows: Sequence[Sequence[Any]], header: Sequence[str] | None = None, indent: str = "") -> str:
    """Rows as left-aligned text columns (the last column is not padded)."""
    table = [list(map(str, header))] if header else []
    table += [[str(c) for c in row] for row in rows]
    if not table:
        return ""
    widths = [max(len(row[i]) for row in table if i < len(row)) for i in range(max(map(len, table)))]
    lines = []
    for row in table:
        cells = [c.ljust(widths[i]) if i < len(row) - 1 else c for i, c in enumerate(row)]
        lines.append((indent + "  ".join(cells)).rstrip())
    return "\n".join(lines)


def when(timestamp: float | None) -> str:
    """A local date and time, or ``-``."""
    if not timestamp:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(timestamp))


def size(n: int | None) -> str:
    """A byte count for people: ``812 B``, ``3.4 KiB``."""
    if n is None:
        return "-"
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


def seconds(s: float | None) -> str:
    return "-" if s is None else f"{s:.3f}s"


# -- stderr -------------------------------------------------------------------------------


def live_enabled(as_json: bool) -> bool:
    """Draw progress only for a person watching stderr."""
    return not as_json and sys.stderr.isatty()


def warn(message: str) -> None:
    """One line on stderr that does not change the exit code."""
    click.echo(f"warning: {message}", err=True)


@contextmanager
def object_progress(label: str, enabled: bool) -> Iterator[Callable[[int, int], None] | None]:
    """A rich progress bar on stderr, fed by ``callback(done, total)``; None when off."""
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


_STYLE = {"pending": ("·", "dim"), "running": ("▶", "yellow"), "success": ("✔", "green"),
          "cached": ("↺", "cyan"), "failed": ("✘", "bold red"), "skipped": ("-", "dim"),
          "not_run": ("·", "dim")}


class RunProgress:
    """A live view of a run on stderr: each step's state and time, and the totals.

    Feed it with ``Pipeline.run(on_event=progress.event)``; it draws nothing when
    ``enabled`` is False (stderr not a terminal, or ``--json``).

    Args:
        title: the first line (pipeline name).
        steps: the step names in execution order.
        enabled: draw, or only record.
    """

    def __init__(self, title: str, steps: Sequence[str], enabled: bool) -> None:
        self.title = title
        self.status = {name: "pending" for name in steps}
        self.started: dict[str, float] = {}
        self.finished: dict[str, float] = {}
        self.t0 = time.monotonic()
        self.enabled = enabled
        self._live: Any = None

    def __enter__(self) -> RunProgress:
        if self.enabled:
            from rich.console import Console
            from rich.live import Live

            self._live = Live(self, console=Console(stderr=True), refresh_per_second=8, transient=True,
                              redirect_stdout=sys.stdout.isatty(), redirect_stderr=True)
            self._live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    def event(self, step_name: str, status: str) -> None:
        """The runner's callback: ``step_name`` is now ``status``."""
        now = time.monotonic()
        if status == "running":
            self.started[step_name] = now
        else:
            self.finished[step_name] = now
        self.status[step_name] = status

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for status in self.status.values():
            out[status] = out.get(status, 0) + 1
        return out

    def __rich__(self) -> Any:
        from rich.table import Table
        from rich.text import Text

        now = time.monotonic()
        grid = Table.grid(padding=(0, 1))
        for name, status in self.status.items():
            symbol, style = _STYLE.get(status, ("?", ""))
            grid.add_row(Text(symbol, style=style), Text(name), Text(status.replace("_", " "), style=style),
                         Text(self._elapsed(name, status, now), style="dim"))
        c = self.counts()
        done = sum(c.get(s, 0) for s in ("success", "cached", "failed", "skipped"))
        footer = (f"{self.title}: {done}/{len(self.status)} done · {c.get('running', 0)} running · "
                  f"{c.get('cached', 0)} cached · {c.get('failed', 0)} failed · {now - self.t0:.1f}s")
        outer = Table.grid()
        outer.add_row(grid)
        outer.add_row(Text(footer, style="bold"))
        return outer

    def _elapsed(self, name: str, status: str, now: float) -> str:
        start = self.started.get(name)
        if start is None:
            return ""
        return f"{self.finished.get(name, now) - start:.1f}s" if status in ("running", "success", "failed") else ""
