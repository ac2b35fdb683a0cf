"""``flowyml.config.load_config``: finding and reading flowyml.yaml."""

from __future__ import annotations

import os

import pytest

from flowyml.config import ConfigError, load_config


def test_defaults_without_a_file(tmp_path):
    config = load_config(tmp_path)
    assert config["root"] == str(tmp_path) and config["file"] is None
    assert config["store"] == str(tmp_path / ".flowyml")
    assert config["remotes"] == {} and config["stacks"] == {}


def test_found_from_a_subfolder_and_paths_resolved(tmp_path):
    (tmp_path / "flowyml.yaml").write_text(
        "store: data/store\nremotes:\n  origin:\n    objects: ../objs\n    git: ../h.git\n"
        "  cloud:\n    objects: s3://bucket/prefix\n    git: git@host:org/repo.git\n"
        "stacks:\n  dev: {artifact_path: x}\n")
    sub = tmp_path / "a" / "b"
    sub.mkdir(parents=True)
    config = load_config(sub)
    assert config["root"] == str(tmp_path) and config["file"] == str(tmp_path / "flowyml.yaml")
    assert config["store"] == str(tmp_path / "data" / "store")
    assert config["remotes"]["origin"] == {"objects": os.path.normpath(tmp_path / ".." / "objs"),
                                           "git": os.path.normpath(tmp_path / ".." / "h.git")}
    assert config["remotes"]["cloud"] == {"objects": "s3://bucket/prefix", "git": "git@host:org/repo.git"}
    assert config["stacks"] == {"dev": {"artifact_path": "x"}}  # handed over untouched


def test_search_stops_at_the_git_work_tree(tmp_path):
    (tmp_path / "flowyml.yaml").write_text("store: outer\n")
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    config = load_config(repo)
    assert config["file"] is None and config["root"] == str(repo)


def test_the_template_config_reads_as_the_defaults(tmp_path):
    from importlib.resources import files

    (tmp_path / "flowyml.yaml").write_bytes(files("flowyml.template").joinpath("flowyml.yaml").read_bytes())
    config = load_config(tmp_path)
    assert config["store"] == str(tmp_path / ".flowyml") and config["remotes"] == {} and config["stacks"] == {}


def test_pyproject_tool_section(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.flowyml]\nstore = "cache"\n')
    (tmp_path / ".git").mkdir()
    assert load_config(tmp_path)["store"] == str(tmp_path / "cache")


@pytest.mark.parametrize("text, fragment", [
    ("store: [1]\n", "'store' must be a folder path"),
    ("- a\n", "must be a mapping"),
    ("store: a: b: c\n", "not valid YAML"),
    ("remotes: [x]\n", "'remotes' must map"),
    ("remotes:\n  o:\n    url: x\n", "remote 'o' must be a mapping"),
    ("remotes:\n  o:\n    objects: 3\n", "'objects' must be a path"),
    ("stacks: [a]\n", "'stacks' must be a mapping"),
])
def test_bad_files_raise_config_error(tmp_path, text, fragment):
    (tmp_path / "flowyml.yaml").write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path)
    assert fragment in str(info.value) and str(tmp_path / "flowyml.yaml") in str(info.value)


def test_a_bad_config_is_one_line_and_exit_2(project, cli):
    (project / "flowyml.yaml").write_text("remotes: 3\n")
    result = cli("runs", code=2)
    assert result.stderr.startswith("error: ") and "'remotes' must map" in result.stderr
    assert result.stderr.count("\n") == 1
