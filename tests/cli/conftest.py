"""Fixtures for the command-line tests: a CliRunner and fresh git projects."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from .harness import Cli, git


@pytest.fixture
def cli() -> Cli:
    return Cli()


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: Cli) -> Path:
    """A fresh git repository with the flowyml template, as the current directory."""
    root = tmp_path / "project"
    root.mkdir()
    git("init", "-q", cwd=root)
    monkeypatch.chdir(root)
    cli("init")
    return root


@pytest.fixture
def write(project: Path):
    """Write a (dedented) file into the project; returns its path."""

    def write_file(name: str, text: str) -> Path:
        path = project / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
        return path

    return write_file
