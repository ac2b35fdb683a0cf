"""The guide's parallel, map-task, dynamic, sub-pipeline and stack examples, verbatim.

Each example is the guide's text; a prelude defines what the fragment assumes
(helpers, steps, a stack) and the test runs or inspects what it built.
"""

from __future__ import annotations

import textwrap

import pytest

PARALLEL = '''
from flowyml import parallel_map

@step
def process_batch(items):
    return parallel_map(expensive_function, items, num_workers=4)
'''


def test_parallel_map_inside_a_step(run_example):
    prelude = '''
from flowyml import Pipeline, context, step
import threading, time
seen_threads = set()
def expensive_function(item):
    seen_threads.add(threading.get_ident())
    time.sleep(0.02)
    return item * 10
'''
    g = run_example(PARALLEL, prelude)
    result = g["Pipeline"]("batches", context=g["context"](items=list(range(12)))).add_step(g["process_batch"]).run()
    assert result.success
    assert result["process_batch"] == [i * 10 for i in range(12)]
    assert len(g["seen_threads"]) > 1


MAP_TASKS = '''
from flowyml import map_task

@map_task(concurrency=8, retries=2, min_success_ratio=0.95)
def process_document(doc: dict) -> dict:
    return transform(doc)

result = process_document(documents)
print(f"Processed {result.successes}/{result.total}")
'''


def test_map_task_example(run_example, capsys):
    prelude = '''
documents = [{"id": i, "body": "text " * i} for i in range(100)]
attempts = {}
def transform(doc):
    attempts[doc["id"]] = attempts.get(doc["id"], 0) + 1
    if doc["id"] % 25 == 0 and attempts[doc["id"]] == 1:
        raise ConnectionError("flaky service")  # the retry succeeds
    if doc["id"] in (13, 77):
        raise ValueError("unreadable document")  # fails all 3 attempts
    return {"id": doc["id"], "words": len(doc["body"].split())}
'''
    g = run_example(MAP_TASKS, prelude)
    assert "Processed 98/100" in capsys.readouterr().out
    result = g["result"]
    assert result.results[13] is None and result.results[14] == {"id": 14, "words": 14}
    assert [f.index for f in result.failures] == [13, 77] and result.failures[0].attempts == 3
    assert g["attempts"][25] == 2


def test_map_task_example_as_a_pipeline_step(run_example, workdir):
    prelude = '''
documents = [{"id": i} for i in range(10)]
def transform(doc):
    with open("executed.log", "a") as f:
        f.write(f"{doc['id']}\\n")
    return {"id": doc["id"], "even": doc["id"] % 2 == 0}
'''
    g = run_example(MAP_TASKS, prelude)
    from flowyml import Pipeline, step

    @step(outputs=["documents"])
    def load() -> list:
        return [{"id": i} for i in range(12)]

    pipeline = Pipeline("docs").add_step(load)
    pipeline.add_step(step(inputs=["documents"], outputs=["processed"])(g["process_document"]))
    (workdir / "executed.log").unlink()
    result = pipeline.run()
    assert result["processed"][11] == {"id": 11, "even": False}
    assert len((workdir / "executed.log").read_text().split()) == 12
    (workdir / "executed.log").unlink()
    assert pipeline.run().success and not (workdir / "executed.log").exists()


DYNAMIC = '''
from flowyml import dynamic, Pipeline, step

@dynamic(outputs=["best_model"])
def hyperparameter_search(config: dict):
    sub = Pipeline("hp_search")
    for lr in config["learning_rates"]:
        @step(outputs=[f"model_lr_{lr}"])
        def train(learning_rate=lr):
            return train_model(learning_rate)
        sub.add_step(train)
    return sub
'''

DYNAMIC_PRELUDE = '''
from flowyml import Model

def train_model(learning_rate):
    with open("trainings.log", "a") as f:
        f.write(f"{learning_rate}\\n")
    accuracy = round(0.9 - abs(learning_rate - 0.01) * 2, 4)
    return Model({"learning_rate": learning_rate}, name="classifier", metadata={"accuracy": accuracy})

def pick_best(models):
    """best_model: the generated model with the highest accuracy."""
    return max(models.values(), key=lambda m: m.metadata["accuracy"])
'''


