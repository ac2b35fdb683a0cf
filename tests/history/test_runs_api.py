"""The public query API over the git-backed history: runs, outputs, lineage, registry."""

from __future__ import annotations

import json
import subprocess

import pytest

import flowyml
from flowyml import Dataset, Metrics, Model, Pipeline, context, step
from flowyml.errors import AmbiguousRunId, RunNotFound


@step(outputs=["raw"])
def load(n: int) -> Dataset:
    return Dataset(list(range(n)), name="numbers")


@step(inputs=["raw"], outputs=["clean"])
def clean(raw: list) -> list:
    return [x for x in raw if x % 2 == 0]


@step(inputs=["clean"], outputs=["model"])
def fit(clean: list) -> Model:
    return Model({"mean": sum(clean) / len(clean)}, name="mean_model")


@step(inputs=["model"], outputs=["metrics"])
def score(model: Model) -> Metrics:
    return Metrics(mean=model.data["mean"])


def make_pipeline(n: int = 10, project: str | None = None) -> Pipeline:
    p = Pipeline("numbers", context=context(n=n), project_name=project)
    return p.add_step(load).add_step(clean).add_step(fit).add_step(score)


@pytest.fixture
def repo(workdir):
    subprocess.run(["git", "init", "-q"], check=True)
    (workdir / "README").write_text("user file\n")
    subprocess.run(["git", "add", "README"], check=True)
    subprocess.run(["git", "-c", "user.name=u", "-c", "user.email=u@x", "commit", "-qm", "init"], check=True)
    return workdir


def git(*args: str) -> str:
    return subprocess.run(["git", *args], capture_output=True, text=True, check=True).stdout


def test_runs_are_commits_on_a_ref_in_the_users_repo(repo):
    r1 = make_pipeline(10).run()
    r2 = make_pipeline(20).run()
    log = git("log", "--format=%s", "refs/flowyml/runs/numbers")
    assert log.splitlines() == [
        "numbers: success (4 ran, 0 cached) in " + log.splitlines()[0].split(" in ")[1],
        "numbers: success (4 ran, 0 cached) in " + log.splitlines()[1].split(" in ")[1],
    ]
    assert f"Flowyml-Run-Id: {r2.run_id}" in git("log", "-1", "refs/flowyml/runs/numbers")
    manifest = json.loads(git("show", "refs/flowyml/runs/numbers:manifest.json"))
    assert manifest["run_id"] == r2.run_id and manifest["context"] == {"n": 20}
    assert manifest["git"]["head"] == git("rev-parse", "HEAD").strip() and manifest["git"]["dirty"] is False
    assert set(manifest["steps"]["fit"]["key_parts"]) == {"code", "inputs", "params", "config"}
    assert git("status", "--porcelain") == "?? .flowyml/\n"
    assert subprocess.run(["git", "fsck", "--strict"], capture_output=True).returncode == 0
    assert r1.run_id != r2.run_id


def test_dirty_flag_follows_the_work_tree(repo):
    (repo / "README").write_text("edited\n")
    make_pipeline().run()
    assert json.loads(git("show", "refs/flowyml/runs/numbers:manifest.json"))["git"]["dirty"] is True


def test_list_runs_newest_first_and_load_past_outputs(repo):
    ids = [make_pipeline(n).run().run_id for n in (4, 6, 8)]
    runs = flowyml.runs("numbers")
    assert [r.run_id for r in runs] == ids[::-1]
    oldest = runs[-1]
    assert oldest.load("clean") == [0, 2]
    assert oldest.params == {"n": 4}
    assert oldest.metrics == {"metrics": {"mean": 1.0}}
    assert flowyml.runs("numbers", limit=2)[1].run_id == ids[1]
    assert flowyml.runs("other") == []


def test_run_id_prefixes(repo):
    r = make_pipeline().run()
    assert flowyml.get_run(r.run_id[:5]).run_id == r.run_id
    with pytest.raises(RunNotFound):
        flowyml.get_run("ffffffffffff" if not r.run_id.startswith("f") else "000000000000")
    ids = {make_pipeline(n).run().run_id for n in range(2, 40)} | {r.run_id}
    firsts = {}
    for i in ids:
        firsts.setdefault(i[0], []).append(i)
    shared = next(v for v in firsts.values() if len(v) > 1)
    with pytest.raises(AmbiguousRunId):
        flowyml.get_run(shared[0][0])


