"""Pipeline files the command-line tests write into projects."""

TYPED = '''
from flowyml import Pipeline, context, step


@step(outputs=["echo"])
def echo(count: int, rate: float, flag: bool, name: str, items: list, opts: dict):
    return {"count": count, "rate": rate, "flag": flag, "name": name, "items": items, "opts": opts}


pipeline = Pipeline("typed", context=context(count=1, rate=0.5, flag=False, name="a", items=[1], opts={"k": 1}))
pipeline.add_step(echo)
'''

FAILING = '''
from flowyml import Pipeline, step


@step(outputs=["x"])
def first():
    return 1


@step(inputs=["x"], outputs=["y"])
def boom(x):
    raise ValueError("boom at the second step")


pipeline = Pipeline("failing").add_step(first).add_step(boom)
'''

TWO = '''
from flowyml import Pipeline, step


@step(outputs=["a"])
def make_a():
    return "a"


@step(outputs=["b"])
def make_b():
    return "b"


first = Pipeline("first").add_step(make_a)
second = Pipeline("second-one").add_step(make_b)
'''

VERSIONED = '''
from flowyml import Pipeline, step


@step(outputs=["model"])
def train(lr: float):
    return {{"weights": [lr, lr * 2]}}


@step(inputs=["model"], outputs=["score"])
def evaluate(model):
    return sum(model["weights"]){extra}


pipeline = Pipeline("trainer", context={{"lr": 0.1}}, version="{version}")
pipeline.add_step(train).add_step(evaluate)
'''
