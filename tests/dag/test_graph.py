"""Building the graph: bad pipelines fail at build() with errors that name the steps."""

from __future__ import annotations

import pytest

from flowyml import Pipeline, context, step
from flowyml.errors import PipelineDefinitionError


@step(outputs=["a"])
def make_a():
    return 1


@step(inputs=["a"], outputs=["b"])
def a_to_b(a):
    return a + 1


@step(inputs=["b"], outputs=["a"])
def b_to_a(b):
    return b


def test_two_steps_producing_one_output(workdir):
    with pytest.raises(PipelineDefinitionError, match="'a' is produced by both 'make_a' and 'b_to_a'") as info:
        Pipeline("dup").add_step(make_a).add_step(a_to_b).add_step(b_to_a).build()
    assert info.value.steps == ("make_a", "b_to_a")


def test_cycle_names_its_steps(workdir):
    @step(inputs=["b"], outputs=["c"])
    def b_to_c(b):
        return b

    @step(inputs=["c"], outputs=["b"])
    def c_to_b(c):
        return c

    with pytest.raises(PipelineDefinitionError, match="cycle") as info:
        Pipeline("cyc").add_step(b_to_c).add_step(c_to_b).build()
    assert set(info.value.steps) == {"b_to_c", "c_to_b"}


def test_missing_input_names_the_step_and_the_fix(workdir):
    with pytest.raises(PipelineDefinitionError, match="step 'a_to_b' needs input 'a'.*outputs=\\['a'\\]"):
        Pipeline("missing").add_step(a_to_b).build()


def test_argument_without_a_source(workdir):
    @step(outputs=["m"])
    def train(data, learning_rate: float):
        return data

    with pytest.raises(PipelineDefinitionError, match="step 'train' has no value for its argument 'data'"):
        Pipeline("nosrc", context=context(learning_rate=0.1)).add_step(train).build()


def test_a_step_added_twice(workdir):
    with pytest.raises(PipelineDefinitionError, match="'make_a' is added twice"):
        Pipeline("twice").add_step(make_a).add_step(make_a).build()


def test_adding_a_plain_function_says_to_decorate_it(workdir):
    def plain():
        return 1

    with pytest.raises(TypeError, match="decorate it with @step"):
        Pipeline("plain").add_step(plain)


def test_inputs_bind_by_name_then_by_position(workdir):
    @step(outputs=["features", "labels"])
    def split():
        return [1, 2], [0, 1]

    @step(inputs=["features", "labels"], outputs=["pairs"])
    def zip_them(x, y, scale: int):
        return [(a * scale, b) for a, b in zip(x, y)]

    r = Pipeline("bind", context=context(scale=10)).add_step(split).add_step(zip_them).run()
    assert r.outputs["pairs"] == [(10, 0), (20, 1)]


def test_undeclared_inputs_are_inferred_from_parameter_names(workdir):
    @step(outputs=["data"])
    def load():
        return [3, 4]

    @step(outputs=["total"])
    def total(data):
        return sum(data)

    p = Pipeline("infer").add_step(total).add_step(load)
    assert p.build().order == ["load", "total"]
    assert p.run().outputs["total"] == 7


def test_visualize_lists_every_dependency(workdir):
    @step(outputs=["x"])
    def x():
        return 1

    @step(outputs=["y"])
    def y():
        return 2

    @step(inputs=["x", "y"], outputs=["z"])
    def z(x, y):
        return x + y

    p = Pipeline("viz").add_step(x).add_step(y).add_step(z)
    p.build()
    assert p.dag.visualize() == "Step Execution Order:\n1. x\n2. y\n3. z (depends on: x, y)"


def test_wrong_number_of_returned_values_fails_the_step_clearly(workdir):
    @step(outputs=["a", "b"])
    def pair():
        return 1

    r = Pipeline("pair").add_step(pair).run()
    assert not r.success
    assert "declares 2 outputs ['a', 'b'] but returned a int" in r.step_results["pair"].error


def test_control_decorators_above_step_are_refused(workdir):
    from flowyml import retry

    with pytest.raises(TypeError, match="put @retry below @step"):
        retry(max_attempts=2)(make_a)
