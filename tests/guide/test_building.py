"""The guide's "Pipeline Configuration", "Execution Graph", "Pipeline Building" and
"Pipeline from Steps" examples, verbatim."""

from __future__ import annotations

import pytest

CONFIG = '''
from flowyml import Pipeline, context

ctx = context(
    learning_rate=0.001,
    batch_size=32
)

pipeline = Pipeline(
    name="training_pipeline",
    context=ctx, # Context for parameter injection
    enable_cache=True, # Enable intelligent caching
    cache_dir="./my_cache", # Custom cache directory
    stack=my_stack, # Execution stack (local, cloud, etc.)
    project_name="ml_project", # Automatically creates/attaches to project
    version="v1.0.0", # Optional: creates VersionedPipeline automatically
    enable_checkpointing=True, # Enable automatic checkpointing (default: True)
    enable_experiment_tracking=True # Enable automatic experiment tracking (default: True)
)
'''


def test_configuration_options_are_kept(run_example):
    g = run_example(CONFIG, "from flowyml import LocalStack\nmy_stack = LocalStack(artifact_path='stack_store')\n")
    p = g["pipeline"]
    assert type(p).__name__ == "VersionedPipeline"
    assert (p.name, p.version, p.project_name) == ("training_pipeline", "v1.0.0", "ml_project")
    assert dict(p.context) == {"learning_rate": 0.001, "batch_size": 32}
    assert p.enable_cache and p.enable_checkpointing and p.enable_experiment_tracking
    assert p.cache_dir == "./my_cache" and p.stack is g["my_stack"]
    assert p.auto_discover is False


def test_defaults_of_the_configuration_table(workdir):
    from flowyml import Context, Pipeline

    p = Pipeline("defaults")
    assert isinstance(p.context, Context) and len(p.context) == 0
    assert (p.enable_cache, p.enable_checkpointing, p.enable_experiment_tracking, p.auto_discover) == (
        True, True, True, False)
    assert p.stack is None and p.project_name is None and p.version is None
    assert type(p).__name__ == "Pipeline"
    assert p.store_root() == workdir / ".flowyml"


def test_cache_dir_holds_the_object_store(workdir):
    from flowyml import Pipeline, step

    @step(outputs=["x"])
    def make():
        return 41

    Pipeline("p", cache_dir="./my_cache").add_step(make).run()
    assert any((workdir / "my_cache" / "objects").rglob("*"))
    assert not (workdir / ".flowyml" / "objects").exists()


DAG = '''
@step(outputs=["data"])
def step_a():
    return [1, 2, 3]

@step(inputs=["data"], outputs=["result"])
def step_b(data):
    return sum(data)

# flowyml automatically determines step_a must run before step_b
'''


def test_dag_orders_by_data_dependency(run_example):
    g = run_example(DAG + "\npipeline = Pipeline('dag').add_step(step_b).add_step(step_a)\nresult = pipeline.run()\n",
                    "from flowyml import Pipeline, step\n")
    r = g["result"]
    assert list(r.step_results) == ["step_a", "step_b"]
    assert r.outputs["result"] == 6
    assert g["step_b"]([4, 5]) == 9  # still a plain callable


STEPS = '''
from flowyml import step

@step(outputs=["raw"])
def load_data():
    return [3, 1, 2]

@step(inputs=["raw"], outputs=["clean"])
def preprocess(raw):
    return sorted(raw)

@step(inputs=["clean"], outputs=["model"])
def train_model(clean):
    return {"weights": clean}

@step(inputs=["model"], outputs=["score"])
def evaluate(model):
    return len(model["weights"])

step1, step2, step3 = load_data, preprocess, train_model
'''

ADDING = '''
pipeline = Pipeline("ml_workflow")

# Add steps
pipeline.add_step(load_data)
pipeline.add_step(preprocess)
pipeline.add_step(train_model)
pipeline.add_step(evaluate)

# Add returns the pipeline for chaining
pipeline = (Pipeline("workflow")
    .add_step(step1)
    .add_step(step2)
    .add_step(step3)
)
'''


def test_adding_steps_and_chaining(run_example):
    g = run_example(ADDING, "from flowyml import Pipeline\n" + STEPS)
    p = g["pipeline"]
    assert p.name == "workflow" and [s.name for s in p.steps] == ["load_data", "preprocess", "train_model"]
    assert p.run().outputs["model"] == {"weights": [1, 2, 3]}


VISUALIZE = '''
# Build the DAG
pipeline.build()

# Visualize the execution graph
print(pipeline.dag.visualize())
'''


def test_dag_visualization_prints_the_guide_format(run_example, capsys):
    prelude = "from flowyml import Pipeline\n" + STEPS + (
        "pipeline = Pipeline('ml_workflow').add_step(load_data).add_step(preprocess)"
        ".add_step(train_model).add_step(evaluate)\n")
    run_example(VISUALIZE, prelude)
    assert capsys.readouterr().out == (
        "Step Execution Order:\n"
        "1. load_data\n"
        "2. preprocess (depends on: load_data)\n"
        "3. train_model (depends on: preprocess)\n"
        "4. evaluate (depends on: train_model)\n"
    )


FROM_STEPS = '''
pipeline = Pipeline.from_steps(
    load_data,
    preprocess,
    train_model,
    evaluate,
    name="training",
    enable_cache=False,
)
'''


def test_from_steps_factory(run_example):
    g = run_example(FROM_STEPS, "from flowyml import Pipeline\n" + STEPS)
    p = g["pipeline"]
    assert p.name == "training" and p.enable_cache is False
    assert [s.name for s in p.steps] == ["load_data", "preprocess", "train_model", "evaluate"]
    p.run()
    second = p.run()
    assert second.outputs["score"] == 3
    assert not any(r.cached for r in second.step_results.values())  # cache disabled


STACKS = '''
from flowyml import LocalStack

# Create a local stack with custom paths
stack = LocalStack(
    artifact_path=".flowyml/artifacts",
    metadata_path=".flowyml/metadata.db"
)

# Use stack in pipeline
pipeline = Pipeline("my_pipeline", stack=stack)

# Or set at runtime
result = pipeline.run(stack=stack)
'''


def test_local_stack_places_the_object_store(run_example, workdir):
    prelude = "from flowyml import Pipeline, step\n" + STEPS
    g = run_example(STACKS.replace('Pipeline("my_pipeline", stack=stack)',
                                   'Pipeline("my_pipeline", stack=stack).add_step(load_data)'), prelude)
    assert g["result"].success
    assert (workdir / ".flowyml" / "artifacts" / "objects").is_dir()
    assert g["stack"].metadata_path == ".flowyml/metadata.db"


def test_stack_example_verbatim_runs_an_empty_pipeline(run_example):
    g = run_example(STACKS, "from flowyml import Pipeline\n")
    assert g["result"].success and g["result"].step_results == {}


@pytest.mark.parametrize("order", [("a", "b"), ("b", "a")])
def test_independent_steps_run_in_registration_order(workdir, order):
    from flowyml import Pipeline, step

    seen = []

    @step(outputs=["src"])
    def src():
        return 1

    @step(inputs=["src"])
    def a(src):
        seen.append("a")

    @step(inputs=["src"])
    def b(src):
        seen.append("b")

    steps = {"a": a, "b": b}
    Pipeline("order").add_step(src).add_step(steps[order[0]]).add_step(steps[order[1]]).run()
    assert seen == list(order)
