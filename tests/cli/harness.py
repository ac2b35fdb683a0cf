"""Driving the command line in tests: in-process (CliRunner), as a subprocess, and real git."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner, Result

from flowyml.cli.main import main

GIT_USER = ["-c", "user.name=Test User", "-c", "user.email=test@example.com", "-c", "commit.gpgsign=false"]


def git(*args: str, cwd: Path) -> str:
    """Run the real git binary; fail the test on error."""
    done = subprocess.run(["git", *GIT_USER, *args], cwd=cwd, capture_output=True, text=True)
    assert done.returncode == 0, f"git {' '.join(args)}: {done.stderr}"
    return done.stdout


class Cli:
    """Runs ``flowyml`` in-process through click's CliRunner (stdout and stderr apart)."""

    def __call__(self, *args: str, code: int | None = 0) -> Result:
        result = CliRunner().invoke(main, list(args), prog_name="flowyml")
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception  # a bug, not an exit code: show its traceback
        if code is not None:
            assert result.exit_code == code, (
                f"flowyml {' '.join(args)} exited {result.exit_code}, not {code}\n"
                f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}")
        return result

    def json(self, *args: str, code: int | None = 0) -> object:
        return json.loads(self(*args, "--json", code=code).stdout)


def run_process(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """``python -m flowyml ARGS`` in a real subprocess."""
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    return subprocess.run([sys.executable, "-m", "flowyml", *args], cwd=cwd, capture_output=True, text=True,
                          env=env, timeout=120)
