"""A project whose history is filled by real pipeline runs (see project.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from .helpers import new_project, run_script


@pytest.fixture(scope="session")
def history_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project with the runs described in ``project.py`` (built once; tests only read it)."""
    project = new_project(tmp_path_factory.mktemp("tui") / "project")
    run_script(project, "history")
    return project
