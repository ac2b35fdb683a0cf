"""Helpers for the TUI tests: projects with real runs, waiting on the app, reading what it shows."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent


def clean_env(home: Path) -> dict[str, str]:
    """The environment for a pipeline subprocess: no GIT_*/FLOWYML_* leaking in, a scratch HOME."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "FLOWYML_"))}
    env.update(HOME=str(home), GIT_CONFIG_NOSYSTEM="1", PYTHONUNBUFFERED="1")
    return env


def new_project(folder: Path) -> Path:
    """An empty git work tree with the pipelines script in it."""
    from dulwich.repo import Repo

    folder.mkdir(parents=True, exist_ok=True)
    Repo.init(str(folder)).close()
    shutil.copy(HERE / "project.py", folder / "project.py")
    return folder


def run_script(project: Path, *args: str) -> subprocess.CompletedProcess:
    """Run ``project.py`` with ``args`` in ``project`` (a real process, as a user would)."""
    return subprocess.run([sys.executable, "project.py", *args], cwd=project, env=clean_env(project.parent),
                          capture_output=True, text=True, check=True, timeout=120)


async def wait_for(pilot, predicate, timeout: float = 15.0, what: str = "the condition"):
    """Let the app run until ``predicate()`` is true (workers and timers included)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.05)


def text_of(widget) -> str:
    """What a Static shows, as plain text (its content rendered through Rich, wide)."""
    from rich.console import Console

    console = Console(width=400, file=io.StringIO(), record=True, color_system=None)
    console.print(widget.content)
    return console.export_text()


def screen_text(app) -> str:
    """The whole current screen as plain text."""
    from rich.console import Console

    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), record=True, color_system=None)
    console.print(app.screen._compositor.render_update(full=True, screen_stack=app._background_screens))
    return console.export_text()
