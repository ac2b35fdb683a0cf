"""@dynamic: a step that builds a pipeline at run time, executed once, its steps recorded and cached."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowyml import Pipeline, ThreadExecutor, context, dynamic, step


def calls(log: Path) -> list[str]:
    return log.read_text().split() if log.exists() else []


def search_pipeline(log: Path, **options) -> Pipeline:
    def train_model(learning_rate: float) -> dict:
        with open(log, "a") as f:
            f.write(f"train:{learning_rate}\n")
        return {"lr": learning_rate, "score": -abs(learning_rate - 0.01)}

    @dynamic(outputs=["best_model"], select=lambda models: max(models.values(), key=lambda m: m["score"]))
    def hyperparameter_search(config: dict) -> Pipeline:
        with open(log, "a") as f:
            f.write("generate\n")
        sub = Pipeline("hp_search")
        for lr in config["learning_rates"]:
            @step(outputs=[f"model_lr_{lr}"])
            def train(learning_rate=lr):
                return train_model(learning_rate)
            sub.add_step(train)
        return sub

    @step(inputs=["best_model"], outputs=["report"])
    def report(best_model: dict) -> str:
        return f"best learning rate: {best_model['lr']}"

    ctx = context(config={"learning_rates": [0.001, 0.01, 0.1]})
    return Pipeline("tuning", context=ctx, **options).add_step(hyperparameter_search).add_step(report)


def test_generated_steps_run_once_are_recorded_and_cached(workdir):
    log = workdir / "calls.log"
    pipeline = search_pipeline(log)
    first = pipeline.run()
    assert first.success, first.error
    assert first["report"] == "best learning rate: 0.01"
    assert calls(log) == ["generate", "train:0.001", "train:0.01", "train:0.1"]
    steps = first.manifest.steps
    assert list(steps) == ["hyperparameter_search", "hyperparameter_search/train[model_lr_0.001]",
                           "hyperparameter_search/train[model_lr_0.01]", "hyperparameter_search/train[model_lr_0.1]",
                           "report"]
    assert list(steps["hyperparameter_search"].outputs) == ["best_model"]
    assert list(steps["hyperparameter_search/train[model_lr_0.1]"].outputs) == ["hyperparameter_search/model_lr_0.1"]
    assert first.outputs["hyperparameter_search/model_lr_0.001"]["lr"] == 0.001
    assert steps["report"].inputs == {"best_model": "best_model"}

    log.unlink()
    second = pipeline.run()
    assert calls(log) == ["generate"]  # the function again, exactly once; every training from the cache
    statuses = {n: r.status for n, r in second.manifest.steps.items()}
    assert statuses == {"hyperparameter_search": "success", "hyperparameter_search/train[model_lr_0.001]": "cached",
                        "hyperparameter_search/train[model_lr_0.01]": "cached",
                        "hyperparameter_search/train[model_lr_0.1]": "cached", "report": "cached"}

    log.unlink()
    wider = pipeline.run(context={"config": {"learning_rates": [0.001, 0.01, 0.1, 0.05]}})
    assert calls(log) == ["generate", "train:0.05"]
    assert wider.success


def test_the_run_history_names_the_generated_steps(workdir):
    from flowyml import get_run

    result = search_pipeline(workdir / "calls.log").run()
    run = get_run(result.run_id)
    assert "hyperparameter_search/train[model_lr_0.01]" in run.manifest.steps
    assert run.artifact("best_model").load()["lr"] == 0.01


def test_threads_run_generated_steps_side_by_side(workdir):
    log = workdir / "calls.log"
    with ThreadExecutor(max_workers=4) as ex:
        result = search_pipeline(log, executor=ex).run()
    assert result.success and result["report"] == "best learning rate: 0.01"
    assert sorted(calls(log)) == ["generate", "train:0.001", "train:0.01", "train:0.1"]


def test_generated_steps_consume_the_dynamic_steps_inputs(workdir):
    @step(outputs=["data"])
    def data() -> list[int]:
        return [1, 2, 3, 4]

    @dynamic(outputs=["total"])
    def per_power(data: list[int], powers: list[int]) -> Pipeline:
        sub = Pipeline("powers")
        for p in powers:
            @step(name=f"power_{p}", outputs=[f"sum_{p}"])
            def power(data, p=p):
                return sum(x ** p for x in data)
            sub.add_step(power)
        return sub.add_step(_adder(powers))

    result = Pipeline("powers", context=context(powers=[1, 2])).add_step(data).add_step(per_power).run()
    assert result.success, result.error
    assert result["total"] == 10 + 30
    assert list(result.manifest.steps["per_power"].outputs) == []  # recorded on the step that made it
    assert "total" in result.manifest.steps["per_power/add"].outputs


def _adder(powers: list[int]):
    """A step adding ``sum_<p>`` for each power (its parameters depend on the powers)."""
    names = [f"sum_{p}" for p in powers]
    namespace: dict = {}
    exec(f"def add({', '.join(names)}):\n    return {' + '.join(names)}\n", namespace)
    return step(outputs=["total"])(namespace["add"])


def test_a_missing_output_without_select_fails_with_advice(workdir):
    @dynamic(outputs=["best"])
    def nothing_best() -> Pipeline:
        @step(outputs=["candidate"])
        def candidate():
            return 1
        return Pipeline("inner").add_step(candidate)

    result = Pipeline("p").add_step(nothing_best).run()
    assert not result.success and result.failed_step == "nothing_best"
    assert "declares output(s) ['best']" in result.error and "produces candidate" in result.error
    assert "select" in result.error
    assert result.manifest.steps["nothing_best/candidate"].status == "success"

    nothing_best.select = lambda outputs: outputs["candidate"] + 1
    assert Pipeline("p").add_step(nothing_best).run()["best"] == 2


def test_a_failing_generated_step_fails_the_run(workdir):
    @dynamic(outputs=["x"])
    def fragile() -> Pipeline:
        @step(outputs=["x"])
        def breaks():
            raise RuntimeError("generated step broke")
        return Pipeline("inner").add_step(breaks)

    @step(inputs=["x"], outputs=["y"])
    def after(x):
        return x

    result = Pipeline("p").add_step(fragile).add_step(after).run()
    assert not result.success
    statuses = {n: r.status for n, r in result.manifest.steps.items()}
    assert statuses == {"fragile": "failed", "fragile/breaks": "failed", "after": "not_run"}
    assert "RuntimeError: generated step broke" in result.error
    assert "inner step 'fragile/breaks' of 'fragile' failed" in result.error


def test_the_function_must_return_a_pipeline(workdir):
    @dynamic(outputs=["x"])
    def wrong():
        return [1, 2]

    result = Pipeline("p").add_step(wrong).run()
    assert not result.success and "must return a Pipeline; it returned list" in result.error


def test_a_pipeline_return_annotation_does_not_type_the_outputs(workdir):
    @dynamic(outputs=["n"])
    def annotated() -> Pipeline:
        @step(outputs=["n"])
        def n() -> int:
            return 3
        return Pipeline("inner").add_step(n)

    @step(inputs=["n"], outputs=["m"])
    def m(n: int) -> int:
        return n * 2

    pipeline = Pipeline("p").add_step(annotated).add_step(m)
    assert pipeline.build().warnings == []
    assert pipeline.run()["m"] == 6


def test_resume_reuses_finished_generated_steps(workdir):
    log = workdir / "calls.log"
    pipeline = search_pipeline(log)
    first = pipeline.run()
    log.unlink()
    resumed = pipeline.rerun(first.run_id, from_step="report")
    assert calls(log) == ["generate"]
    assert resumed.manifest.steps["hyperparameter_search/train[model_lr_0.01]"].status == "cached"
    assert resumed.manifest.steps["report"].status == "success"
    log.unlink()
    forced = pipeline.rerun(first.run_id, from_step="hyperparameter_search")
    assert sorted(calls(log)) == ["generate", "train:0.001", "train:0.01", "train:0.1"]
    assert forced.success


def test_dynamic_outputs_must_be_a_list():
    with pytest.raises(TypeError, match="list of names"):
        dynamic(outputs="best")
