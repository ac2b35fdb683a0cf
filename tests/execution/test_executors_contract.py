"""One contract for every executor: the same pipelines give the same outputs, oids and records.

If you add an executor, add it to ``EXECUTORS``. The Dask executor runs on a real
``LocalCluster`` with worker processes, started once for this module.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from flowyml import (DaskExecutor, Pipeline, ProcessExecutor, SequentialExecutor, ThreadExecutor, context, dynamic,
                     map_task, step)
from flowyml.execution.executors import Executor, make_executor

EXECUTORS = ["sequential", "threads", "processes", "dask"]


@pytest.fixture(scope="module")
def cluster():
    """A real Dask LocalCluster with two worker processes, shared by this module's tests."""
    distributed = pytest.importorskip("distributed")
    local = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    client = distributed.Client(local)
    yield client
    client.close()
    local.close()


@pytest.fixture(scope="module")
def executors(cluster):
    made = {
        "sequential": SequentialExecutor(),
        "threads": ThreadExecutor(max_workers=4),
        "processes": ProcessExecutor(max_workers=2),
        "dask": DaskExecutor(client=cluster),
    }
    yield made
    for ex in made.values():
        ex.close()


@pytest.fixture(params=EXECUTORS)
def executor(request, executors):
    return executors[request.param]


# -- the pipelines (module level: importable; one family is built inside a function) ---------


@step(outputs=["numbers"])
def numbers() -> list[int]:
    return list(range(10))


@step(inputs=["numbers"], outputs=["squares"])
def squares(numbers: list[int]) -> list[int]:
    return [n * n for n in numbers]


@step(inputs=["squares"], outputs=["summary"])
def summarize(squares: list[int]) -> dict:
    return {"total": sum(squares), "count": len(squares), "label": "squares"}


def chain() -> Pipeline:
    return Pipeline.from_steps(numbers, squares, summarize, name="chain")


def fan_out_fan_in() -> Pipeline:
    """Four branches from one source into one join; steps defined here, so they travel by value."""
    @step(outputs=["source"])
    def source():
        return [3, 1, 4, 1, 5, 9, 2, 6]

    branches = []
    for k in range(4):
        @step(name=f"branch_{k}", inputs=["source"], outputs=[f"part_{k}"])
        def branch(source, k=k):
            return sorted(x * (k + 1) for x in source)
        branches.append(branch)

    @step(inputs=["part_0", "part_1", "part_2", "part_3"], outputs=["joined"])
    def join(part_0, part_1, part_2, part_3):
        return {"sum": sum(part_0) + sum(part_1) + sum(part_2) + sum(part_3), "max": max(part_3)}

    return Pipeline.from_steps(source, *branches, join, name="fan")


@step(inputs=["numbers"], outputs=["fine"])
def fine(numbers):
    return len(numbers)


@step(inputs=["numbers"], outputs=["broken"])
def explode(numbers):
    raise ValueError(f"boom with {len(numbers)} numbers")


@step(inputs=["fine", "broken"], outputs=["never"])
def never(fine, broken):
    return fine


def failing() -> Pipeline:
    return Pipeline.from_steps(numbers, fine, explode, never, name="failing")


@map_task(concurrency=4, retries=1, min_success_ratio=0.8)
def cube(n: int) -> int:
    if n % 7 == 3:
        raise ArithmeticError(f"no cube for {n}")
    return n ** 3


@step(outputs=["values"])
def values() -> list[int]:
    return list(range(20))


def mapping() -> Pipeline:
    return Pipeline.from_steps(values, step(inputs=["values"], outputs=["cubes"])(cube), name="mapping")


def fit(learning_rate: float) -> dict:
    return {"learning_rate": learning_rate, "score": round(1 - abs(learning_rate - 0.01) * 10, 6)}


