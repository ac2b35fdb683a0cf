"""@map_task: direct calls, pipeline steps, per-item caching, and parallel_map."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from flowyml import MapResult, MapTaskError, Pipeline, ProcessExecutor, context, map_task, parallel_map, step
from flowyml.execution.maptask import MapFailure


def executions(log: Path) -> list[str]:
    """One line per real execution of a map function."""
    return log.read_text().split() if log.exists() else []


# -- called directly -----------------------------------------------------------------------------


def test_direct_call_returns_results_in_order_with_failures():
    @map_task(concurrency=8, retries=0, min_success_ratio=0.5)
    def halve(n: int) -> float:
        if n % 4 == 0:
            raise ValueError(f"{n} is a multiple of four")
        return n / 2

    result = halve(list(range(1, 11)))
    assert isinstance(result, MapResult)
    assert (result.successes, result.total) == (8, 10)
    assert result.results == [0.5, 1.0, 1.5, None, 2.5, 3.0, 3.5, None, 4.5, 5.0]
    assert result.failed_indices == [3, 7]
    first = result.failures[0]
    assert isinstance(first, MapFailure) and first.item == 4 and first.attempts == 1
    assert "ValueError: 4 is a multiple of four" in first.error and "in halve" in first.error
    assert first.error_type == "builtins.ValueError" and isinstance(first.exception, ValueError)
    assert result.success_ratio == 0.8 and result.cached == 0


def test_retries_give_flaky_items_more_attempts():
    attempts: dict[int, int] = {}
    lock = threading.Lock()

    @map_task(concurrency=4, retries=2)
    def flaky(n: int) -> int:
        with lock:
            attempts[n] = attempts.get(n, 0) + 1
            tried = attempts[n]
        if n % 3 == 0 and tried < 3:  # succeeds on its third (last) attempt
            raise ConnectionError("try again")
        return n

    result = flaky(list(range(9)))
    assert result.results == list(range(9)) and not result.failures
    assert attempts == {n: 3 if n % 3 == 0 else 1 for n in range(9)}

    @map_task(retries=1, min_success_ratio=0.0)
    def hopeless(n: int) -> int:
        raise RuntimeError("never")

    assert [f.attempts for f in hopeless([1, 2]).failures] == [2, 2]


def test_below_the_success_ratio_raises_with_the_result():
    @map_task(concurrency=2, retries=0, min_success_ratio=0.95)
    def picky(n: int) -> int:
        if n < 6:
            raise KeyError(n)
        return n

    with pytest.raises(MapTaskError, match=r"94/100 items succeeded \(94.0%\), below min_success_ratio=0.95") as info:
        picky(list(range(100)))
    assert info.value.result.successes == 94
    assert "item 0: KeyError: 0" in str(info.value)
    assert picky(list(range(6, 106))).successes == 100


def test_the_ratio_is_inclusive_and_an_empty_list_succeeds():
    @map_task(min_success_ratio=0.95, retries=0)
    def five_bad(n: int) -> int:
        if n in (10, 20, 30, 40, 50):
            raise ValueError(n)
        return n

    assert five_bad(list(range(100))).successes == 95
    assert five_bad([]) == MapResult(0, 0, [], [])


def test_no_more_than_concurrency_items_at_once():
    lock = threading.Lock()
    state = {"now": 0, "peak": 0}

    @map_task(concurrency=3)
    def slow(n: int) -> int:
        with lock:
            state["now"] += 1
            state["peak"] = max(state["peak"], state["now"])
        time.sleep(0.02)
        with lock:
            state["now"] -= 1
        return n

    assert slow(list(range(12))).results == list(range(12))
    assert state["peak"] == 3


def test_other_arguments_go_to_every_call():
    @map_task
    def scale(n: int, factor: int = 1) -> int:
        return n * factor

    assert scale([1, 2, 3]).results == [1, 2, 3]
    assert scale([1, 2, 3], factor=10).results == [10, 20, 30]
    with pytest.raises(TypeError, match="maps over a list"):
        scale("abc")


def test_map_task_goes_below_step():
    @step
    def a_step(x):
        return x

    with pytest.raises(TypeError, match="below @step"):
        map_task(a_step)


# -- as a pipeline step: per-item caching -----------------------------------------------------------


def document_pipeline(log: Path, down: Path, n: int = 100, name: str = "documents") -> Pipeline:
    """A map over n documents; a document whose id has a file in ``down`` fails (a service outage)."""

    @step(outputs=["documents"])
    def documents(count: int) -> list[dict]:
        return [{"id": i, "text": f"document {i}"} for i in range(count)]

    @step(inputs=["documents"], outputs=["processed"])
    @map_task(concurrency=8, retries=2, min_success_ratio=0.95)
    def process_document(doc: dict) -> dict:
        with open(log, "a") as f:
            f.write(f"{doc['id']}\n")
        if (down / str(doc["id"])).exists():
            raise ConnectionError(f"service down for document {doc['id']}")
        return {"id": doc["id"], "words": len(doc["text"].split())}

    @step(inputs=["processed"], outputs=["count"])
    def count_ok(processed: list) -> int:
        return sum(p is not None for p in processed)

    return Pipeline.from_steps(documents, process_document, count_ok, name=name, context=context(count=n))


def test_rerun_executes_exactly_the_items_that_failed(workdir):
    """Acceptance: 100 items, 5 fail; fix the cause and rerun: exactly those 5 execute."""
    log, down = workdir / "executions.log", workdir / "down"
    down.mkdir()
    broken = [7, 23, 42, 64, 99]
    for i in broken:
        (down / str(i)).touch()
    pipeline = document_pipeline(log, down)

    first = pipeline.run()
    assert first.success and first["count"] == 95
    assert [i for i, p in enumerate(first["processed"]) if p is None] == broken
    ran = executions(log)
    assert len(ran) == 95 + 5 * 3  # each broken item: first attempt + 2 retries

    for i in broken:  # the outage is over
        (down / str(i)).unlink()
    log.unlink()
    second = pipeline.run()
    assert second.success and second["count"] == 100
    assert sorted(int(x) for x in executions(log)) == broken
    assert second.step_results["process_document"].status == "success"

    log.unlink()
    third = pipeline.run()
    assert executions(log) == [] and third.step_results["process_document"].status == "cached"
    assert third.outputs.record("processed").oid == second.outputs.record("processed").oid


def test_a_changed_item_is_the_only_one_executed(workdir):
    log, down = workdir / "executions.log", workdir / "down"
    down.mkdir()
    pipeline = document_pipeline(log, down, n=10)
    assert pipeline.run().success and len(executions(log)) == 10
    log.unlink()
    bigger = pipeline.run(context={"count": 12})  # two new documents
    assert sorted(int(x) for x in executions(log)) == [10, 11]
    assert bigger["count"] == 12


def test_per_item_cache_is_shared_with_worker_processes(workdir):
    log, down = workdir / "executions.log", workdir / "down"
    down.mkdir()
    pipeline = document_pipeline(log, down, n=10)
    assert pipeline.run().success
    log.unlink()
    with ProcessExecutor(max_workers=1) as ex:
        result = pipeline.run(context={"count": 11}, executor=ex)
    assert result.success and executions(log) == ["10"]


def test_a_forced_rerun_or_disabled_cache_executes_every_item(workdir):
    log, down = workdir / "executions.log", workdir / "down"
    down.mkdir()
    pipeline = document_pipeline(log, down, n=6)
    first = pipeline.run()
    log.unlink()
    pipeline.rerun(first.run_id, from_step="process_document")
    assert len(executions(log)) == 6
    log.unlink()
    pipeline.run(enable_cache=False)
    assert len(executions(log)) == 6


def test_below_the_ratio_the_step_fails_and_successes_stay_cached(workdir):
    log, down = workdir / "executions.log", workdir / "down"
    down.mkdir()
    for i in range(10):
        (down / str(i)).touch()
    pipeline = document_pipeline(log, down, n=20)
    result = pipeline.run()
    assert not result.success and result.failed_step == "process_document"
    assert "MapTaskError" in result.error and "10/20 items succeeded" in result.error
    for i in range(10):
        (down / str(i)).unlink()
    log.unlink()
    assert pipeline.run().success
    assert sorted(int(x) for x in executions(log)) == list(range(10))


def test_items_reading_a_file_rerun_when_it_changes(workdir):
    table = workdir / "rates.txt"
    table.write_text("2")
    log = workdir / "executions.log"

    @step(outputs=["amounts"])
    def amounts() -> list[int]:
        return [1, 2, 3]

    @step(inputs=["amounts"], outputs=["converted"])
    @map_task(concurrency=2)
    def convert(amount: int) -> int:
        with open(log, "a") as f:
            f.write(f"{amount}\n")
        with open(table) as f:
            return amount * int(f.read())

    pipeline = Pipeline.from_steps(amounts, convert, name="rates")
    assert pipeline.run()["converted"] == [2, 4, 6]
    assert str(table) in pipeline.run().manifest.steps["convert"].files  # the step's record knows it
    log.unlink()
    table.write_text("3")
    assert pipeline.run()["converted"] == [3, 6, 9]
    assert sorted(executions(log)) == ["1", "2", "3"]


def test_map_task_added_directly_and_with_a_context_argument(workdir):
    log = workdir / "executions.log"

    @step(outputs=["words"])
    def words() -> list[str]:
        return ["a", "bb", "ccc"]

    @map_task(concurrency=2, inputs=["words"], outputs=["padded"])
    def pad(word: str, width: int) -> str:
        with open(log, "a") as f:
            f.write(word + "\n")
        return word.rjust(width, ".")

    pipeline = Pipeline("pad", context=context(width=4)).add_step(words).add_step(pad)
    assert pipeline.steps[1].name == "pad" and pipeline.steps[1].outputs == ["padded"]
    assert pipeline.run()["padded"] == ["...a", "..bb", ".ccc"]
    log.unlink()
    assert pipeline.run(context={"width": 5})["padded"] == ["....a", "...bb", "..ccc"]
    assert len(executions(log)) == 3  # the width is part of every item's key


def test_types_seen_by_the_pipeline_are_lists(workdir):
    @step(outputs=["docs"])
    def docs() -> list[dict]:
        return [{"n": 1}]

    @step(inputs=["docs"], outputs=["sizes"])
    @map_task
    def size(doc: dict) -> int:
        return len(doc)

    @step(inputs=["sizes"], outputs=["biggest"])
    def biggest(sizes: list[int]) -> int:
        return max(sizes)

    pipeline = Pipeline.from_steps(docs, size, biggest, name="typed")
    assert pipeline.build().warnings == []
    assert pipeline.run()["biggest"] == 1


def test_called_inside_a_step_it_returns_a_map_result(workdir):
    @map_task(concurrency=2)
    def double(n: int) -> int:
        return 2 * n

    @step(outputs=["report"])
    def report() -> dict:
        result = double([1, 2, 3])
        return {"results": result.results, "successes": result.successes}

    assert Pipeline.from_steps(report, name="inside").run()["report"] == {"results": [2, 4, 6], "successes": 3}


# -- parallel_map ----------------------------------------------------------------------------------


def test_parallel_map_keeps_input_order():
    def slow_square(n: int) -> int:
        time.sleep(0.01 * (5 - n % 5))
        return n * n

    assert parallel_map(slow_square, range(20), num_workers=4) == [n * n for n in range(20)]
    assert parallel_map(slow_square, [3], num_workers=4) == [9]
    assert parallel_map(slow_square, [], num_workers=4) == []
    assert parallel_map(slow_square, [1, 2], num_workers=1) == [1, 4]


def test_parallel_map_raises_the_first_failing_item_with_its_index():
    def check(n: int) -> int:
        if n in (5, 8):
            raise ValueError(f"bad {n}")
        return n

    for workers in (1, 4):
        with pytest.raises(ValueError, match="bad 5") as info:
            parallel_map(check, range(10), num_workers=workers)
        assert info.value.flowyml_index == 5
        assert "index 5" in "".join(getattr(info.value, "__notes__", []))
    out = parallel_map(check, range(10), num_workers=3, return_exceptions=True)
    assert [type(x).__name__ for x in out].count("ValueError") == 2 and out[9] == 9 and str(out[8]) == "bad 8"


def test_equal_items_run_once_inside_a_run(workdir):
    log = workdir / "executions.log"

    @step(outputs=["letters"])
    def letters() -> list[str]:
        return ["a", "b", "a", "c", "a", "b"]

    @step(inputs=["letters"], outputs=["upper"])
    @map_task(concurrency=4)
    def upper(letter: str) -> str:
        with open(log, "a") as f:
            f.write(letter + "\n")
        return letter.upper()

    result = Pipeline.from_steps(letters, upper, name="letters").run()
    assert result["upper"] == ["A", "B", "A", "C", "A", "B"]
    assert sorted(executions(log)) == ["a", "b", "c"]
