"""The guide's "Creating Your First Pipeline" and "Running Pipelines" examples, verbatim."""

from __future__ import annotations

import re

FIRST = '''
import pandas as pd
from flowyml import Pipeline, step, Dataset

# Define steps
@step(outputs=["raw_data"])
def extract() -> Dataset:
    df = pd.DataFrame({"val": [1, 2, 3, 4, 5]})
    return Dataset(df, name="raw_numbers")

@step(inputs=["raw_data"], outputs=["processed_data"])
def transform(raw_data: pd.DataFrame):
    return raw_data * 2

# Create pipeline
pipeline = Pipeline("etl_pipeline")

# Chaining steps
pipeline.add_step(extract).add_step(transform)

# Run the pipeline
result = pipeline.run()

if result.success:
    print(f"✓ Pipeline run complete: {result.run_id}")
'''


def test_first_example_runs_and_prints_its_run_id(run_example, capsys):
    g = run_example(FIRST)
    out = capsys.readouterr().out
    result = g["result"]
    assert result.success
    assert out.strip() == f"✓ Pipeline run complete: {result.run_id}"
    assert re.fullmatch(r"[0-9a-f]{12}", result.run_id)
    # transform received the DataFrame (annotated pd.DataFrame), not the Dataset
    assert list(result.outputs["processed_data"]["val"]) == [2, 4, 6, 8, 10]
    raw = result.outputs["raw_data"]
    assert type(raw).__name__ == "Dataset" and raw.name == "raw_numbers"


def test_first_example_rerun_is_fully_cached(run_example):
    run_example(FIRST)
    g = run_example(FIRST, name="again.py")
    assert [r.cached for r in g["result"].step_results.values()] == [True, True]


def test_dag_tip_visualize_before_running(run_example, capsys):
    g = run_example(FIRST.split("# Run the pipeline")[0] + "\npipeline.build()\nprint(pipeline.dag.visualize())\n")
    assert capsys.readouterr().out == (
        "Step Execution Order:\n1. extract\n2. transform (depends on: extract)\n")
    assert g["pipeline"].dag is not None


BASIC = '''
# Run the pipeline
result = pipeline.run()

# Check success
if result.success:
    print(f"✓ Pipeline completed successfully!")
    print(f"Outputs: {result.outputs}")
else:
    print(f"✗ Pipeline failed")
'''

PRELUDE = '''
from flowyml import Pipeline, step, context, LocalStack

@step(outputs=["data"])
def load():
    return [1, 2, 3]

@step(inputs=["data"], outputs=["total"])
def total(data, learning_rate: float):
    return sum(data) * learning_rate

pipeline = Pipeline("basic", context=context(learning_rate=0.001)).add_step(load).add_step(total)
my_production_stack = LocalStack(artifact_path="prod_store")
'''


def test_basic_execution_prints_outputs(run_example, capsys):
    run_example(BASIC, PRELUDE)
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "✓ Pipeline completed successfully!"
    assert out[1] == "Outputs: {'data': [1, 2, 3], 'total': 0.006}"


def test_basic_execution_reports_failure(run_example, capsys):
    prelude = PRELUDE.replace("return [1, 2, 3]", "raise RuntimeError('source down')")
    g = run_example(BASIC, prelude)
    assert capsys.readouterr().out.strip() == "✗ Pipeline failed"
    res = g["result"]
    assert res.step_results["load"].status == "failed"
    assert "RuntimeError: source down" in res.step_results["load"].error
    assert res.step_results["total"].status == "not_run"


OVERRIDES = '''
# Override context
result = pipeline.run(context={"learning_rate": 0.05})

# Use different stack
result = pipeline.run(stack=my_production_stack)

# Enable debug mode
result = pipeline.run(debug=True)
'''


def test_runtime_overrides(run_example, workdir, capsys):
    prelude = PRELUDE + "\nresults = []\n_run = pipeline.run\n"
    prelude += "def _spy(*a, **k):\n    r = _run(*a, **k)\n    results.append(r)\n    return r\npipeline.run = _spy\n"
    g = run_example(OVERRIDES, prelude)
    first, second, third = g["results"]
    assert first.outputs["total"] == 6 * 0.05
    # the override was for that run only
    assert second.outputs["total"] == 6 * 0.001
    # the production stack kept its objects elsewhere
    assert (workdir / "prod_store" / "objects").is_dir()
    assert second.step_results["load"].artifact_uri.startswith(str(workdir / "prod_store"))
    assert third.success
    err = capsys.readouterr().err
    # debug mode logs every step's cache decision (total re-runs: the override run replaced its cache)
    assert "step load: cached" in err and "step total: success" in err


RESULT_PROPS = '''
result = pipeline.run()

# Properties
result.run_id # Unique run identifier
result.pipeline_name # Pipeline name
result.success # Boolean: overall success
result.outputs # Dict: all step outputs
result.step_results # Dict: detailed results per step
result.duration_seconds # Total execution time

# Methods
result.summary() # Human-readable summary
result.to_dict() # Convert to dictionary
result["step_name"] # Access specific output
'''


def test_pipeline_result_object(run_example):
    prelude = PRELUDE.replace('outputs=["total"]', 'outputs=["step_name"]')
    g = run_example(RESULT_PROPS, prelude)
    r = g["result"]
    assert r.pipeline_name == "basic" and r.success and r.duration_seconds > 0
    assert r["step_name"] == 6 * 0.001
    assert r["total"] == 6 * 0.001  # a step name finds that step's output too
    d = r.to_dict()
    assert d["run_id"] == r.run_id and set(d["steps"]) == {"load", "total"}
    assert d["outputs"]["data"]["codec"] == "msgpack"
    assert "load" in r.summary() and r.run_id in r.summary()


INSPECT = '''
result = pipeline.run()

if result.success:
    print(result.summary())

    # Access step results
    for step_name, step_result in result.step_results.items():
        print(f"Step: {step_name}")
        print(f" Duration: {step_result.duration_seconds:.2f}s")
        print(f" Cached: {step_result.cached}")
        if step_result.artifact_uri:
            print(f" Artifact: {step_result.artifact_uri}")
'''


def test_inspecting_results(run_example, capsys, workdir):
    run_example(INSPECT, PRELUDE)
    out = capsys.readouterr().out
    assert "Step: load\n Duration: 0.00s\n Cached: False\n Artifact: " in out
    assert "Step: total" in out
    artifact = out.split(" Artifact: ")[1].splitlines()[0]
    assert artifact.startswith(str(workdir / ".flowyml" / "objects"))
    run_example(INSPECT, PRELUDE, name="again.py")
    assert "Cached: True" in capsys.readouterr().out
