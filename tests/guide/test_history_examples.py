"""The guide's versioning, snapshot, rerun and ``-> Model`` routing examples, verbatim."""

from __future__ import annotations

import subprocess

import pytest

STEPS = '''
from flowyml import step, Model, Metrics, Dataset

@step(outputs=["model"])
def train_model(learning_rate: float = 0.1) -> Model:
    return Model({"weights": [learning_rate] * 3}, name="classifier")

@step(inputs=["model"], outputs=["metrics"])
def evaluate(model: Model) -> Metrics:
    return Metrics({"accuracy": sum(model.data["weights"])}, name="eval")
'''

VERSIONING = '''
from flowyml import Pipeline

# Automatically creates a VersionedPipeline under the hood
pipeline = Pipeline("training", version="v1.0.0")
pipeline.add_step(train_model).add_step(evaluate)

# Compare versions
pipeline.compare_with("v0.9.0")

# Save immutable snapshots
from flowyml import freeze_pipeline
snapshot = freeze_pipeline(pipeline)
print(snapshot.snapshot_hash) # SHA-256 seal
assert snapshot.verify() # Verify integrity
'''

OLD_VERSION = '''
from flowyml import Pipeline, step

@step(outputs=["model"])
def train_model(learning_rate: float = 0.5):
    return {"weights": [learning_rate]}

@step(outputs=["report"])
def report():
    return "old"

Pipeline("training", version="v0.9.0").add_step(train_model).add_step(report).build()
'''


def test_versioning_and_snapshot_example(run_example, workdir, capsys):
    run_example(OLD_VERSION, name="old.py")
    g = run_example(VERSIONING, STEPS)
    out = capsys.readouterr().out.strip()
    snapshot = g["snapshot"]
    assert out == snapshot.snapshot_hash and len(out) == 64
    diff = g["pipeline"].compare_with("v0.9.0")
    assert diff.added == ("evaluate",) and diff.removed == ("report",)
    change = diff.step("train_model")
    assert change is not None and "code" in change.parts
    assert "evaluate (added)" in str(diff) and "report (removed)" in str(diff)
    assert "train_model: code changed" in str(diff)
    # the versions are refs in the history
    assert g["pipeline"].versions() == ["v0.9.0", "v1.0.0"]


def test_snapshot_verify_fails_after_a_change(run_example, workdir):
    run_example(OLD_VERSION, name="old.py")
    g = run_example(VERSIONING, STEPS)
    pipeline, snapshot = g["pipeline"], g["snapshot"]
    assert snapshot.verify() and snapshot.reason is None
    from flowyml import step

    @step(outputs=["model"])
    def train_model(learning_rate: float = 0.2):
        return {"weights": [learning_rate]}

    pipeline.steps[0] = train_model
    assert snapshot.verify() is False
    assert "train_model" in snapshot.reason and "code" in snapshot.reason
    pipeline.context = pipeline.context.updated({"learning_rate": 0.3})
    refs = subprocess.run(["git", "--git-dir", ".flowyml/history.git", "for-each-ref", "refs/flowyml/snapshots"],
                          capture_output=True, text=True, check=True).stdout
    assert snapshot.snapshot_hash[:16] in refs


RERUN = '''
# Resume from last checkpoint
result = pipeline.rerun(run_id="previous-run-id")

# Resume from a specific step (skip steps before it)
result = pipeline.rerun(run_id="previous-run-id", from_step="train_model")
'''

RERUN_PRELUDE = '''
from flowyml import Pipeline, step
calls = []

@step(outputs=["data"])
def load_data():
    calls.append("load_data")
    return [1, 2, 3]

@step(inputs=["data"], outputs=["model"])
def train_model(data):
    calls.append("train_model")
    return sum(data)

@step(inputs=["model"], outputs=["score"])
def evaluate(model):
    calls.append("evaluate")
    return model * 2

pipeline = Pipeline("rerun_demo").add_step(load_data).add_step(train_model).add_step(evaluate)
first = pipeline.run()
calls.clear()
'''


def test_rerun_example(run_example):
    g = run_example(RERUN.replace('"previous-run-id"', 'first.run_id'), RERUN_PRELUDE)
    r = g["result"]
    assert g["calls"] == ["train_model", "evaluate"]  # resume reused everything; from_step re-ran two
    assert r.success and r.outputs["score"] == 12
    assert r.step_results["load_data"].cached and not r.step_results["train_model"].cached
    assert r.manifest.parent_run == g["first"].run_id and r.manifest.from_step == "train_model"


def test_rerun_with_an_unknown_run_id_is_a_clear_error(run_example):
    from flowyml.errors import RunNotFound

    with pytest.raises(RunNotFound, match="previous-run-id"):
        run_example(RERUN, RERUN_PRELUDE)


def test_rerun_from_an_unknown_step_names_the_steps(run_example):
    from flowyml.errors import PipelineDefinitionError

    g = run_example("", RERUN_PRELUDE)
    with pytest.raises(PipelineDefinitionError, match="no such step.*load_data, train_model, evaluate"):
        g["pipeline"].rerun(run_id=g["first"].run_id, from_step="nope")


ROUTING = '''
from flowyml import Model

# ✓ Good: Auto-routed to your Model Registry & Artifact Store
@step
def train(data) -> Model:
    return Model(obj, name="my_model")
'''


def test_model_return_is_routed_to_the_registry(run_example, workdir):
    prelude = '''
from flowyml import Pipeline, step
@step(outputs=["data"])
def data():
    return [1.0, 2.0]
'''
    g = run_example(ROUTING.replace("return Model(obj", "obj = {'mean': sum(data) / len(data)}\n    return Model(obj"),
                    prelude)
    import flowyml
    from flowyml.records import open_history
    from flowyml.registry import versions

    p = flowyml.Pipeline("routing").add_step(g["data"]).add_step(g["train"])
    r1 = p.run()
    assert r1.outputs["train"].data == {"mean": 1.5}
    with open_history() as h:
        (v1,) = versions(h, "model", "my_model")
    assert (v1.version, v1.run_id, v1.step) == (1, r1.run_id, "train")

    @flowyml.step(outputs=["data"])
    def data():
        return [3.0, 5.0]

    r2 = flowyml.Pipeline("routing").add_step(data).add_step(g["train"]).run()
    with open_history() as h:
        latest, first = versions(h, "model", "my_model")
    assert (latest.version, latest.run_id) == (2, r2.run_id) and first.version == 1
    run = flowyml.get_run(r2.run_id[:6])
    assert run.load("train").data == {"mean": 4.0}
