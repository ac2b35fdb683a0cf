"""The engine's shortcuts give exactly what the long way gives.

Memoised fingerprints equal full encodings and still change with every input they
read; step arguments read off the code object equal ``inspect.signature``; an
all-cached run leaves the task machinery unimported; an inline executor's futures
are already finished; the ready queue orders steps as graphlib would; the cache
index a process's runs share still sees every other writer; remembered cache keys
equal computed ones.
"""

from __future__ import annotations

import functools
import inspect
import subprocess
import sys
import textwrap
import threading
import types
from pathlib import Path

import pytest

from flowyml import Pipeline, ProcessExecutor, step
from flowyml.errors import PipelineDefinitionError
from flowyml.execution.executors import Resolved
from flowyml.execution.fingerprint import code_fingerprint, fingerprint_details
from flowyml.step import arguments_of


def compiled(source: str, namespace: dict | None = None, name: str = "f") -> types.FunctionType:
    """Define a function with exec, as a notebook would."""
    namespace = {"__name__": "notebook", **(namespace or {})}
    exec(compile(textwrap.dedent(source), "<exec>", "exec"), namespace)
    return namespace[name]


def full(fn: types.FunctionType) -> str:
    """The digest by a full encoding (never memoised)."""
    return fingerprint_details(fn).digest


# --- memoised fingerprints ------------------------------------------------------------------


def test_a_memoised_fingerprint_equals_the_full_encoding():
    made = []
    for _ in range(3):
        def inc(x, by=1, *, label="inc"):
            import json  # a library module imported in the body: named only

            return json.dumps(x + by) + label

        made.append(inc)
    first = code_fingerprint(made[0])
    assert [code_fingerprint(f) for f in made] == [first] * 3  # the second and third from the memo
    assert first == full(made[2])


def test_rebinding_a_global_changes_a_memoised_fingerprint():
    namespace = {"LIMIT": 10}
    f = compiled("def f(x):\n    return min(x, LIMIT)\n", namespace)
    before = code_fingerprint(f)
    assert code_fingerprint(f) == before
    f.__globals__["LIMIT"] = 11
    assert code_fingerprint(f) != before
    assert code_fingerprint(f) == full(f)
    f.__globals__["LIMIT"] = 10
    assert code_fingerprint(f) == before


def test_mutating_a_global_list_in_place_changes_the_fingerprint():
    limits = [1, 2]
    f = compiled("def f(x):\n    return [x * k for k in LIMITS]\n", {"LIMITS": limits})
    before = code_fingerprint(f)
    limits.append(3)
    assert code_fingerprint(f) != before
    assert code_fingerprint(f) == full(f)


def test_mutating_a_default_in_place_changes_the_fingerprint():
    f = compiled("def f(x, options=([1],), *, shift=0):\n    return x + shift + len(options[0])\n")
    before = code_fingerprint(f)
    f.__defaults__[0][0].append(2)  # a list inside a tuple default
    after_list = code_fingerprint(f)
    assert after_list != before and after_list == full(f)
    f.__kwdefaults__["shift"] = 5  # keyword-only defaults are a dict, changeable in place
    assert code_fingerprint(f) not in (before, after_list)
    assert code_fingerprint(f) == full(f)


def test_rebinding_a_closure_value_changes_the_fingerprint():
    def make():
        threshold = 1

        def keep(rows):
            return [r for r in rows if r > threshold]

        def set_threshold(value):
            nonlocal threshold
            threshold = value

        return keep, set_threshold

    keep, set_threshold = make()
    before = code_fingerprint(keep)
    set_threshold(2)
    assert code_fingerprint(keep) != before
    assert code_fingerprint(keep) == full(keep)
    set_threshold(1)
    assert code_fingerprint(keep) == before


def test_a_library_version_change_changes_a_memoised_fingerprint(monkeypatch):
    lib = types.ModuleType("fakelib_for_memo")
    lib.__file__ = "/opt/python/lib/site-packages/fakelib_for_memo/__init__.py"
    lib.__version__ = "1.0"
    monkeypatch.setitem(sys.modules, "fakelib_for_memo", lib)
    f = compiled("def f(x):\n    return fakelib_for_memo.go(x)\n", {"fakelib_for_memo": lib})
    before = code_fingerprint(f)
    assert code_fingerprint(f) == before
    lib.__version__ = "2.0"
    assert code_fingerprint(f) != before
    assert code_fingerprint(f) == full(f)


def test_a_helper_function_is_followed_on_every_call():
    f = compiled("def helper(x):\n    return x + 1\n\ndef f(x):\n    return helper(x)\n")
    before = code_fingerprint(f)
    assert code_fingerprint(f) == before
    exec("def helper(x):\n    return x + 2\n", f.__globals__)  # same name, new code
    assert code_fingerprint(f) != before
    assert code_fingerprint(f) == full(f)


