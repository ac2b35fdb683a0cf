"""Acceptance: push to a bare repository plus an object folder, pull into a fresh clone."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from flowyml.store.objects import ObjectStore

from .harness import git
from .pipelines import TYPED


def _with_remote(root: Path, objects: str) -> None:
    config = root / "flowyml.yaml"
    config.write_text(config.read_text().replace("remotes: {}", f"remotes:\n  origin:\n    objects: {objects}"))


@pytest.fixture
def shared(tmp_path, project, cli, write):
    """A project with two runs, pushed to a bare repo and an object folder; returns its runs."""
    bare = tmp_path / "shared.git"
    git("init", "-q", "--bare", str(bare), cwd=tmp_path)
    _with_remote(project, "../shared-objects")  # relative to flowyml.yaml
    write("typed.py", TYPED)
    runs = [cli.json("run", "pipeline.py"), cli.json("run", "typed.py", "-c", "items=[4, 5]")]
    git("add", "-A", cwd=project)
    git("commit", "-qm", "project", cwd=project)
    git("remote", "add", "origin", str(bare), cwd=project)
    git("push", "-q", "origin", "HEAD:refs/heads/main", cwd=project)
    pushed = cli.json("push", "origin")
    return {"bare": bare, "objects": tmp_path / "shared-objects", "runs": runs, "push": pushed}


def test_push_pull_into_a_fresh_clone_shows_the_same_outputs(tmp_path, project, cli, monkeypatch, shared):
    store = ObjectStore(project / ".flowyml")
    local = set(store.iter_oids())
    assert shared["push"]["objects"] == len(local)
    assert set(ObjectStore(shared["objects"]).iter_oids()) == local
    assert set(shared["push"]["updated"]) == {"refs/flowyml/runs/example", "refs/flowyml/runs/typed"}
    assert "refs/flowyml/runs/example" in git("ls-remote", str(shared["bare"]), cwd=tmp_path)

    again = cli.json("push", "origin")
    assert again["objects"] == 0 and again["updated"] == {}  # only missing objects move

    views = {}
    for run in shared["runs"]:
        outputs = {name: cli.json("cat", run["run_id"], name) for name in run["outputs"]}
        views[run["run_id"]] = (cli.json("show", run["run_id"]), cli("show", run["run_id"]).stdout, outputs)

    clone = tmp_path / "clone"
    git("clone", "-q", "-b", "main", str(shared["bare"]), str(clone), cwd=tmp_path)
    shutil.rmtree(project / ".flowyml")  # the clone must read what it pulled, not the original
    monkeypatch.chdir(clone)
    assert cli.json("runs") == []  # git does not fetch refs/flowyml/* by default
    pulled = cli.json("pull", "origin")
    assert pulled["objects"] == len(local) and pulled["missing"] == [] and pulled["rejected"] == {}
    assert set(ObjectStore(clone / ".flowyml").iter_oids()) == local

    for run_id, (shown, text, outputs) in views.items():
        assert cli.json("show", run_id) == shown
        assert cli("show", run_id).stdout == text
        assert {name: cli.json("cat", run_id, name) for name in outputs} == outputs
    assert cli.json("fsck")["ok"] is True
    assert cli.json("pull", "origin")["objects"] == 0


def test_runs_recorded_on_both_sides_are_kept(tmp_path, project, cli, monkeypatch, shared):
    clone = tmp_path / "clone"
    git("clone", "-q", "-b", "main", str(shared["bare"]), str(clone), cwd=tmp_path)
    monkeypatch.chdir(clone)
    cli("pull", "origin")
    theirs = cli.json("run", "pipeline.py", "-c", "factor=5")
    cli("push", "origin")

    monkeypatch.chdir(project)
    mine = cli.json("run", "pipeline.py", "-c", "factor=7")
    rejected = cli("push", "origin", code=1)
    assert "pull first" in rejected.stderr
    pulled = cli.json("pull", "origin")
    assert pulled["replayed"] == {"refs/flowyml/runs/example": 1}
    ids = [r["run_id"] for r in cli.json("runs", "example")]
    assert set(ids) == {theirs["run_id"], mine["run_id"], shared["runs"][0]["run_id"]}
    assert cli.json("cat", theirs["run_id"], "summary")["max"] == 50.0
    assert cli.json("push", "origin")["updated"]  # now a fast-forward

    monkeypatch.chdir(clone)
    cli("pull", "origin")
    assert cli.json("cat", mine["run_id"], "summary")["max"] == 70.0


def test_pulled_objects_are_verified(tmp_path, project, cli, monkeypatch, shared):
    remote_objects = ObjectStore(shared["objects"])
    victim = sorted(remote_objects.iter_oids())[0]
    path = remote_objects.path(victim)
    os.chmod(path, 0o644)
    data = bytearray(path.read_bytes())
    data[0] ^= 0xFF
    path.write_bytes(bytes(data))

    clone = tmp_path / "clone"
    git("clone", "-q", "-b", "main", str(shared["bare"]), str(clone), cwd=tmp_path)
    monkeypatch.chdir(clone)
    result = cli("pull", "origin", code=1)
    assert result.stderr.startswith(f"error: object {victim} is corrupt") and result.stderr.count("\n") == 1
    assert not ObjectStore(clone / ".flowyml").has(victim)
    assert cli.json("runs") == []  # no ref moved


def test_pickles_are_pulled_only_when_allowed(tmp_path, project, cli, monkeypatch, shared, write):
    write("pickled.py", '''
        from flowyml import Pipeline, step

        class Opaque:
            def __init__(self, n):
                self.n = n

        @step(outputs=["thing"])
        def make():
            return Opaque(3)

        pipeline = Pipeline("pickled").add_step(make)
    ''')
    run = cli.json("run", "pickled.py")
    assert run["outputs"]["thing"]["codec"] == "pickle"
    cli("push", "origin")
    clone = tmp_path / "clone"
    git("clone", "-q", "-b", "main", str(shared["bare"]), str(clone), cwd=tmp_path)
    monkeypatch.chdir(clone)
    skipped = cli("pull", "origin")
    assert "1 pickle objects not fetched" in skipped.stderr
    assert not ObjectStore(clone / ".flowyml").has(run["outputs"]["thing"]["oid"])
    assert cli.json("pull", "origin", "--allow-pickle")["objects"] == 1


def test_remote_without_an_object_url_exits_2(project, cli, tmp_path):
    result = cli("push", str(tmp_path), code=2)
    assert "has no object URL" in result.stderr and result.stderr.count("\n") == 1
    assert "no remote called 'nowhere'" in cli("pull", "nowhere", code=2).stderr


def test_objects_option_and_file_url(tmp_path, project, cli):
    bare = tmp_path / "other.git"
    git("init", "-q", "--bare", str(bare), cwd=tmp_path)
    cli("run", "pipeline.py")
    url = (tmp_path / "objects-by-url").as_uri()
    pushed = cli.json("push", str(bare), "--objects", url)
    assert pushed["objects"] == 3 and pushed["objects_url"] == url
    assert len(list(ObjectStore(tmp_path / "objects-by-url").iter_oids())) == 3


def test_fsck_detects_a_flipped_byte_in_any_object(project, cli, monkeypatch, write):
    write("typed.py", TYPED)
    cli("run", "pipeline.py")
    cli("run", "typed.py")
    assert cli.json("fsck")["ok"] is True
    store = ObjectStore(project / ".flowyml")
    oids = sorted(store.iter_oids())
    assert len(oids) >= 4
    for oid in oids:
        path = store.path(oid)
        original = path.read_bytes()
        os.chmod(path, 0o644)  # objects are written read-only
        flipped = bytearray(original)
        flipped[len(flipped) // 2] ^= 0x01
        path.write_bytes(bytes(flipped))
        result = cli("fsck", code=1)
        assert result.stdout.splitlines()[0].startswith(f"corrupt {oid}: ")
        assert result.stderr.startswith("error: 1 fault(s)")
        report = cli.json("fsck", code=1)
        assert [(f["kind"], f["oid"]) for f in report["faults"]] == [("corrupt", oid)]
        path.write_bytes(original)
    assert cli.json("fsck")["ok"] is True


def test_fsck_reports_objects_the_history_names_but_the_store_lacks(project, cli):
    run = cli.json("run", "pipeline.py")
    store = ObjectStore(project / ".flowyml")
    gone = run["outputs"]["scaled"]["oid"]
    os.unlink(store.path(gone))
    report = cli.json("fsck", code=1)
    assert [(f["kind"], f["oid"]) for f in report["faults"]] == [("missing", gone)]
    assert "refs/flowyml/runs/example@" in report["faults"][0]["detail"]


def test_registry_refs_both_sides_extended(tmp_path, project, cli, monkeypatch, shared, write):
    write("model.py", '''
        from flowyml import Model, Pipeline, context, step

        @step(outputs=["model"])
        def train(lr: float) -> Model:
            return Model({"lr": lr}, name="clf")

        pipeline = Pipeline("registry", context=context(lr=0.1)).add_step(train)
    ''')
    git("add", "model.py", cwd=project)
    git("commit", "-qm", "model", cwd=project)
    git("push", "-q", "origin", "HEAD:refs/heads/main", cwd=project)
    clone = tmp_path / "clone"
    git("clone", "-q", "-b", "main", str(shared["bare"]), str(clone), cwd=tmp_path)
    monkeypatch.chdir(clone)
    cli("pull", "origin")
    theirs = cli.json("run", "model.py", "-c", "lr=0.5")
    cli("push", "origin")

    monkeypatch.chdir(project)
    mine = cli.json("run", "model.py", "-c", "lr=0.7")
    result = cli("pull", "origin", code=1)
    assert "refs/flowyml/models/clf: both sides registered new versions" in result.stderr
    assert [e["run_id"] for e in cli.json("versions", "--model", "clf")] == [mine["run_id"]]  # kept
    assert theirs["run_id"] in {r["run_id"] for r in cli.json("runs", "registry")}  # runs still merged
    forced = cli.json("pull", "origin", "--force")
    assert "refs/flowyml/models/clf" in forced["updated"]
    assert [e["run_id"] for e in cli.json("versions", "--model", "clf")] == [theirs["run_id"]]
