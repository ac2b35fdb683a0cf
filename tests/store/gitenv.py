"""Real-git helpers for history tests: a scrubbed environment and a git runner.

A developer's ``~/.gitconfig`` or a stray ``GIT_DIR`` must never leak into a test,
so :func:`scrub_git_env` points ``HOME`` at the test's folder and drops every
``GIT_*`` variable (as dulwich's own ``TestCase`` does).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import pytest

USER = ["-c", "user.name=Test User", "-c", "user.email=test@example.com", "-c", "commit.gpgsign=false"]


def scrub_git_env(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    """Make git see no user or system configuration and no GIT_* overrides."""
    for name in list(os.environ):
        if name.startswith("GIT_"):
            monkeypatch.delenv(name)
    home.mkdir(parents=True, exist_ok=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")


def git(*args: str, cwd: Path | str) -> str:
    """Run the real git binary and return its stdout; fail the test on error."""
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return done.stdout


def fsck_strict(git_dir: Path | str) -> str:
    """Run ``git fsck --strict`` on a repository; fail the test unless it is clean."""
    done = subprocess.run(
        ["git", f"--git-dir={git_dir}", "fsck", "--strict", "--no-progress"],
        capture_output=True,
        text=True,
    )
    report = done.stdout + done.stderr
    bad = [line for line in report.splitlines() if line.startswith(("error", "warning", "missing", "broken"))]
    assert done.returncode == 0 and not bad, report
    return report


def make_user_repo(path: Path) -> Path:
    """A work tree on branch ``main`` with one commit, a staged change and hooks."""
    path.mkdir(parents=True)
    git("init", "-q", "-b", "main", str(path), cwd=path)
    (path / "train.py").write_text("print('hello')\n")
    git("add", "train.py", cwd=path)
    git(*USER, "commit", "-q", "-m", "initial", cwd=path)
    (path / "staged.txt").write_text("staged\n")
    git("add", "staged.txt", cwd=path)
    (path / "untracked.txt").write_text("untracked\n")
    hooks = path / ".git" / "hooks"
    for hook in ("pre-commit", "post-commit", "commit-msg", "reference-transaction", "post-update"):
        script = hooks / hook
        script.write_text(f"#!/bin/sh\ntouch '{path}/HOOK-{hook}-RAN'\n")
        script.chmod(0o755)
    return path


def user_state(path: Path) -> dict[str, object]:
    """Everything about a work tree that history writes must leave unchanged."""
    files = {
        str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(path.rglob("*"))
        if p.is_file() and ".git" not in p.relative_to(path).parts
    }
    return {
        "HEAD": (path / ".git" / "HEAD").read_text(),
        "head_commit": git("rev-parse", "HEAD", cwd=path),
        "branches": git("for-each-ref", "refs/heads", "refs/tags", "refs/remotes", cwd=path),
        "index": hashlib.sha256((path / ".git" / "index").read_bytes()).hexdigest(),
        "status": git("status", "--porcelain", "--untracked-files=all", cwd=path),
        "files": files,
    }
