"""Shared fixtures: a scrubbed environment and a runner for the guide's examples."""

from __future__ import annotations

import os
import runpy
import textwrap
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _scrubbed_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Keep a developer's git config and identity out of every test (as dulwich's TestCase does)."""
    for name in list(os.environ):
        if name.startswith("GIT_") or name.startswith("FLOWYML_"):
            monkeypatch.delenv(name, raising=False)
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh, empty current directory."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def run_example(workdir: Path):
    """Run a code example as a script in the fresh directory; returns its globals.

    ``prelude`` defines what the guide's fragment assumes exists (a stack, a
    helper); the example itself is run exactly as given.
    """

    def run(example: str, prelude: str = "", name: str = "example.py") -> dict:
        path = workdir / name
        path.write_text(textwrap.dedent(prelude) + "\n" + textwrap.dedent(example))
        return runpy.run_path(str(path), run_name="__main__")

    return run
