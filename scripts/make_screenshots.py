"""Make the README's screenshots of ``flowyml ui`` from a real history.

Builds a project in a temporary folder, runs real pipelines in it (a pandas +
scikit-learn training pipeline three times — fresh, cached, with a changed
parameter —, a failing ETL, a map task, a versioned report, and one run left
in flight), then drives the app headless and saves each main screen with
``App.save_screenshot`` into ``docs/screenshots/``.

Run: ``/work/venv/bin/python scripts/make_screenshots.py [--out docs/screenshots]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

SIZE = (150, 42)

DEMO = '''
import os, sys, time
import pandas as pd
from flowyml import Metrics, Model, Pipeline, map_task, step


@step(outputs=["raw"])
def load_data(n_rows: int = 500):
    print(f"reading {n_rows} rows from the warehouse")
    return pd.DataFrame({"age": [20 + i % 50 for i in range(n_rows)],
                         "income": [30_000 + 1_000 * (i % 70) for i in range(n_rows)],
                         "city": [["Lyon", "Oslo", "Porto", "Quito"][i % 4] for i in range(n_rows)],
                         "churned": [int(i % 3 == 0) for i in range(n_rows)]})


@step(inputs=["raw"], outputs=["clean"])
def clean_data(raw):
    return raw.dropna().query("age >= 21").reset_index(drop=True)


@step(inputs=["clean"], outputs=["features"])
def build_features(clean):
    return clean.assign(income_k=clean.income / 1000, senior=(clean.age > 60).astype(int))


@step(inputs=["clean"], outputs=["profile"])
def profile_data(clean):
    return {"rows": len(clean), "cities": sorted(clean.city.unique()), "mean_age": round(float(clean.age.mean()), 2)}


@step(inputs=["features"], outputs=["model"])
def train_model(features, learning_rate: float = 0.1) -> Model:
    from sklearn.linear_model import LogisticRegression
    X = features[["age", "income_k", "senior"]]
    model = LogisticRegression(C=learning_rate, max_iter=500).fit(X, features.churned)
    print(f"trained with C={learning_rate}")
    return Model(model, name="churn-classifier", metadata={"C": learning_rate})


@step(inputs=["model", "features", "profile"], outputs=["metrics"])
def evaluate(model: Model, features, profile) -> Metrics:
    X = features[["age", "income_k", "senior"]]
    return Metrics(accuracy=round(float(model.data.score(X, features.churned)), 4), rows=profile["rows"])


def training():
    p = Pipeline("churn_training", context={"learning_rate": 0.1, "n_rows": 500})
    for s in (load_data, clean_data, build_features, profile_data, train_model, evaluate):
        p.add_step(s)
    return p


@step(outputs=["orders"])
def extract_orders():
    return [{"id": i, "amount": 10.0 * i} for i in range(8)]


@step(inputs=["orders"], outputs=["orders_eur"])
def convert_currency(orders):
    rates = {"USD": 0.92}
    return [{**o, "eur": o["amount"] * rates[o.get("currency", "GBP")]} for o in orders]


@step(inputs=["orders_eur"], outputs=["report"])
def publish_report(orders_eur):
    return len(orders_eur)


@step(outputs=["documents"])
def fetch_documents():
    return [{"id": i, "text": "lorem ipsum " * (i + 1)} for i in range(40)]


@step(inputs=["documents"], outputs=["embeddings"])
@map_task(concurrency=8, retries=2)
def embed(doc: dict) -> dict:
    return {"id": doc["id"], "norm": round(len(doc["text"]) ** 0.5, 3)}


@step(inputs=["embeddings"], outputs=["index"])
def build_index(embeddings):
    return {"size": len(embeddings), "max_norm": max(e["norm"] for e in embeddings)}


@step(outputs=["a"])
def ingest(token: str = ""):
    return token


@step(inputs=["a"], outputs=["b"])
def long_training(a, gate: str = ""):
    while gate and not os.path.exists(gate):
        time.sleep(0.05)
    return a


@step(inputs=["b"], outputs=["c"])
def export(b):
    return b


def nightly(gate, token):
    p = Pipeline("nightly", context={"gate": gate, "token": token})
    return p.add_step(ingest).add_step(long_training).add_step(export)


if __name__ == "__main__":
    if sys.argv[1] == "history":
        p = training()
        p.run()
        p.run()
        p.run(context={"learning_rate": 0.5})
        Pipeline("orders_etl").add_step(extract_orders).add_step(convert_currency).add_step(publish_report).run()
        Pipeline("embeddings").add_step(fetch_documents).add_step(embed).add_step(build_index).run()
        nightly("", "seed").run()
    else:
        nightly(sys.argv[2], str(time.time())).run()
'''


def env_for(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "FLOWYML_"))}
    env.update(HOME=str(home), GIT_CONFIG_NOSYSTEM="1")
    return env


async def shoot(project: Path, out: Path) -> list[str]:
    """Drive the app through its main screens, saving an SVG of each."""
    from flowyml_tui.app import FlowymlApp
    from flowyml_tui.dag_view import DagView
    from flowyml_tui.run_screen import RunScreen
    from flowyml_tui.run_table import RunTable
    from flowyml_tui.runs_screen import RunsScreen

    saved: list[str] = []
    app = FlowymlApp(project)

    async def until(predicate, what: str) -> None:
        for _ in range(600):
            if predicate():
                await pilot.pause(0.2)
                return
            await pilot.pause(0.05)
        raise RuntimeError(f"timed out waiting for {what}")

    def save(name: str) -> None:
        app.save_screenshot(f"{name}.svg", str(out))
        saved.append(f"{name}.svg")

    async def open_run(pipeline: str, index: int = 0, step: str | None = None) -> None:
        while not isinstance(app.screen, RunsScreen):
            await pilot.press("escape")
        table = app.screen.query_one(RunTable)
        matches = [i for i, r in enumerate(table.rows) if r.pipeline == pipeline]
        table.focus()
        table.cursor = matches[index]
        await pilot.press("enter")
        await until(lambda: isinstance(app.screen, RunScreen) and app.screen.view is not None, pipeline)
        if step:
            app.screen.query_one(DagView).select_step(step)
            await pilot.pause(0.2)

    async with app.run_test(size=SIZE) as pilot:
        await until(lambda: isinstance(app.screen, RunsScreen) and any(
            r.live for r in app.screen.query_one(RunTable).rows), "the run in flight")
        save("runs")
        await open_run("nightly", 0)
        await until(lambda: app.screen.view.live and any(
            r.status == "running" for r in app.screen.view.steps.values()), "a running step")
        save("live-run")
        await open_run("churn_training", 0, step="train_model")
        save("run")
        await open_run("orders_etl", 0, step="convert_currency")
        save("failed-run")
        await open_run("churn_training", 2, step="build_features")
        await pilot.press("a")
        await until(lambda: getattr(app.screen, "preview", None) is not None, "the table preview")
        save("artifact")
        await pilot.press("l")
        await until(lambda: app.screen.query("#downstream") and
                    app.screen.query_one("#downstream").root.children, "the lineage")
        save("lineage")
        await open_run("churn_training", 0)
        await pilot.press("d")
        await until(lambda: getattr(app.screen, "view", None) is not None and
                    type(app.screen).__name__ == "DiffScreen", "the diff")
        table = app.screen.query_one("#diff-steps")
        table.move_cursor(row=next(i for i in range(table.row_count) if str(table.get_row_at(i)[0]) == "train_model"))
        await pilot.pause(0.2)
        save("diff")
    return saved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "docs" / "screenshots")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="flowyml-shots-"))
    project = folder / "churn-project"
    project.mkdir()
    gate = folder / "gate"
    live = None
    try:
        from dulwich.repo import Repo

        Repo.init(str(project)).close()
        (project / "pipelines.py").write_text(textwrap.dedent(DEMO))
        subprocess.run([sys.executable, "pipelines.py", "history"], cwd=project, env=env_for(folder), check=True,
                       capture_output=True)
        live = subprocess.Popen([sys.executable, "pipelines.py", "live", "../gate"], cwd=project,
                                env=env_for(folder), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        os.environ["HOME"] = str(folder)  # the title bar then reads ~/churn-project
        saved = asyncio.run(shoot(project, args.out))
        print("saved", ", ".join(saved), "in", args.out)
    finally:
        gate.touch()
        if live is not None:
            live.wait(timeout=60)
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