@dynamic(outputs=["best_model"], select=lambda models: max(models.values(), key=lambda m: m["score"]))
def search(config: dict):
    sub = Pipeline("search")
    for lr in config["learning_rates"]:
        @step(outputs=[f"model_lr_{lr}"])
        def train(learning_rate=lr):
            return fit(learning_rate)
        sub.add_step(train)
    return sub


@step(inputs=["best_model"], outputs=["chosen"])
def chosen(best_model: dict) -> float:
    return best_model["learning_rate"]


def dynamic_search() -> Pipeline:
    ctx = context(config={"learning_rates": [0.001, 0.01, 0.1]})
    return Pipeline("dynamic", context=ctx).add_step(search).add_step(chosen)


@step(inputs=["input"], outputs=["cleaned"])
def clean(input: list) -> list:
    return [x for x in input if x is not None]


@step(inputs=["cleaned"], outputs=["output"])
def scale(cleaned: list, factor: int = 2) -> list:
    return [x * factor for x in cleaned]


@step(outputs=["raw"])
def raw() -> list:
    return [1, None, 2, None, 3]


@step(inputs=["prepared"], outputs=["total"])
def total(prepared: list) -> int:
    return sum(prepared)


def nested() -> Pipeline:
    child = Pipeline("prep").add_step(clean).add_step(scale)
    parent = Pipeline("nested", context=context(factor=10)).add_step(raw)
    parent.add_sub_pipeline(child, inputs=["raw"], outputs=["prepared"], input_mapping={"raw": "input"},
                            output_mapping={"output": "prepared"})
    return parent.add_step(total)


PIPELINES = {"chain": chain, "fan": fan_out_fan_in, "failing": failing, "mapping": mapping,
             "dynamic": dynamic_search, "nested": nested}


def run(make, executor, root: Path):
    pipeline = make()
    pipeline.cache_dir = root
    return pipeline.run(executor=executor)


def shape(result) -> dict:
    """What must not depend on the executor: each step's status and output oids."""
    return {name: (rec.status, {o: r.oid for o, r in rec.outputs.items()})
            for name, rec in result.manifest.steps.items()}


# -- the contract ----------------------------------------------------------------------------


def test_every_executor_meets_the_protocol(executor):
    assert isinstance(executor, Executor)
    assert executor.max_workers >= 1
    assert isinstance(executor.in_process, bool)


@pytest.mark.parametrize("name", sorted(PIPELINES))
def test_same_outputs_and_oids_on_every_executor(name, executor, workdir):
    make = PIPELINES[name]
    reference = run(make, SequentialExecutor(), workdir / "reference")
    first = run(make, executor, workdir / "store")
    assert shape(first) == shape(reference)
    assert list(first.manifest.steps) == list(reference.manifest.steps)
    for out in reference.outputs:
        if out in first.outputs:
            assert first.outputs[out] == reference.outputs[out]
    again = run(make, executor, workdir / "store")
    assert {n: s[1] for n, s in shape(again).items()} == {n: s[1] for n, s in shape(first).items()}


def test_chain_values(executor, workdir):
    result = run(chain, executor, workdir)
    assert result.success
    assert result["summary"] == {"total": 285, "count": 10, "label": "squares"}


def test_a_failing_step_fails_the_run_with_its_traceback(executor, workdir):
    result = run(failing, executor, workdir)
    assert not result.success
    assert result.failed_step == "explode"
    assert "ValueError: boom with 10 numbers" in result.error
    assert "in explode" in result.error and "Traceback" in result.error
    statuses = {n: r.status for n, r in result.step_results.items()}
    assert statuses == {"numbers": "success", "fine": "success", "explode": "failed", "never": "not_run"}
    rerun = run(failing, executor, workdir)  # what finished before the failure stays cached
    assert rerun.step_results["numbers"].status == "cached"


def test_map_task_keeps_failed_items_as_none(executor, workdir):
    result = run(mapping, executor, workdir)
    assert result.success
    cubes = result["cubes"]
    assert [i for i, c in enumerate(cubes) if c is None] == [3, 10, 17]
    assert cubes[2] == 8 and cubes[19] == 19 ** 3


