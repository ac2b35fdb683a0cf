"""The command group: help, version, python -m flowyml, lazy imports, the ui command."""

from __future__ import annotations

import subprocess
import sys
import types

import pytest

from flowyml.cli.main import COMMANDS, main

from .harness import run_process


def test_help_lists_every_command(cli):
    text = cli("--help").stdout
    for name in COMMANDS:
        assert f"\n  {name} " in text
    assert "_FLOWYML_COMPLETE=bash_source flowyml" in text  # completion is documented


@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_command_has_help(cli, name):
    result = cli(name, "--help")
    assert result.stdout.startswith(f"Usage: flowyml {name}")


def test_every_command_module_holds_its_command():
    import importlib

    for name, module in COMMANDS.items():
        command = getattr(importlib.import_module(f"flowyml.cli.{module}"), name)
        assert command.name == name and command.short_help


def test_unknown_command_and_option_exit_2(cli):
    assert "No such command" in cli("frobnicate", code=2).stderr
    assert cli("runs", "--frobnicate", code=2).exit_code == 2


def test_version(cli):
    assert cli("--version").stdout.strip() == "flowyml 0.1.0"


@pytest.mark.slow
def test_python_dash_m_and_light_help():
    done = run_process("--help", cwd=".")
    assert done.returncode == 0 and "Commands:" in done.stdout
    probe = ("import sys\nfrom flowyml.cli.main import main\n"
             "try:\n    main(['--help'], prog_name='flowyml')\nexcept SystemExit:\n    pass\n"
             "heavy = ('pandas', 'pyarrow', 'textual', 'dask', 'numpy', 'dulwich', 'rich', 'yaml')\n"
             "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy), file=sys.stderr)")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert out.stderr.strip() == "[]"


def test_traceback_flag_lets_the_error_through(project):
    from click.testing import CliRunner

    from flowyml.errors import RunNotFound

    result = CliRunner().invoke(main, ["--traceback", "show", "ffffffff"])
    assert isinstance(result.exception, RunNotFound) and result.exit_code == 1


def test_ui_without_the_tui_is_one_line(project, cli, monkeypatch):
    monkeypatch.setitem(sys.modules, "flowyml_tui.app", None)  # makes the import fail
    result = cli("ui", code=1)
    assert result.stderr.startswith("error: the terminal UI is not installed") and result.stderr.count("\n") == 1


def test_ui_starts_the_app_on_the_project(project, cli, monkeypatch):
    seen = {}
    fake = types.ModuleType("flowyml_tui.app")

    def run_app(path=".", project=None):
        seen.update(path=path, project=project)

    fake.run_app = run_app
    monkeypatch.setitem(sys.modules, "flowyml_tui.app", fake)
    cli("ui")
    assert seen == {"path": str(project), "project": None}
    cli("ui", "--project", "team")
    assert seen == {"path": str(project), "project": "team"}