def test_dynamic_hyperparameter_search(run_example, workdir):
    g = run_example(DYNAMIC, DYNAMIC_PRELUDE)
    from flowyml import Pipeline, context, step

    search = g["hyperparameter_search"]
    search.select = g["pick_best"]  # how "best_model" is chosen among the generated outputs

    @step(inputs=["best_model"], outputs=["deployed"])
    def deploy(best_model) -> float:
        return best_model["learning_rate"]

    pipeline = Pipeline("tuning", context=context(config={"learning_rates": [0.001, 0.01, 0.1]}))
    pipeline.add_step(search).add_step(deploy)
    first = pipeline.run()
    assert first.success, first.error
    assert first["deployed"] == 0.01
    assert first["best_model"].metadata["accuracy"] == 0.9
    assert [n for n in first.manifest.steps if n.startswith("hyperparameter_search/")] == [
        "hyperparameter_search/train[model_lr_0.001]", "hyperparameter_search/train[model_lr_0.01]",
        "hyperparameter_search/train[model_lr_0.1]"]
    log = workdir / "trainings.log"
    assert log.read_text().split() == ["0.001", "0.01", "0.1"]
    log.unlink()
    second = pipeline.run()
    assert not log.exists()  # every generated step came from the cache
    assert second.manifest.steps["hyperparameter_search/train[model_lr_0.1]"].status == "cached"


SUB_PIPELINES = '''
# Create reusable sub-pipeline
preprocess = Pipeline("preprocessing")
preprocess.add_step(clean_data).add_step(normalize)

# Use as a step in parent pipeline
parent = Pipeline("training")
parent.add_sub_pipeline(
    preprocess,
    inputs=["raw_data"],
    outputs=["clean_data"],
    input_mapping={"raw_data": "input"}, # Maps parent→child names
    output_mapping={"output": "clean_data"}, # Maps child→parent names
)
parent.add_step(train_model)
'''

SUB_PRELUDE = '''
from flowyml import Pipeline, step

@step(inputs=["input"], outputs=["cleaned"])
def clean_data(input):
    return [row for row in input if row is not None]

@step(inputs=["cleaned"], outputs=["output"])
def normalize(cleaned):
    top = max(cleaned)
    return [row / top for row in cleaned]

@step(inputs=["clean_data"], outputs=["model"])
def train_model(clean_data):
    return {"weights": clean_data, "n": len(clean_data)}

@step(outputs=["raw_data"])
def load_raw():
    return [2, None, 4, 1, None]
'''


def test_sub_pipeline_composition(run_example):
    g = run_example(SUB_PIPELINES, SUB_PRELUDE)
    parent = g["parent"].add_step(g["load_raw"])
    result = parent.run()
    assert result.success, result.error
    assert result["model"] == {"weights": [0.5, 1.0, 0.25], "n": 3}
    assert list(result.manifest.steps) == ["load_raw", "preprocessing", "preprocessing/clean_data",
                                           "preprocessing/normalize", "train_model"]
    assert {r.status for r in parent.run().manifest.steps.values()} == {"cached"}


# The configuration table's row: ``executor | Executor | Custom executor | LocalExecutor()``.
CONFIG_EXECUTOR = '''
pipeline = Pipeline(
    name="training_pipeline",
    executor=LocalExecutor(),
)
'''


def test_executor_option_takes_an_executor(run_example):
    from flowyml import ThreadExecutor, step

    g = run_example(CONFIG_EXECUTOR, "from flowyml import Pipeline, LocalExecutor, step\n")
    pipeline = g["pipeline"]

    @step(outputs=["x"])
    def x():
        return 1

    assert pipeline.add_step(x).run().success
    with ThreadExecutor(2) as ex:
        assert pipeline.run(executor=ex)["x"] == 1


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


@pytest.fixture(scope="module")
def scheduler():
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    yield cluster.scheduler_address
    cluster.close()


def test_environment_agnostic_design_with_named_stacks(run_example, workdir, scheduler):
    (workdir / "flowyml.yaml").write_text(textwrap.dedent(f"""
        stacks:
          default: dev
          dev:
            artifact_path: .flowyml/dev
          prod:
            type: dask
            address: {scheduler}
            artifact_path: .flowyml/prod
        """))
    prelude = '''
from flowyml import Pipeline as _Pipeline, context, step

@step(outputs=["batch"])
def read_batch(data_path: str, batch_size: int) -> dict:
    return {"path": data_path, "size": batch_size}

def Pipeline(*args, **kwargs):  # the guide elides the steps; the same ones in both environments
    return _Pipeline(*args, **kwargs).add_step(read_batch)

prod_stack = "prod"  # a named stack from flowyml.yaml
'''
    try:
        g = run_example(ENV, prelude)
        from flowyml import runs

        recorded = runs(pipeline="ml_training")
        assert len(recorded) == 2
        by_size = {r.load("batch")["size"]: r for r in recorded}
        assert by_size[32].manifest.environment["store"] == str(workdir / ".flowyml" / "dev")
        assert by_size[512].manifest.environment["store"] == str(workdir / ".flowyml" / "prod")
        assert by_size[512].load("batch") == {"path": "gs://bucket/data.csv", "size": 512}
        assert g["pipeline"].resolve_stack().name == "prod"
    finally:
        from flowyml.stacks import named_stack

        named_stack("prod").close()
