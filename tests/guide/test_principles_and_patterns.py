"""The guide's design principles, patterns and real-world example, verbatim."""

from __future__ import annotations

import pandas as pd
import pytest

PURE = '''
# ✓ Good: Pure function, testable in isolation
@step(outputs=["processed"])
def clean_data(raw_data):
    return raw_data.dropna().reset_index(drop=True)

# ✗ Bad: Side effects, hard to test
@step
def clean_data():
    global df # Don't do this!
    df = df.dropna()
'''


def test_pure_function_is_unit_testable(run_example):
    good = run_example(PURE.split("# ✗ Bad")[0], "from flowyml import step\n")["clean_data"]
    df = pd.DataFrame({"a": [1.0, None, 3.0]})
    assert list(good(df)["a"]) == [1.0, 3.0]
    g = run_example(PURE, "from flowyml import step\n", name="both.py")
    assert g["clean_data"].outputs == []  # the redefinition replaced the first, as in a notebook


SINGLE = '''
# ✓ Good: Focused steps
@step(outputs=["split_data"])
def split_data(data): ...

@step(inputs=["split_data"], outputs=["model"])
def train_model(split_data): ...

# ✗ Bad: Doing too much
@step(outputs=["model"])
def split_and_train(data):
    # Splitting and training in one step = can't cache independently
    split = split_data(data)
    model = train(split)
    return model
'''


def test_single_responsibility_definitions(run_example):
    g = run_example(SINGLE, "from flowyml import step\ntrain = lambda s: ('model', s)\n")
    assert g["split_data"].outputs == ["split_data"]
    assert g["train_model"].inputs == ["split_data"]
    assert g["split_and_train"]([1]) == ("model", None)


CONTEXT = '''
# ✓ Good: Context injection
ctx = context(learning_rate=0.001, epochs=10)
pipeline = Pipeline("training", context=ctx)

@step(outputs=["model"])
def train(data, learning_rate: float, epochs: int):
    # Parameters injected automatically
    ...

# ✗ Bad: Hardcoded configuration
@step(outputs=["model"])
def train(data):
    learning_rate = 0.001 # Can't change without code edit
    epochs = 10
'''


def test_context_injection(run_example):
    g = run_example(CONTEXT.split("# ✗ Bad")[0], "from flowyml import Pipeline, context, step\n")
    seen = {}

    from flowyml import step

    @step(outputs=["data"])
    def data():
        return [1, 2]

    original = g["train"].func

    @step(outputs=["model"])
    def train(data, learning_rate: float, epochs: int):
        seen.update(data=data, learning_rate=learning_rate, epochs=epochs)
        return original(data, learning_rate, epochs)

    p = g["pipeline"].add_step(data).add_step(train)
    p.run()
    assert seen == {"data": [1, 2], "learning_rate": 0.001, "epochs": 10}
    p.run(context={"epochs": 3})
    assert seen["epochs"] == 3
    run_example(CONTEXT, "from flowyml import Pipeline, context, step\n", name="both.py")


ENV = '''
# Same pipeline code works everywhere
ctx_dev = context(data_path="./local_data.csv", batch_size=32)
ctx_prod = context(data_path="gs://bucket/data.csv", batch_size=512)

# Development
pipeline = Pipeline("ml_training", context=ctx_dev)
pipeline.run()

# Production (same code!)
pipeline = Pipeline("ml_training", context=ctx_prod, stack=prod_stack)
pipeline.run()
'''


def test_environment_agnostic_design(run_example, workdir):
    prelude = '''
from flowyml import Pipeline, context, step, LocalStack
prod_stack = LocalStack(artifact_path="prod")
seen = []
@step(outputs=["n"])
def batch(data_path: str, batch_size: int):
    seen.append((data_path, batch_size))
    return batch_size
_Pipeline = Pipeline
def Pipeline(*a, **k):
    return _Pipeline(*a, **k).add_step(batch)
'''
    g = run_example(ENV, prelude)
    assert g["seen"] == [("./local_data.csv", 32), ("gs://bucket/data.csv", 512)]
    assert (workdir / "prod" / "objects").is_dir()


ANTI_ENV = '''
# Don't do this!
@step(outputs=["data"])
def load_data():
    if os.getenv("ENV") == "production":
        return load_from_gcs()
    else:
        return load_from_local()
'''

MONOLITH = '''
# Don't do this!
@step(outputs=["everything"])
def do_everything():
    data = load()
    clean = process(data)
    model = train(clean)
    metrics = evaluate(model)
    deploy(model)
    return metrics
'''


@pytest.mark.parametrize("example", [ANTI_ENV, MONOLITH])
def test_anti_patterns_define_steps(run_example, example):
    g = run_example(example, "import os\nfrom flowyml import step\n")
    assert any(hasattr(v, "outputs") and v.outputs for v in g.values())


