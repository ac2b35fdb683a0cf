"""Pipelines the TUI tests run for real, in a subprocess, inside a fresh project.

``python project.py history`` fills the project's history with:

* ``training`` three times: every step ran; everything cached; ``lr`` changed
  (train and evaluate ran again). Outputs: a pandas table, a dict, an sklearn
  model (pickled) and metrics; ``load`` prints to stdout and stderr.
* ``etl`` once, failing in ``transform`` (so ``publish`` is not run).
* ``scoring``: a ``@map_task`` over 20 items between two plain steps.
* ``fanout``: one source, twelve parallel steps, one combiner.
* ``report`` recorded as version v1 and then v2 (``summarize`` changed).

``python project.py live GATE`` runs ``live`` (first -> wait -> last) with the
``wait`` step blocking until the file GATE exists; ``python project.py live-seed``
records one finished run of it first, so the UI knows its steps.
"""

from __future__ import annotations

import os
import sys
import time

import pandas as pd

from flowyml import Metrics, Model, Pipeline, map_task, step


@step(outputs=["raw"])
def load(n_rows: int = 50):
    print(f"loading {n_rows} rows")
    print("this goes to stderr", file=sys.stderr)
    return pd.DataFrame({"x": range(n_rows), "y": [i * 0.5 for i in range(n_rows)],
                         "label": [i % 2 for i in range(n_rows)]})


@step(inputs=["raw"], outputs=["clean"])
def clean(raw):
    return raw[raw.x % 7 != 0].reset_index(drop=True)


@step(inputs=["clean"], outputs=["features"])
def featurize(clean):
    return clean.assign(xy=clean.x * clean.y)


@step(inputs=["clean"], outputs=["stats"])
def describe(clean):
    return {"rows": len(clean), "mean_y": float(clean.y.mean())}


@step(inputs=["features"], outputs=["model"])
def train(features, lr: float = 0.1) -> Model:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=lr).fit(features[["x", "y", "xy"]], features["label"])
    return Model(model, name="classifier", metadata={"lr": lr})


@step(inputs=["model", "features", "stats"], outputs=["metrics"])
def evaluate(model: Model, features, stats) -> Metrics:
    accuracy = float(model.data.score(features[["x", "y", "xy"]], features["label"]))
    return Metrics(accuracy=accuracy, rows=stats["rows"])


def training() -> Pipeline:
    p = Pipeline("training", context={"lr": 0.1, "n_rows": 50})
    for s in (load, clean, featurize, describe, train, evaluate):
        p.add_step(s)
    return p


@step(outputs=["records"])
def extract():
    return [{"id": i, "value": i * 10} for i in range(5)]


@step(inputs=["records"], outputs=["table"])
def transform(records):
    raise ValueError(f"bad record {records[3]['id']}: value out of range")


@step(inputs=["table"], outputs=["published"])
def publish(table):
    return len(table)


@step(outputs=["items"])
def make_items():
    return [{"id": i, "text": f"document {i}"} for i in range(20)]


@step(inputs=["items"], outputs=["scores"])
@map_task(concurrency=4, retries=1)
def score(item: dict) -> dict:
    return {"id": item["id"], "score": len(item["text"]) * 0.1}


@step(inputs=["scores"], outputs=["summary"])
def summarize_scores(scores):
    return {"count": len(scores), "total": round(sum(s["score"] for s in scores), 3)}


def fanout() -> Pipeline:
    @step(outputs=["seed"])
    def source():
        return list(range(10))

    p = Pipeline("fanout")
    p.add_step(source)
    parts = []
    for i in range(12):
        def part(seed, i=i):
            return [v * i for v in seed]
        p.add_step(step(part, name=f"part_{i:02d}", inputs=["seed"], outputs=[f"part_{i:02d}"]))
        parts.append(f"part_{i:02d}")

    def combine(**kwargs):
        return sum(sum(v) for v in kwargs.values())

    import inspect

    combine.__signature__ = inspect.Signature(
        [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY) for n in parts])
    p.add_step(step(combine, name="combine", inputs=parts, outputs=["total"]))
    return p


def report(version: str) -> Pipeline:
    if version == "v1":
        @step(outputs=["summary"], name="summarize")
        def summarize():
            return {"version": 1}
    else:
        @step(outputs=["summary"], name="summarize")
        def summarize(extra: int = 2):
            return {"version": 2, "extra": extra}

    @step(inputs=["summary"], outputs=["text"])
    def render(summary):
        return str(summary)

    return Pipeline("report", version=version).add_step(summarize).add_step(render)


@step(outputs=["a"])
def first(token: str = ""):
    return f"first {token}"


@step(inputs=["a"], outputs=["b"])
def wait(a, gate: str = ""):
    deadline = time.time() + 60
    while gate and not os.path.exists(gate) and time.time() < deadline:
        time.sleep(0.05)
    return a + " waited"


@step(inputs=["b"], outputs=["c"])
def last(b):
    return b + " last"


def live(gate: str, token: str) -> Pipeline:
    p = Pipeline("live", context={"gate": gate, "token": token})
    return p.add_step(first).add_step(wait).add_step(last)


def history() -> None:
    p = training()
    p.run()
    p.run()
    p.run(context={"lr": 0.5})
    Pipeline("etl").add_step(extract).add_step(transform).add_step(publish).run()
    Pipeline("scoring").add_step(make_items).add_step(score).add_step(summarize_scores).run()
    fanout().run()
    report("v1").run()
    report("v2").run()


if __name__ == "__main__":
    if sys.argv[1] == "history":
        history()
    elif sys.argv[1] == "live-seed":
        live("", "seed").run()
    elif sys.argv[1] == "live":
        live(sys.argv[2], str(time.time())).run()