# --- step arguments without inspect.signature -------------------------------------------------


class _Callable:
    def __call__(self, a, b=2):
        return a + b


def _wrapped(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return fn(*args, **kwargs)

    return wrapper


def _with_signature():
    def combine(**kwargs):
        return kwargs

    combine.__signature__ = inspect.Signature(
        [inspect.Parameter("left", inspect.Parameter.KEYWORD_ONLY),
         inspect.Parameter("right", inspect.Parameter.KEYWORD_ONLY, default=0)])
    return combine


def _closure():
    scale = 3

    def scaled(x, offset=1):
        total = x * scale
        return total + offset

    return scaled


CALLABLES = {
    "no parameters": lambda: 0,
    "defaults and keyword-only": compiled("def f(x, y=1, *, z, w=2):\n    local = x\n    return local\n"),
    "positional-only": compiled("def f(x, /, y, z=3):\n    return x\n"),
    "variadic": compiled("def f(a, *rest, key=None, **extra):\n    return a\n"),
    "closure with locals": _closure(),
    "wrapped": _wrapped(compiled("def f(p, q=1):\n    return p\n")),
    "__signature__": _with_signature(),
    "partial": functools.partial(compiled("def f(a, b, c=1):\n    return a\n"), 1),
    "callable object": _Callable(),
}


@pytest.mark.parametrize("label", list(CALLABLES))
def test_step_arguments_agree_with_inspect(label):
    fn = CALLABLES[label]
    expected = {name: (p.kind, p.default is not p.empty) for name, p in inspect.signature(fn).parameters.items()}
    assert arguments_of(fn) == expected


def test_step_parameters_leave_out_variadics():
    s = step(CALLABLES["variadic"], name="v", outputs=["out"])
    assert s.parameters == ["a", "key"]
    assert list(s.signature.parameters) == ["a", "rest", "key", "extra"]


# --- what an all-cached run imports -----------------------------------------------------------


SCRIPT = """
import sys
from flowyml import Pipeline, step

@step(outputs=["a"])
def one():
    return 1

@step(inputs=["a"], outputs=["b"])
def two(a):
    return a + 1

result = Pipeline("light").add_step(one).add_step(two).run()
watched = ("concurrent.futures", "flowyml.execution.task", "flowyml.dag.typecheck")
print(sorted(m for m in watched if m in sys.modules), sorted(r.status for r in result.manifest.steps.values()))
"""


def test_an_all_cached_run_imports_no_task_machinery(workdir: Path):
    (workdir / "light.py").write_text(SCRIPT)

    def run() -> str:
        done = subprocess.run([sys.executable, "light.py"], cwd=workdir, capture_output=True, text=True, check=True)
        return done.stdout.strip()

    assert run().endswith("['success', 'success']")
    assert run() == "[] ['cached', 'cached']"


# --- executors ----------------------------------------------------------------------------------


def test_a_resolved_future_is_finished_at_once():
    fut = Resolved("outcome")
    seen = []
    fut.add_done_callback(seen.append)
    assert fut.done() and not fut.cancelled()
    assert fut.result() == "outcome" and fut.exception() is None and seen == [fut]


def test_a_step_that_cannot_travel_fails_without_starting_workers(workdir: Path):
    lock = threading.Lock()

    @step(outputs=["x"])
    def holds_a_lock():
        with lock:
            return 1

    executor = ProcessExecutor(max_workers=1)
    try:
        result = Pipeline("locked").add_step(holds_a_lock).run(executor=executor)
        assert executor._pool is None
    finally:
        executor.close()
    assert not result.success
    assert "cannot be sent to a worker process" in result.manifest.steps["holds_a_lock"].error


# --- file reads -----------------------------------------------------------------------------------


def test_the_first_open_a_recorder_sees_already_skips_library_files(tmp_path: Path):
    """What is never recorded is worked out at the first open, in a fresh process."""
    (tmp_path / "data.csv").write_text("a,b\n")
    script = textwrap.dedent("""
        import linecache, os, sys
        from flowyml.execution.filedeps import FileReads

        with FileReads() as reads:
            with open(os.__file__) as f:  # a library file first
                f.read(10)
            linecache.getline(linecache.__file__, 1)
            with open("data.csv") as f:
                f.read()
        print(sorted(os.path.basename(p) for p in reads.paths))
        """)
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "['data.csv']"


# --- ordering without a TopologicalSorter per run ---------------------------------------------------


def _graphlib_order(names: list[str], upstream: dict[str, list[str]]) -> list[str]:
    """The reference: graphlib's readiness, the earliest registered ready step first."""
    import graphlib
    import heapq

    rank = {n: i for i, n in enumerate(names)}
    sorter = graphlib.TopologicalSorter({n: upstream[n] for n in names})
    sorter.prepare()
    heap: list[tuple[int, str]] = []
    order = []
    while sorter.is_active():
        for n in sorter.get_ready():
            heapq.heappush(heap, (rank[n], n))
        _, n = heapq.heappop(heap)
        order.append(n)
        sorter.done(n)
    return order


@pytest.mark.parametrize("seed", range(20))
def test_the_ready_queue_orders_steps_as_graphlib_does(seed):
    import random

    from flowyml.dag.graph import ReadyQueue, _downstream

    rng = random.Random(seed)
    names = [f"s{i}" for i in range(30)]
    rng.shuffle(names)  # registration order is not the dependency order
    position = {n: int(n[1:]) for n in names}  # an edge only from a lower to a higher number: acyclic
    upstream = {n: [u for u in names if position[u] < position[n] and rng.random() < 0.15] for n in names}
    ready = ReadyQueue(names, upstream, _downstream(upstream))
    order = []
    while ready:
        order.append(ready.pop())
        ready.done(order[-1])
    assert order == _graphlib_order(names, upstream)


def test_a_step_consuming_its_own_output_is_a_cycle(workdir):
    @step(outputs=["a"])
    def make():
        return 1

    @step(inputs=["b"], outputs=["b"])
    def loop(b):
        return b

    with pytest.raises(PipelineDefinitionError, match="cycle: loop -> loop") as info:
        Pipeline("selfloop").add_step(make).add_step(loop).build()
    assert info.value.steps == ("loop",)


def test_a_threaded_run_starts_each_step_after_its_inputs(workdir):
    finished: list[str] = []

    def make(name, inputs):
        def body(**values):
            finished.append(name)
            return name
        body.__signature__ = inspect.Signature(
            [inspect.Parameter(i, inspect.Parameter.KEYWORD_ONLY) for i in inputs])
        return step(body, name=name, inputs=inputs, outputs=[f"{name}_out"])

    upstream = {"a": [], "b": ["a"], "c": ["a"], "d": ["b", "c"], "e": []}
    pipeline = Pipeline("diamond")
    for name, ups in upstream.items():
        pipeline.add_step(make(name, [f"{u}_out" for u in ups]))
    result = pipeline.run(executor="threads")
    assert result.success and sorted(finished) == sorted(upstream)
    for name, ups in upstream.items():
        assert all(finished.index(u) < finished.index(name) for u in ups)


# --- the cache index shared by a process's runs ------------------------------------------------------


def _entry(oid: str) -> dict:
    return {"outputs": [{"name": "x", "oid": oid, "codec": "msgpack", "size": 1, "asset": None}],
            "files": {}, "run_id": "r", "step": "s"}


def test_the_shared_index_takes_in_what_other_writers_did(tmp_path: Path):
    import shutil

    from flowyml.store import cache

    index = cache.shared_index(tmp_path)
    assert index.get("k1") is None  # read once
    other = cache.CacheIndex(tmp_path)  # another writer (another process, as far as the index can tell)
    other.put("k1", _entry("1" * 64))
    other.put("k2", _entry("2" * 64))
    assert index.get("k1") is None  # a snapshot, until the next run refreshes it
    assert cache.shared_index(tmp_path) is index
    assert index.get("k1") == _entry("1" * 64) and index.get("k2") == _entry("2" * 64)
    other.delete("k1")
    index.put("k3", _entry("3" * 64))  # its own write: applied at once
    cache.shared_index(tmp_path)
    assert index.get("k1") is None and index.get("k3") == _entry("3" * 64)
    other.close()
    index.close()

    for i in range(cache.COMPACT_AFTER_LOGS + 1):  # enough logs for a reader to fold them into the pack
        writer = cache.CacheIndex(tmp_path)
        writer.put(f"many{i}", _entry("4" * 64))
        writer.close()
    cache.CacheIndex(tmp_path).get("k2")  # another reader compacts
    assert (tmp_path / "cache" / "pack.msgpack").exists()
    cache.shared_index(tmp_path)
    assert index.get("k2") == _entry("2" * 64) and index.get(f"many{cache.COMPACT_AFTER_LOGS}") is not None

    shutil.rmtree(tmp_path / "cache")  # the index is derived data: deleting it forgets everything
    cache.shared_index(tmp_path)
    assert index.get("k2") is None and index.get("k3") is None


def test_a_truncated_log_is_read_again(tmp_path: Path):
    from flowyml.store import cache

    index = cache.shared_index(tmp_path)
    writer = cache.CacheIndex(tmp_path)
    writer.put("a", _entry("1" * 64))
    writer.put("b", _entry("2" * 64))
    writer.close()
    cache.shared_index(tmp_path)
    assert index.get("b") is not None
    (log,) = (tmp_path / "cache" / "logs").iterdir()
    data = log.read_bytes()
    log.write_bytes(data[: len(data) // 2 + 1])  # "b" is torn off
    cache.shared_index(tmp_path)
    assert index.get("a") == _entry("1" * 64) and index.get("b") is None


def test_reading_a_log_resumes_after_its_last_complete_record(tmp_path: Path):
    from flowyml.store.recordlog import append_record, pack_record, read_records_from

    log = tmp_path / "log"
    assert read_records_from(log, 0) == ([], 0)
    append_record(log, ["a", 1])
    records, end = read_records_from(log, 0)
    assert records == [["a", 1]] and end == log.stat().st_size
    torn = pack_record(["b", "x" * 100])
    with open(log, "ab") as f:
        f.write(torn[:50])  # a writer half-way through a record
    assert read_records_from(log, end) == ([], end)
    with open(log, "ab") as f:
        f.write(torn[50:])
    assert read_records_from(log, end) == ([["b", "x" * 100]], log.stat().st_size)


RUN_WITH = """
import sys
from flowyml import Pipeline, step

@step(outputs=["a"])
def one(n):
    return n

@step(inputs=["a"], outputs=["b"])
def two(a):
    return a + 1

pipeline = Pipeline("shared", context={"n": 0})
pipeline.add_step(one).add_step(two)
if __name__ == "__main__":
    result = pipeline.run(context={"n": int(sys.argv[1])})
    print(sorted(r.status for r in result.manifest.steps.values()))
"""


def test_a_run_reuses_what_another_process_cached_since_this_ones_last_run(workdir: Path):
    (workdir / "shared.py").write_text(RUN_WITH)
    sys.path.insert(0, str(workdir))
    try:
        import shared  # the same code in this process as in the other one
    finally:
        sys.path.remove(str(workdir))
    try:
        assert all(r.status == "success" for r in shared.pipeline.run(context={"n": 1}).step_results.values())
        done = subprocess.run([sys.executable, "shared.py", "2"], cwd=workdir, capture_output=True, text=True,
                              check=True)
        assert done.stdout.strip() == "['success', 'success']"
        again = shared.pipeline.run(context={"n": 2})
        assert [r.status for r in again.step_results.values()] == ["cached", "cached"]
    finally:
        sys.modules.pop("shared", None)


# --- keys and records ---------------------------------------------------------------------------------


def test_a_remembered_cache_key_is_the_key_computed_afresh():
    import msgpack

    from flowyml.execution import keys
    from flowyml.store.canonical import digest, pack

    code, oid = "c" * 64, "0" * 64
    expected = digest(msgpack.packb([keys.KEY_FORMAT, code, [("a", oid), ("b", oid)], ["y"], None]))
    for _ in range(2):  # computed, then remembered
        key, parts = keys.cache_key(code, {"b": oid, "a": oid}, {}, ["y"], None)
        assert key == expected
        assert parts == {"code": code, "inputs": {"b": oid, "a": oid}, "params": {},
                         "config": {"outputs": ["y"], "cache_version": None}}
    assert keys.cache_key(code, {"a": oid, "b": oid}, {}, ["y"], "2")[0] != expected
    assert keys.cache_key(code, {"a": oid}, {}, ["y"], None)[0] != expected
    with_params = digest(msgpack.packb([keys.KEY_FORMAT, code, [], ["y"], None]) + pack({"lr": 0.1}))
    key, parts = keys.cache_key(code, {}, {"lr": 0.1}, ["y"], None)
    assert key == with_params and parts["params"] == {"lr": 0.1}
    assert keys.cache_key(code, {}, {"lr": 0.2}, ["y"], None)[0] != with_params


def test_a_step_record_as_a_dict_has_every_field_once():
    from flowyml.manifest import OutputRecord, StepRecord

    rec = StepRecord(name="s", status="cached", key="k", outputs={"x": OutputRecord("0" * 64, "msgpack", 1)})
    d = rec.to_dict()
    assert list(d) == list(StepRecord.__dataclass_fields__)
    assert d["outputs"] == {"x": {"oid": "0" * 64, "codec": "msgpack", "size": 1, "asset": None}}
    assert StepRecord.from_dict(d) == rec


def test_threads_sharing_a_journal_append_whole_records(tmp_path: Path):
    from flowyml.store.journal import Journal

    journal = Journal(tmp_path, "run")

    def write(t: int) -> None:
        for i in range(200):
            journal.append({"type": "step", "t": t, "i": i, "pad": "x" * (i % 50)})

    threads = [threading.Thread(target=write, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    journal.close()
    records = journal.read()
    assert sorted((r["t"], r["i"]) for r in records) == [(t, i) for t in range(4) for i in range(200)]
