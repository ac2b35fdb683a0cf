"""Sub-pipelines: a pipeline as one step of another; child steps cached one by one and namespaced."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowyml import Pipeline, PipelineDefinitionError, ThreadExecutor, context, get_run, step


def calls(log: Path) -> list[str]:
    return log.read_text().split() if log.exists() else []


def training(log: Path, **options) -> Pipeline:
    def note(what: str) -> None:
        with open(log, "a") as f:
            f.write(what + "\n")

    @step(inputs=["input"], outputs=["cleaned"])
    def clean_data(input: list) -> list:
        note("clean_data")
        return [x for x in input if x is not None]

    @step(inputs=["cleaned"], outputs=["output"])
    def normalize(cleaned: list, scale: float) -> list:
        note("normalize")
        return [x / scale for x in cleaned]

    @step(outputs=["raw_data"])
    def load() -> list:
        return [4, None, 8, 2]

    @step(inputs=["clean_data"], outputs=["model"])
    def train_model(clean_data: list) -> float:
        note("train_model")
        return sum(clean_data)

    preprocess = Pipeline("preprocessing", context=context(scale=2.0))
    preprocess.add_step(clean_data).add_step(normalize)
    parent = Pipeline("training", **options).add_step(load)
    parent.add_sub_pipeline(preprocess, inputs=["raw_data"], outputs=["clean_data"],
                            input_mapping={"raw_data": "input"}, output_mapping={"output": "clean_data"})
    return parent.add_step(train_model)


def test_child_steps_run_namespaced_and_feed_the_parent(workdir):
    log = workdir / "calls.log"
    result = training(log).run()
    assert result.success, result.error
    assert result["model"] == 7.0 and result["clean_data"] == [2.0, 4.0, 1.0]
    steps = result.manifest.steps
    assert list(steps) == ["load", "preprocessing", "preprocessing/clean_data", "preprocessing/normalize",
                           "train_model"]
    assert steps["preprocessing/clean_data"].inputs == {"input": "raw_data"}
    assert list(steps["preprocessing/clean_data"].outputs) == ["preprocessing/cleaned"]
    assert steps["preprocessing/normalize"].inputs == {"cleaned": "preprocessing/cleaned"}
    assert list(steps["preprocessing/normalize"].outputs) == ["clean_data"]
    assert steps["preprocessing"].outputs == {} and steps["preprocessing"].inputs == {"raw_data": "raw_data"}
    assert steps["train_model"].upstream == ["preprocessing"]
    run = get_run(result.run_id)
    assert run.artifact("clean_data").load() == [2.0, 4.0, 1.0]
    assert calls(log) == ["clean_data", "normalize", "train_model"]


def test_child_steps_are_cached_one_by_one(workdir):
    log = workdir / "calls.log"
    pipeline = training(log)
    pipeline.run()
    log.unlink()
    again = pipeline.run()
    assert calls(log) == []
    assert {r.status for r in again.manifest.steps.values()} == {"cached"}
    # The parent run's context reaches the child and wins over the child's own.
    rescaled = pipeline.run(context={"scale": 1.0})
    assert calls(log) == ["normalize", "train_model"]
    assert rescaled.manifest.steps["preprocessing/clean_data"].status == "cached"
    assert rescaled["model"] == 14.0


def test_same_keys_as_the_child_pipeline_run_alone(workdir):
    log = workdir / "calls.log"
    parent = training(log)
    parent.run()
    child = parent.steps[1].pipeline
    log.unlink()

    @step(outputs=["input"])
    def given() -> list:
        return [4, None, 8, 2]

    alone = Pipeline("alone", context=child.context).add_step(given)
    for s in child.steps:
        alone.add_step(s)
    result = alone.run()
    assert calls(log) == []  # the steps were cached by the parent's run
    assert result.manifest.steps["normalize"].status == "cached"


def test_threads_and_a_failing_child(workdir):
    @step(outputs=["x"])
    def x() -> int:
        return 1

    @step(inputs=["x"], outputs=["y"])
    def fails(x: int) -> int:
        raise ZeroDivisionError("child failed")

    child = Pipeline("child").add_step(fails)
    parent = Pipeline("parent").add_step(x)
    parent.add_sub_pipeline(child, inputs=["x"], outputs=["y"])
    with ThreadExecutor(2) as ex:
        result = parent.run(executor=ex)
    assert not result.success and result.failed_step == "child"
    assert result.manifest.steps["child/fails"].status == "failed"
    assert "ZeroDivisionError: child failed" in result.manifest.steps["child/fails"].error
    assert "inner step 'child/fails' of 'child' failed" in result.error


def test_nested_sub_pipelines_and_inputs_from_the_context(workdir):
    @step(outputs=["doubled"])
    def double(seed: int) -> int:
        return seed * 2

    @step(inputs=["doubled"], outputs=["plus_one"])
    def plus_one(doubled: int) -> int:
        return doubled + 1

    inner = Pipeline("inner").add_step(double).add_step(plus_one)
    middle = Pipeline("middle")
    middle.add_sub_pipeline(inner, inputs=["start"], outputs=["result"], input_mapping={"start": "seed"},
                            output_mapping={"plus_one": "result"})
    outer = Pipeline("outer", context=context(start=20))
    outer.add_sub_pipeline(middle, inputs=["start"], outputs=["final"], output_mapping={"result": "final"})
    result = outer.run()
    assert result.success, result.error
    assert result["final"] == 41
    assert list(result.manifest.steps) == ["middle", "middle/inner", "middle/inner/double", "middle/inner/plus_one"]
    assert list(result.manifest.steps["middle/inner/double"].outputs) == ["middle/inner/doubled"]
    assert list(result.manifest.steps["middle/inner/plus_one"].outputs) == ["final"]
    assert outer.run().manifest.steps["middle"].status == "cached"


def test_rerun_from_the_sub_pipeline_runs_its_steps_again(workdir):
    log = workdir / "calls.log"
    pipeline = training(log)
    first = pipeline.run()
    log.unlink()
    pipeline.rerun(first.run_id, from_step="preprocessing")
    assert calls(log) == ["clean_data", "normalize", "train_model"]


def test_wiring_errors_are_found_when_adding(workdir):
    @step(inputs=["input"], outputs=["output"])
    def copy(input):
        return input

    child = Pipeline("child").add_step(copy)
    parent = Pipeline("parent")
    with pytest.raises(PipelineDefinitionError, match="mapping names \\['nope'\\]"):
        parent.add_sub_pipeline(child, inputs=["a"], outputs=["b"], input_mapping={"nope": "input"})
    with pytest.raises(PipelineDefinitionError, match="no step of pipeline 'child' produces 'result'"):
        parent.add_sub_pipeline(child, inputs=["a"], outputs=["b"], input_mapping={"a": "input"},
                                output_mapping={"result": "b"})
    with pytest.raises(PipelineDefinitionError, match="needs input 'input'"):
        parent.add_sub_pipeline(child, inputs=["a"], outputs=["output"])
    parent.add_sub_pipeline(child, inputs=["a"], outputs=["b"], input_mapping={"a": "input"},
                            output_mapping={"output": "b"})
    with pytest.raises(PipelineDefinitionError, match="needs input 'a'"):
        parent.build()  # nothing in the parent produces "a"
