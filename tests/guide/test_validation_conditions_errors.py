"""The guide's "Build-Time Type Validation", "Conditional Execution" and "Error Handling"."""

from __future__ import annotations

from typing import Optional, Union

import pandas as pd
import pytest

from flowyml import Dataset, Model

TYPES = '''
@step(outputs=["model"])
def train() -> Model:
    return Model(clf)

@step(inputs=["model"])
def evaluate(model: Dataset): # ✗ Type mismatch! Gets Model, expects Dataset
    pass

pipeline.add_step(train).add_step(evaluate)
pipeline.build() # Raises: Pipeline type validation failed
'''


def test_type_mismatch_fails_build(run_example):
    from flowyml.errors import TypeMismatchError

    prelude = "from flowyml import Pipeline, step, Model, Dataset\nclf = object()\npipeline = Pipeline('typed')\n"
    with pytest.raises(TypeMismatchError, match="Pipeline type validation failed") as info:
        run_example(TYPES, prelude)
    msg = str(info.value)
    assert "'train'" in msg and "'evaluate'" in msg
    assert info.value.steps == ("train", "evaluate")


def test_matching_types_build(workdir):
    from flowyml import Pipeline, step

    @step(outputs=["model"])
    def train() -> Model:
        return Model({"w": 1})

    @step(inputs=["model"], outputs=["ok"])
    def use(model: Optional[Union[Model, Dataset]]) -> bool:
        return model.data == {"w": 1}

    @step(outputs=["frames"])
    def frames() -> list[pd.DataFrame]:
        return [pd.DataFrame({"a": [1]})]

    @step(inputs=["frames"], outputs=["n"])
    def count(frames: list[pd.DataFrame]) -> int:
        return len(frames)

    p = Pipeline("typed").add_step(train).add_step(use).add_step(frames).add_step(count)
    p.build()
    assert p.run().outputs["ok"] is True


def test_element_type_mismatch_is_an_error(workdir):
    from flowyml import Pipeline, step
    from flowyml.errors import TypeMismatchError

    @step(outputs=["xs"])
    def make() -> dict[str, int]:
        return {"a": 1}

    @step(inputs=["xs"])
    def use(xs: dict[str, str]):
        pass

    with pytest.raises(TypeMismatchError, match="'make'.*'use'"):
        Pipeline("t").add_step(make).add_step(use).build()


def test_optional_into_required_is_a_warning(workdir, caplog):

    from flowyml import Pipeline, step

    @step(outputs=["x"])
    def make() -> Optional[int]:
        return 1

    @step(inputs=["x"])
    def use(x: int):
        pass

    p = Pipeline("t").add_step(make).add_step(use)
    graph = p.build()
    assert len(graph.warnings) == 1 and "'make'" in graph.warnings[0]
    assert "None" in caplog.text


CONDITION = '''
from flowyml import when

@step(outputs=["data"])
def load():
    return {"quality": 0.95}

@step(inputs=["data"], outputs=["model"])
@when(lambda data: data["quality"] > 0.9)
def train(data):
    return "trained_model"

# train() only executes if quality > 0.9
'''


@pytest.mark.parametrize("quality,ran", [(0.95, True), (0.5, False)])
def test_conditional_execution(run_example, quality, ran):
    from flowyml import Pipeline, step

    g = run_example(CONDITION.replace("0.95", str(quality)), "from flowyml import step\n")

    @step(inputs=["model"], outputs=["deployed"])
    def deploy(model):
        return f"deployed {model}"

    r = Pipeline("cond").add_step(g["load"]).add_step(g["train"]).add_step(deploy).run()
    assert r.success
    if ran:
        assert r.outputs["deployed"] == "deployed trained_model"
        assert r.step_results["train"].status == "success"
    else:
        assert r.step_results["train"].status == "skipped"
        assert r.step_results["deploy"].status == "skipped"  # its dependents skip too
        assert "model" not in r.outputs


ERRORS = '''
from flowyml import retry, on_failure

@step
@retry(max_attempts=3, backoff=2.0)
@on_failure(fallback_function)
def flaky_step():
    # Retries up to 3 times with exponential backoff
    return fetch_external_data()
'''


def _prelude(failures: int) -> str:
    return f'''
from flowyml import step
calls = []
def fallback_function(error):
    return "fallback: " + str(error)
def fetch_external_data():
    calls.append(1)
    if len(calls) <= {failures}:
        raise ConnectionError("try again")
    return "payload"
'''


@pytest.mark.parametrize("failures,expected,attempts", [
    (2, "payload", 3), (5, "fallback: try again", 3), (0, "payload", 1)])
def test_retry_then_fallback_in_a_pipeline(run_example, failures, expected, attempts, monkeypatch):
    import time

    sleeps = []
    monkeypatch.setattr(time, "sleep", sleeps.append)
    g = run_example(ERRORS, _prelude(failures))
    from flowyml import Pipeline

    r = Pipeline("flaky").add_step(g["flaky_step"]).run()
    assert r.success and r["flaky_step"] == expected
    assert len(g["calls"]) == attempts
    assert r.step_results["flaky_step"].attempts == attempts
    assert sleeps == [0.1, 0.2][: attempts - 1]  # exponential backoff, factor 2
    if "fallback" in expected:
        assert r.manifest.steps["flaky_step"].fallback_used
        again = Pipeline("flaky").add_step(g["flaky_step"]).run()
        assert not again.step_results["flaky_step"].cached  # a fallback's value is never cached


def test_retry_and_fallback_on_a_direct_call(run_example, monkeypatch):
    import time

    monkeypatch.setattr(time, "sleep", lambda s: None)
    g = run_example(ERRORS, _prelude(10))
    assert g["flaky_step"]() == "fallback: try again"
    assert len(g["calls"]) == 3


def test_failing_step_keeps_traceback_and_earlier_steps_stay_cached(workdir):
    from flowyml import Pipeline, step

    def log(name):
        with open("calls.log", "a") as f:
            f.write(name + "\n")

    @step(outputs=["a"])
    def first():
        log("first")
        return 1

    @step(inputs=["a"], outputs=["b"])
    def second(a):
        log("second")
        return a / 0

    r = Pipeline("f").add_step(first).add_step(second).run()
    assert not r.success and r.failed_step == "second"
    assert "ZeroDivisionError" in r.step_results["second"].error
    assert "return a / 0" in r.step_results["second"].error
    assert "call_with_controls" not in r.step_results["second"].error  # starts at the user's frame
    r2 = Pipeline("f").add_step(first).add_step(second).run()
    assert r2.step_results["first"].cached
    assert (workdir / "calls.log").read_text().split() == ["first", "second", "second"]
