"""``flowyml init``: the template, a git repository, idempotence, never overwriting."""

from __future__ import annotations

import subprocess

from .harness import git


def test_init_lays_down_the_template_and_a_git_repository(tmp_path, monkeypatch, cli):
    monkeypatch.chdir(tmp_path)
    result = cli.json("init", "proj")
    root = tmp_path / "proj"
    assert result["git"] == "created" and (root / ".git").is_dir()
    assert sorted(result["created"]) == [".gitignore", "flowyml.yaml", "pipeline.py"]
    assert not (root / "__init__.py").exists()
    assert ".flowyml/" in (root / ".gitignore").read_text().splitlines()
    # git itself accepts the repository and ignores the store
    (root / ".flowyml").mkdir()
    (root / ".flowyml" / "x").write_text("x")
    status = git("status", "--porcelain", "--untracked-files=all", cwd=root)
    assert ".flowyml" not in status and "pipeline.py" in status


def test_init_is_idempotent_and_never_overwrites(project, cli):
    (project / "pipeline.py").write_text("# mine\n")
    (project / ".gitignore").write_text("*.pyc")  # no trailing newline, no store entry
    again = cli.json("init")
    assert again["created"] == [] and again["git"] == "existing"
    assert again["updated"] == [".gitignore"] and sorted(again["kept"]) == ["flowyml.yaml", "pipeline.py"]
    assert (project / "pipeline.py").read_text() == "# mine\n"
    assert (project / ".gitignore").read_text() == "*.pyc\n.flowyml/\n"
    third = cli.json("init")
    assert third["updated"] == [] and third["created"] == []
    assert (project / ".gitignore").read_text() == "*.pyc\n.flowyml/\n"
    assert "kept     pipeline.py  (already there)" in cli("init").stdout


def test_init_inside_an_existing_repository_does_not_nest_one(tmp_path, monkeypatch, cli):
    git("init", "-q", cwd=tmp_path)
    monkeypatch.chdir(tmp_path)
    result = cli.json("init", "sub/project")
    assert result["git"] == "existing"
    assert not (tmp_path / "sub" / "project" / ".git").exists()


def test_the_template_pipeline_runs_as_a_script(tmp_path, monkeypatch, cli):
    import sys

    monkeypatch.chdir(tmp_path)
    cli("init")
    # pandas and pyarrow made unimportable: the example needs neither
    script = ("import runpy, sys\nsys.modules['pandas'] = sys.modules['pyarrow'] = None\n"
              "runpy.run_path('pipeline.py', run_name='__main__')")
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "of example: success (3 ran, 0 cached)" in done.stdout
