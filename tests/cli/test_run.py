"""``flowyml run``: exit codes, --json, typed context overrides, one-line errors."""

from __future__ import annotations

import json

import pytest

from .harness import run_process
from .pipelines import FAILING, TWO, TYPED


def test_run_template_pipeline_prints_run_id_and_summary(project, cli):
    result = cli("run", "pipeline.py")
    run_id = result.stdout.split()[1]
    assert result.stdout.startswith(f"Run {run_id} of example: success")
    for step in ("load", "scale", "summarize"):
        assert step in result.stdout
    assert cli.json("runs")[0]["run_id"] == run_id


def test_json_output_parses_and_second_run_is_fully_cached(project, cli):
    first = cli.json("run", "pipeline.py")
    second = cli.json("run", "pipeline.py")
    assert first["success"] and second["success"]
    assert {s["status"] for s in first["steps"].values()} == {"success"}
    assert {s["status"] for s in second["steps"].values()} == {"cached"}
    assert first["outputs"] == second["outputs"]


def test_no_cache_executes_every_step(project, cli):
    cli("run", "pipeline.py")
    again = cli.json("run", "pipeline.py", "--no-cache")
    assert {s["status"] for s in again["steps"].values()} == {"success"}


def test_context_overrides_are_parsed_as_the_declared_types(project, cli, write):
    write("typed.py", TYPED)
    run = cli.json("run", "typed.py", "-c", "count=3", "--context", "rate=2.5", "-c", "flag=true",
                   "-c", "name=bob smith", "-c", "items=[1, 2, 3]", "-c", 'opts={"x": [1]}')
    assert run["context"] == {"count": 3, "rate": 2.5, "flag": True, "name": "bob smith",
                              "items": [1, 2, 3], "opts": {"x": [1]}}
    value = cli.json("cat", run["run_id"], "echo")
    assert value == run["context"]
    assert type(value["count"]) is int and type(value["rate"]) is float and value["flag"] is True


@pytest.mark.parametrize("override, fragment", [
    ("nope=1", "has no 'nope'"),
    ("count=three", "count is an int"),
    ("rate=fast", "rate is a float"),
    ("flag=maybe", "flag is a bool"),
    ("items={}", "items is a list"),
    ("opts=[1", "opts is a dict"),
    ("count", "write KEY=VALUE"),
])
def test_bad_overrides_exit_2_with_one_line(project, cli, write, override, fragment):
    write("typed.py", TYPED)
    result = cli("run", "typed.py", "-c", override, code=2)
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: --context")
    assert fragment in result.stderr
    assert cli.json("runs") == []  # nothing ran


def test_failed_step_exits_1_naming_the_step(project, cli, write):
    write("failing.py", FAILING)
    result = cli("run", "failing.py", code=1)
    assert "boom" in result.stdout and "failed" in result.stdout  # the summary still prints
    line, = result.stderr.splitlines()
    assert line.startswith("error: step 'boom' failed: ValueError: boom at the second step")
    run_id = result.stdout.split()[1]
    shown = cli("show", run_id).stdout
    assert "traceback of boom:" in shown and 'raise ValueError("boom at the second step")' in shown


def test_failed_run_with_json_still_prints_the_result(project, cli, write):
    write("failing.py", FAILING)
    result = cli("run", "failing.py", "--json", code=1)
    data = json.loads(result.stdout)
    assert data["success"] is False and data["steps"]["boom"]["status"] == "failed"
    assert data["steps"]["first"]["status"] == "success"


def test_choosing_among_several_pipelines(project, cli, write):
    write("two.py", TWO)
    result = cli("run", "two.py", code=2)
    assert "defines 2 pipelines" in result.stderr and "two.py:NAME" in result.stderr
    assert cli.json("run", "two.py:first")["pipeline"] == "first"
    assert cli.json("run", "two.py:second-one")["pipeline"] == "second-one"  # by pipeline name
    assert "has no pipeline 'third'" in cli("run", "two.py:third", code=2).stderr


