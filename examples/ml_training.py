"""The guide's ML training pipeline, end to end, on a generated data set.

Run it twice: the second run is served entirely from the cache. Change
``n_estimators`` (``--context n_estimators=50`` with ``flowyml run``) and only
``train`` and ``evaluate`` run again.

    python examples/ml_training.py
    flowyml run examples/ml_training.py --context n_estimators=50
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import train_test_split

from flowyml import Metrics, Model, Pipeline, context, step

DATA = Path(__file__).with_name("data") / "train.csv"

ctx = context(
    data_path=str(DATA),
    test_size=0.2,
    n_estimators=100,
    random_state=42,
)


@step(outputs=["raw_data"])
def load_data(data_path: str) -> pd.DataFrame:
    """Read the training table (re-run whenever the file's content changes)."""
    return pd.read_csv(data_path)


@step(inputs=["raw_data"], outputs=["X_train", "X_test", "y_train", "y_test"])
def split_data(raw_data: pd.DataFrame, test_size: float, random_state: int):
    X = raw_data.drop("target", axis=1)
    y = raw_data["target"]
    return train_test_split(X, y, test_size=test_size, random_state=random_state)


@step(inputs=["X_train", "y_train"], outputs=["model"])
def train(X_train: pd.DataFrame, y_train: pd.Series, n_estimators: int, random_state: int) -> Model:
    model = RandomForestClassifier(n_estimators=n_estimators, random_state=random_state)
    model.fit(X_train, y_train)
    return Model(model, name="churn_classifier", metadata={"n_estimators": n_estimators})


@step(inputs=["model", "X_test", "y_test"], outputs=["metrics"])
def evaluate(model: RandomForestClassifier, X_test: pd.DataFrame, y_test: pd.Series) -> Metrics:
    return Metrics({"accuracy": float(model.score(X_test, y_test))}, name="holdout")


pipeline = Pipeline("ml_training", context=ctx, project_name="examples")
pipeline.add_step(load_data).add_step(split_data).add_step(train).add_step(evaluate)


def make_data(path: Path = DATA, rows: int = 2_000, seed: int = 0) -> None:
    """Write a synthetic churn-like table (no download needed)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, 6))
    target = ((X[:, 0] + 0.5 * X[:, 1] - X[:, 2] + rng.normal(scale=0.5, size=rows)) > 0).astype(int)
    df = pd.DataFrame(X, columns=[f"f{i}" for i in range(6)])
    df["target"] = target
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(path, index=False)


if not DATA.exists():
    make_data()

if __name__ == "__main__":
    result = pipeline.run()
    print(result.summary())
    if result.success:
        print(f"Model accuracy: {result.outputs['metrics']['accuracy']:.2%}")
    raise SystemExit(0 if result.success else 1)