def test_failed_runs_are_recorded_with_their_error(repo):
    @step(inputs=["clean"], outputs=["model"])
    def fit(clean):
        raise ValueError("no convergence")

    p = Pipeline("numbers", context=context(n=5)).add_step(load).add_step(clean).add_step(fit)
    r = p.run()
    run = flowyml.get_run(r.run_id)
    assert run.status == "failed"
    assert "ValueError: no convergence" in run.steps["fit"].error
    assert flowyml.runs("numbers", status="failed")[0].run_id == r.run_id


def test_lineage_upstream_and_downstream_across_runs(repo):
    first = make_pipeline(10).run()
    second = make_pipeline(10).run()  # fully cached: the same oids, produced by the first run
    run = flowyml.get_run(second.run_id)
    metrics = run.artifact("metrics")
    assert [a.name for a in metrics.upstream()] == ["model", "clean", "raw"]
    assert metrics.produced_by == (first.run_id, "score")
    raw = flowyml.get_run(first.run_id).artifact("raw")
    downstream = raw.downstream()
    assert {(a.run.run_id, a.name) for a in downstream} == {
        (rid, name) for rid in (first.run_id, second.run_id) for name in ("clean", "model", "metrics")}


def test_models_are_registered_and_datasets_catalogued(repo):
    from flowyml.records import open_history
    from flowyml.registry import names, versions

    make_pipeline(10).run()
    make_pipeline(10).run()  # cached: no new version
    make_pipeline(12).run()
    with open_history() as h:
        models = versions(h, "model", "mean_model")
        assert [m.version for m in models] == [2, 1]
        assert names(h, "dataset") == ["numbers"]
        assert git("log", "--format=%s", "refs/flowyml/models/mean_model").startswith("model mean_model v2")


def test_project_name_namespaces_everything(repo):
    r = make_pipeline(project="ml_platform").run()
    refs = git("for-each-ref", "--format=%(refname)", "refs/flowyml/")
    assert "refs/flowyml/projects/ml_platform/runs/numbers" in refs
    assert "refs/flowyml/projects/ml_platform/models/mean_model" in refs
    assert flowyml.runs(project="ml_platform")[0].run_id == r.run_id
    assert flowyml.runs(project="other") == []
    assert flowyml.get_run(r.run_id[:6]).pipeline == "numbers"


def test_outside_a_git_repo_history_lives_under_dot_flowyml(workdir):
    r = make_pipeline().run()
    assert (workdir / ".flowyml" / "history.git").is_dir()
    assert flowyml.get_run(r.run_id).load("clean") == [0, 2, 4, 6, 8]


def test_stack_metadata_path_holds_the_history(workdir):
    stack = flowyml.LocalStack(artifact_path="art", metadata_path="meta.git")
    r = make_pipeline().run(stack=stack)
    assert (workdir / "meta.git" / "refs" / "flowyml").is_dir()
    assert flowyml.get_run(r.run_id, stack=stack).load("clean") == [0, 2, 4, 6, 8]


def test_hostile_pipeline_names_stay_inside_refs_flowyml(repo):
    r = Pipeline("../../heads/main x.lock").add_step(load).run(context={"n": 3})
    refs = git("for-each-ref", "--format=%(refname)")
    assert "refs/heads/main" not in refs or git("rev-parse", "refs/heads/main").strip() == git("rev-parse", "HEAD").strip()
    ours = [line for line in refs.splitlines() if "runs" in line]
    assert len(ours) == 1 and ours[0].startswith("refs/flowyml/runs/")
    assert flowyml.runs("../../heads/main x.lock")[0].run_id == r.run_id


def test_lineage_survives_a_deleted_run_ref(repo):
    first = make_pipeline(10).run()
    make_pipeline(10, project="p2").run()
    raw = flowyml.get_run(first.run_id).artifact("raw")
    assert len(raw.downstream()) == 6
    from flowyml.records import open_history, ref_of

    with open_history() as h:
        assert h.delete_ref(ref_of("runs", "numbers"))
    assert {a.run.project for a in flowyml.RunHistory().get(flowyml.runs(project="p2")[0].run_id)
            .artifact("raw").downstream()} == {"p2"}


def test_queries_in_an_empty_folder_create_nothing(workdir):
    assert flowyml.runs() == []
    with pytest.raises(RunNotFound):
        flowyml.get_run("abc123")
    assert list(workdir.iterdir()) == []