@pytest.mark.parametrize("source, fragment", [
    ("x = 1\n", "defines no Pipeline"),
    ("import nothing_called_this\n", "two.py:1: ModuleNotFoundError"),
    ("def broken(:\n", "two.py:1: SyntaxError"),
    ("import sys\nsys.exit(3)\n", "called sys.exit(3)"),
])
def test_unusable_files_exit_2(project, cli, write, source, fragment):
    write("two.py", source)
    result = cli("run", "two.py", code=2)
    assert result.stderr.count("\n") == 1 and fragment in result.stderr


def test_missing_file_and_wrong_suffix_exit_2(project, cli):
    assert "no such file" in cli("run", "absent.py", code=2).stderr
    assert "expected a Python file" in cli("run", "flowyml.yaml", code=2).stderr


def test_script_guard_keeps_the_file_from_running_itself(project, cli):
    # The template runs pipeline.run() under `if __name__ == "__main__":` — one run, not two.
    cli("run", "pipeline.py")
    assert len(cli.json("runs")) == 1


def test_unknown_named_stack_exits_2(project, cli):
    result = cli("run", "pipeline.py", "--stack", "prod", code=2)
    assert result.stderr.startswith("error: --stack prod:") and result.stderr.count("\n") == 1


def test_definition_error_exits_2(project, cli, write):
    write("cycle.py", '''
        from flowyml import Pipeline, step

        @step(inputs=["b"], outputs=["a"])
        def one(b):
            return b

        @step(inputs=["a"], outputs=["b"])
        def two(a):
            return a

        pipeline = Pipeline("cycle").add_step(one).add_step(two)
    ''')
    result = cli("run", "cycle.py", code=2)
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1


def test_run_uses_the_project_store_from_a_subfolder(project, cli, write, monkeypatch):
    write("sub/pipe.py", TYPED)
    monkeypatch.chdir(project / "sub")
    run = cli.json("run", "pipe.py")
    assert (project / ".flowyml" / "objects").is_dir()
    assert not (project / "sub" / ".flowyml").exists()
    assert cli.json("cat", run["run_id"], "echo")["count"] == 1


# -- a real subprocess in a fresh git repository ------------------------------------------


@pytest.mark.slow
def test_subprocess_run_exit_codes_json_and_overrides(project, write):
    write("typed.py", TYPED)
    write("failing.py", FAILING)
    ok = run_process("run", "typed.py", "--json", "-c", "count=7", "-c", "flag=yes", cwd=project)
    assert ok.returncode == 0, ok.stderr
    data = json.loads(ok.stdout)
    assert data["context"]["count"] == 7 and data["context"]["flag"] is True
    assert ok.stderr == ""  # no live display when stderr is not a terminal

    cached = run_process("run", "typed.py", "--json", "-c", "count=7", "-c", "flag=yes", cwd=project)
    assert {s["status"] for s in json.loads(cached.stdout)["steps"].values()} == {"cached"}

    failed = run_process("run", "failing.py", cwd=project)
    assert failed.returncode == 1
    assert failed.stderr.splitlines() == [failed.stderr.strip()] and "step 'boom' failed" in failed.stderr

    usage = run_process("run", "typed.py", "-c", "missing=1", cwd=project)
    assert usage.returncode == 2 and usage.stderr.startswith("error: --context missing")
    assert usage.stderr.count("\n") == 1

    bad_option = run_process("run", "typed.py", "--no-such-option", cwd=project)
    assert bad_option.returncode == 2


@pytest.mark.slow
def test_subprocess_run_through_the_console_script(project):
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    script = shutil.which("flowyml") or str(Path(sys.executable).with_name("flowyml"))
    done = subprocess.run([script, "run", "pipeline.py", "--json"], cwd=project, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["pipeline"] == "example"


def test_named_stack_from_the_config(project, cli):
    config = (project / "flowyml.yaml").read_text()
    (project / "flowyml.yaml").write_text(config.replace("stacks: {}", "stacks:\n  dev:\n    artifact_path: .flowyml/dev"))
    run = cli.json("run", "pipeline.py", "--stack", "dev")
    assert run["success"]
    assert (project / ".flowyml" / "dev" / "objects").is_dir()