COMPOSE = '''
# Reusable, composable steps
@step(outputs=["data"])
def load_csv(path: str):
    return pd.read_csv(path)

@step(inputs=["data"], outputs=["clean"])
def clean(data):
    return data.dropna()

# Build multiple pipelines from same steps
etl_pipeline = Pipeline("etl").add_step(load_csv).add_step(clean)
validation_pipeline = Pipeline("validation").add_step(load_csv).add_step(validate)
'''


def test_composition_over_inheritance(run_example, workdir):
    (workdir / "d.csv").write_text("a,b\n1,2\n,3\n")
    prelude = '''
import pandas as pd
from flowyml import Pipeline, step
@step(inputs=["data"], outputs=["n_rows"])
def validate(data):
    return len(data)
'''
    g = run_example(COMPOSE, prelude)
    ctx = {"path": "d.csv"}
    assert len(g["etl_pipeline"].run(context=ctx).outputs["clean"]) == 1
    assert g["validation_pipeline"].run(context=ctx).outputs["n_rows"] == 2


FAIL_FAST = '''
@step(outputs=["data"])
def load_data():
    return fetch_data()

@step(inputs=["data"])
def validate_data(data):
    if len(data) < 100:
        raise ValueError("Insufficient data")
    if data['target'].isnull().any():
        raise ValueError("Missing target values")
    # Validation passes, no output needed

@step(inputs=["data"], outputs=["model"])
def train_model(data):
    # Only runs if validation passed
    return train(data)
'''


@pytest.mark.parametrize("rows,ok", [(10, False), (150, True)])
def test_fail_fast_validation_stops_training(run_example, rows, ok):
    prelude = f'''
import pandas as pd
from flowyml import step
trained = []
def fetch_data():
    return pd.DataFrame({{"x": range({rows}), "target": [1] * {rows}}})
def train(data):
    trained.append(len(data))
    return "model"
'''
    g = run_example(FAIL_FAST, prelude)
    from flowyml import Pipeline

    r = Pipeline("ff").add_step(g["load_data"]).add_step(g["validate_data"]).add_step(g["train_model"]).run()
    assert r.success is ok
    assert g["trained"] == ([rows] if ok else [])
    if not ok:
        assert r.step_results["validate_data"].status == "failed"
        assert "Insufficient data" in r.step_results["validate_data"].error
        assert r.step_results["train_model"].status == "not_run"
        assert r.step_results["load_data"].status == "success"


ML = '''
from flowyml import Pipeline, step, context
from sklearn.model_selection import train_test_split
from sklearn.ensemble import RandomForestClassifier

ctx = context(
    data_path="data/train.csv",
    test_size=0.2,
    n_estimators=100,
    random_state=42
)

@step(outputs=["raw_data"])
def load_data(data_path: str):
    return pd.read_csv(data_path)

@step(inputs=["raw_data"], outputs=["X_train", "X_test", "y_train", "y_test"])
def split_data(raw_data, test_size: float, random_state: int):
    X = raw_data.drop('target', axis=1)
    y = raw_data['target']
    return train_test_split(X, y, test_size=test_size, random_state=random_state)

@step(inputs=["X_train", "y_train"], outputs=["model"])
def train(X_train, y_train, n_estimators: int):
    model = RandomForestClassifier(n_estimators=n_estimators)
    model.fit(X_train, y_train)
    return model

@step(inputs=["model", "X_test", "y_test"], outputs=["accuracy"])
def evaluate(model, X_test, y_test):
    return model.score(X_test, y_test)

# Create pipeline with project (will create project if it doesn't exist)
pipeline = Pipeline("ml_training", context=ctx, project_name="ml_platform")
pipeline.add_step(load_data)
pipeline.add_step(split_data)
pipeline.add_step(train)
pipeline.add_step(evaluate)

result = pipeline.run()
print(f"Model accuracy: {result.outputs['accuracy']:.2%}")
'''


def write_training_csv(path, n=120, seed=0):
    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    df = pd.DataFrame(x, columns=["f1", "f2", "f3"])
    df["target"] = (x[:, 0] + x[:, 1] > 0).astype(int)
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(path, index=False)


def test_real_world_ml_training_pipeline(run_example, workdir, capsys):
    write_training_csv(workdir / "data" / "train.csv")
    g = run_example(ML, "import pandas as pd\n")
    out = capsys.readouterr().out
    acc = g["result"].outputs["accuracy"]
    assert 0.5 < acc <= 1.0
    assert out == f"Model accuracy: {acc:.2%}\n"
    rec = g["result"].step_results
    assert rec["train"].outputs["model"].codec == "pickle"
    assert rec["split_data"].outputs["X_train"].codec.startswith("arrow")

    # same data, touched only: everything cached
    import os

    os.utime(workdir / "data" / "train.csv")
    g2 = run_example(ML, "import pandas as pd\n", name="again.py")
    assert all(r.cached for r in g2["result"].step_results.values())

    # the file's content changed: load_data and everything downstream re-run
    write_training_csv(workdir / "data" / "train.csv", seed=1)
    g3 = run_example(ML, "import pandas as pd\n", name="third.py")
    assert not any(r.cached for r in g3["result"].step_results.values())
