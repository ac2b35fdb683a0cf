"""The engine's shortcuts give exactly what the long way gives.

Memoised fingerprints equal full encodings and still change with every input they
read; step arguments read off the code object equal ``inspect.signature``; an
all-cached run leaves the task machinery unimported; an inline executor's futures
are already finished.
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
