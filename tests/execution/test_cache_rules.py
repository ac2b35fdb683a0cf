"""The exact-cache rules (DESIGN.md invariant 3), each counted in real executions.

Every test writes a small pipeline module, runs it, edits one thing and runs it
again in the same store; ``executed()`` reads which steps actually ran from a
log the steps append to.
"""

from __future__ import annotations

import os
import runpy
from pathlib import Path

import pytest

BASE = '''
from flowyml import Pipeline, context, step

def log(name):
    with open("calls.log", "a") as f:
        f.write(name + "\\n")

def helper(x):
    return x + 1

@step(outputs=["a"])
def first(seed: int):
    log("first")
    return seed * 10

@step(inputs=["a"], outputs=["b"])
def second(a, scale=2):
    """Scale the value."""
    log("second")
    # multiply
    return helper(a) * scale

@step(inputs=["b"], outputs=["c"])
def third(b, offset: int):
    log("third")
    return b + offset

@step(inputs=["a"], outputs=["d"])
def side(a):
    log("side")
    return -a

pipeline = Pipeline("rules", context=context(seed=1, offset=5, unused="x"), ENABLE)
pipeline.add_step(first).add_step(second).add_step(side).add_step(third)
result = pipeline.run()
'''


class Project:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.n = 0

    def run(self, source: str) -> dict:
        self.n += 1
        (self.root / "calls.log").unlink(missing_ok=True)
        path = self.root / f"pipe_{self.n}.py"
        path.write_text(source.replace("ENABLE", "enable_cache=True") if "ENABLE" in source else source)
        g = runpy.run_path(str(path), run_name="__main__")
        assert g["result"].success, g["result"].summary()
        return g

    def executed(self) -> list[str]:
        log = self.root / "calls.log"
        return log.read_text().split() if log.exists() else []


@pytest.fixture
def project(workdir: Path) -> Project:
    p = Project(workdir)
    p.run(BASE)
    assert p.executed() == ["first", "second", "side", "third"]
    return p


def test_unchanged_pipeline_reruns_nothing(project):
    g = project.run(BASE)
    assert project.executed() == []
    assert g["result"].outputs["c"] == (10 + 1) * 2 + 5


@pytest.mark.parametrize("old,new,expected", [
    # the step's body
    ("return b + offset", "return b + offset + 1", ["third"]),
    # a helper function it calls
    ("return x + 1", "return x + 2", ["second", "third"]),
    # a default argument
    ("scale=2", "scale=3", ["second", "third"]),
    # an upstream value (first returns something else)
    ("return seed * 10", "return seed * 100", ["first", "second", "side", "third"]),
    # a context value it uses
    ("offset=5", "offset=6", ["third"]),
    ("seed=1", "seed=2", ["first", "second", "side", "third"]),
])
def test_a_change_reruns_exactly_that_step_and_its_dependents(project, old, new, expected):
    project.run(BASE.replace(old, new))
    assert project.executed() == expected


def test_an_upstream_value_that_does_not_change_stops_the_reruns(project):
    # first's code changes but its output is identical: only first re-runs
    project.run(BASE.replace("return seed * 10", "return seed * 5 * 2"))
    assert project.executed() == ["first"]


@pytest.mark.parametrize("old,new", [
    ("# multiply", "# multiply the value by the scale factor"),
    ('"""Scale the value."""', '"""Scale the value by a factor, documented at length."""'),
    ('    """Scale the value."""\n', ""),
    ("return helper(a) * scale", "return helper( a )*scale  # reformatted"),
    ('unused="x"', 'unused="y"'),
    ('log("third")\n', 'log("third")\n\n\n'),
])
def test_cosmetic_or_unrelated_changes_rerun_nothing(project, old, new):
    assert old in BASE
    project.run(BASE.replace(old, new))
    assert project.executed() == []


def test_context_override_at_run_time_reruns_only_users(project):
    g = project.run(BASE.replace("result = pipeline.run()", "result = pipeline.run(context={'offset': 7})"))
    assert project.executed() == ["third"]
    assert g["result"].outputs["c"] == 22 + 7


def test_enable_cache_false_always_executes(project):
    project.run(BASE.replace("ENABLE", "enable_cache=False"))
    assert project.executed() == ["first", "second", "side", "third"]


def test_step_cache_false_always_executes(project):
    src = BASE.replace('@step(inputs=["b"], outputs=["c"])', '@step(inputs=["b"], outputs=["c"], cache=False)')
    project.run(src)
    project.run(src)
    assert project.executed() == ["third"]


def test_cache_version_invalidates(project):
    src = BASE.replace('@step(inputs=["a"], outputs=["d"])', '@step(inputs=["a"], outputs=["d"], cache_version="2")')
    project.run(src)
    assert project.executed() == ["side"]
    project.run(src)
    assert project.executed() == []


FILE_READER = '''
import pandas as pd
from flowyml import Pipeline, context, step

def log(name):
    with open("calls.log", "a") as f:
        f.write(name + "\\n")

@step(outputs=["raw_data"])
def load_data(data_path: str):
    log("load_data")
    return pd.read_csv(data_path)

@step(inputs=["raw_data"], outputs=["rows"])
def count(raw_data):
    log("count")
    return len(raw_data)

@step(outputs=["text"])
def read_notes(notes_path: str):
    log("read_notes")
    with open(notes_path) as f:
        return f.read()

pipeline = Pipeline("files", context=context(data_path="data.csv", notes_path="notes.txt"))
pipeline.add_step(load_data).add_step(count).add_step(read_notes)
result = pipeline.run()
'''


def test_a_file_read_with_open_reruns_on_content_change_not_on_touch(workdir):
    p = Project(workdir)
    (workdir / "data.csv").write_text("a,b\n1,2\n")
    (workdir / "notes.txt").write_text("hello")
    p.run(FILE_READER)
    assert p.executed() == ["load_data", "count", "read_notes"]

    os.utime(workdir / "data.csv", (1, 1))
    os.utime(workdir / "notes.txt")
    p.run(FILE_READER)
    assert p.executed() == []

    (workdir / "data.csv").write_text("a,b\n1,2\n3,4\n")
    g = p.run(FILE_READER)
    assert p.executed() == ["load_data", "count"]
    assert g["result"].outputs["rows"] == 2

    (workdir / "notes.txt").write_text("changed")
    g = p.run(FILE_READER)
    assert p.executed() == ["read_notes"]
    assert g["result"].outputs["text"] == "changed"


def test_the_log_file_written_by_steps_is_not_a_dependency(project):
    # steps append to calls.log (a write): that must not invalidate anything
    project.run(BASE)
    project.run(BASE)
    assert project.executed() == []


def test_steps_redefined_in_a_loop_are_distinct(workdir):
    from flowyml import Pipeline, step

    runs = []
    pipe = Pipeline("loop")
    for lr in (0.1, 0.2):
        @step(outputs=[f"model_{lr}"])
        def train(learning_rate=lr):
            runs.append(learning_rate)
            return learning_rate * 10

        train.name = f"train_{lr}"
        pipe.add_step(train)
    r = pipe.run()
    assert r.outputs["model_0.1"] == 1.0 and r.outputs["model_0.2"] == 2.0
    assert runs == [0.1, 0.2]