def test_dynamic_and_sub_pipeline_records(executor, workdir):
    dyn = run(dynamic_search, executor, workdir / "dyn")
    assert dyn.success and dyn["chosen"] == 0.01
    assert [n for n in dyn.manifest.steps if n.startswith("search/")] == [
        "search/train[model_lr_0.001]", "search/train[model_lr_0.01]", "search/train[model_lr_0.1]"]
    sub = run(nested, executor, workdir / "sub")
    assert sub.success and sub["total"] == 60
    assert list(sub.manifest.steps) == ["raw", "prep", "prep/clean", "prep/scale", "total"]


# -- concurrency -------------------------------------------------------------------------------


def _rendezvous(folder: str, me: str, others: int, timeout: float = 30.0) -> int:
    """Announce ``me`` in ``folder`` and wait until ``others`` more have arrived (proves overlap)."""
    Path(folder, me).touch()
    deadline = time.monotonic() + timeout
    while len(os.listdir(folder)) < others + 1:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{me} waited alone: the steps did not run at the same time")
        time.sleep(0.01)
    return others


def meeting(folder: str, timeout: float) -> Pipeline:
    @step(outputs=["left"])
    def left(meeting_folder: str, meeting_timeout: float):
        return _rendezvous(meeting_folder, "left", 1, meeting_timeout)

    @step(outputs=["right"])
    def right(meeting_folder: str, meeting_timeout: float):
        return _rendezvous(meeting_folder, "right", 1, meeting_timeout)

    ctx = context(meeting_folder=folder, meeting_timeout=timeout)
    return Pipeline("meeting", context=ctx, enable_cache=False).add_step(left).add_step(right)


@pytest.mark.parametrize("name", ["threads", "processes", "dask"])
def test_independent_steps_run_at_the_same_time(name, executors, workdir):
    folder = workdir / "meeting"
    folder.mkdir()
    pipeline = meeting(str(folder), 30.0)
    pipeline.cache_dir = workdir / "store"
    result = pipeline.run(executor=executors[name])
    assert result.success, result.error
    assert result["left"] == result["right"] == 1


def test_sequential_steps_do_not_overlap(workdir):
    folder = workdir / "meeting"
    folder.mkdir()
    result = meeting(str(folder), 0.3).run()
    assert not result.success and "TimeoutError" in result.error


def test_threads_run_no_more_than_max_workers_at_once(workdir):
    lock = threading.Lock()
    state = {"now": 0, "peak": 0}

    def busy(i: int):
        @step(name=f"busy_{i}", outputs=[f"done_{i}"])
        def work():
            with lock:
                state["now"] += 1
                state["peak"] = max(state["peak"], state["now"])
            time.sleep(0.05)
            with lock:
                state["now"] -= 1
            return i
        return work

    pipeline = Pipeline.from_steps(*(busy(i) for i in range(8)), name="busy", enable_cache=False)
    with ThreadExecutor(max_workers=3) as ex:
        assert pipeline.run(executor=ex).success
    assert state["peak"] == 3


def test_executors_by_name(workdir):
    for name in ("sequential", "threads"):
        result = Pipeline.from_steps(numbers, squares, summarize, name=f"named_{name}", executor=name).run()
        assert result.success and result["summary"]["total"] == 285
    ex, owned = make_executor("processes")
    assert isinstance(ex, ProcessExecutor) and owned
    with pytest.raises(ValueError, match="unknown executor 'gpu'"):
        make_executor("gpu")


def test_dask_executor_by_address(cluster, workdir):
    with DaskExecutor(cluster.scheduler.address) as ex:
        assert ex.max_workers == 2
        result = chain().run(executor=ex)
    assert result.success and result["summary"]["total"] == 285
    assert cluster.status == "running"  # closing the executor left the fixture's client alone
