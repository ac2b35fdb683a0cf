"""Code fingerprints change when, and only when, something that can change a result changes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import pytest

from flowyml.execution import fingerprint as fp
from flowyml.execution.fingerprint import code_fingerprint, fingerprint_details, value_token

from .modsource import ModuleWriter


@pytest.fixture
def mods(tmp_path: Path):
    writer = ModuleWriter(tmp_path)
    yield writer
    writer.close()


def compiled(source: str, name: str = "f", filename: str = "<exec>") -> types.FunctionType:
    """Define a function with exec/compile, as a notebook would (no source file)."""
    namespace: dict = {"__name__": "notebook"}
    exec(compile(textwrap.dedent(source), filename, "exec"), namespace)
    return namespace[name]


BASE = """
import json

LIMIT = 10

def clean(rows):
    return [r for r in rows if r is not None]

def step(rows, scale=2):
    kept = clean(rows)
    return json.dumps([r * scale for r in kept if r < LIMIT])
"""


# --- the function body -------------------------------------------------------------------


def test_same_source_in_two_modules_gives_the_same_fingerprint(mods):
    a, b = mods.load(BASE), mods.load(BASE)
    assert a.step is not b.step
    assert code_fingerprint(a.step) == code_fingerprint(b.step)
    assert len(code_fingerprint(a.step)) == 64


def test_a_body_change_changes_the_fingerprint(mods):
    a = mods.load(BASE)
    b = mods.load(BASE.replace("r * scale", "r * scale + 1"))
    assert code_fingerprint(a.step) != code_fingerprint(b.step)


@pytest.mark.parametrize("edited", [
    # comments and blank lines
    BASE.replace("    kept = clean(rows)\n", "    # drop the gaps first\n\n    kept = clean(rows)  # keep\n\n"),
    # a docstring added
    BASE.replace("def step(rows, scale=2):\n", 'def step(rows, scale=2):\n    """Scale the rows."""\n'),
    # reformatting: one expression over several lines
    BASE.replace("return json.dumps([r * scale for r in kept if r < LIMIT])",
                 "return json.dumps(\n        [r * scale\n         for r in kept\n         if r < LIMIT]\n    )"),
    # the whole function moved down the file
    "\n\n\n# a header comment\n" + BASE,
])
def test_comments_docstrings_and_formatting_do_not_count(mods, edited):
    assert code_fingerprint(mods.load(BASE).step) == code_fingerprint(mods.load(edited).step)


def test_statements_joined_on_one_line_hash_like_split_ones():
    # Python 3.11 emits a NOP for a line that owns no instruction of its own; it carries no
    # behaviour, only a line event, so it must not count.
    split = compiled("""
        def f(x):
            try:
                return g(x)
            except KeyError:
                return 0
        """)
    joined = compiled("""
        def f(x):
            try: return g(x)
            except KeyError: return 0
        """)
    changed = compiled("""
        def f(x):
            try: return g(x)
            except ValueError: return 0
        """)
    assert code_fingerprint(split) == code_fingerprint(joined)
    assert code_fingerprint(joined) != code_fingerprint(changed)


def test_nested_functions_lambdas_and_comprehensions_count_without_their_docstrings():
    base = compiled("""
        def f(xs):
            def inner(v):
                return v + 1
            return sorted(inner(x) for x in xs), (lambda q: q * 2), ["a" for _ in xs]
        """)
    documented = compiled('''
        def f(xs):
            """Outer."""
            def inner(v):
                """Inner."""
                return v + 1
            return sorted(inner(x) for x in xs), (lambda q: q * 2), ["a" for _ in xs]
        ''')
    variants = [
        "return v + 2\n", "for x in xs if x)", "q * 3", '["b" for _ in xs]',
    ]
    originals = ["return v + 1\n", "for x in xs)", "q * 2", '["a" for _ in xs]']
    assert code_fingerprint(base) == code_fingerprint(documented)
    source = textwrap.dedent("""
        def f(xs):
            def inner(v):
                return v + 1
            return sorted(inner(x) for x in xs), (lambda q: q * 2), ["a" for _ in xs]
        """)
    for original, variant in zip(originals, variants):
        assert code_fingerprint(compiled(source.replace(original, variant, 1))) != code_fingerprint(base), variant


def test_a_string_constant_equal_to_the_docstring_still_counts():
    returns_doc = compiled('''
        def f():
            """same"""
            return "same"
        ''')
    returns_other = compiled('''
        def f():
            """same"""
            return "other"
        ''')
    assert code_fingerprint(returns_doc) != code_fingerprint(returns_other)


def test_renaming_a_function_keeps_its_fingerprint():
    # Documented choice: a step's name is not part of what it computes.
    assert code_fingerprint(compiled("def f(x):\n    return x + 1\n")) == code_fingerprint(
        compiled("def g(x):\n    return x + 1\n", name="g"))


def test_the_python_version_is_part_of_the_fingerprint():
    assert b"%d.%d" % sys.version_info[:2] in fp._FORMAT


# --- what the function references --------------------------------------------------------


def test_a_helper_change_through_globals_changes_the_caller(mods):
    a = mods.load(BASE)
    b = mods.load(BASE.replace("if r is not None", "if r"))
    assert code_fingerprint(a.step) != code_fingerprint(b.step)


HELPERS = """
FACTOR = 3

def clean(rows):
    return [r for r in rows if r is not None]

def unrelated():
    return 1
"""

USES_MODULE = """
import {helpers} as helpers

def step(rows):
    return [r * helpers.FACTOR for r in helpers.clean(rows)]
"""


def test_a_helper_change_through_a_local_module_attribute_changes_the_caller(mods):
    h1 = mods.load(HELPERS)
    h2 = mods.load(HELPERS.replace("if r is not None", "if r"))
    h3 = mods.load(HELPERS.replace("FACTOR = 3", "FACTOR = 4"))
    h4 = mods.load(HELPERS.replace("return 1", "return 2"))
    fps = [code_fingerprint(mods.load(USES_MODULE.format(helpers=h.__name__)).step) for h in (h1, h2, h3, h4)]
    assert fps[0] != fps[1], "helper body"
    assert fps[0] != fps[2], "module constant"
    assert fps[0] == fps[3], "a function the step never uses"


def test_a_helper_imported_inside_the_body_counts(mods):
    h1 = mods.load(HELPERS)
    h2 = mods.load(HELPERS.replace("if r is not None", "if r"))
    template = """
        def step(rows):
            from {h} import clean
            import {h} as helpers
            return clean(rows), helpers.FACTOR
        """
    first = mods.load(template.format(h=h1.__name__)).step
    second = mods.load(template.format(h=h2.__name__)).step
    third = mods.load(template.format(h=h1.__name__)).step
    assert code_fingerprint(first) == code_fingerprint(third)
    assert code_fingerprint(first) != code_fingerprint(second)
    before = code_fingerprint(first)
    h1.unrelated = lambda: 2
    assert code_fingerprint(first) == before
    h1.FACTOR = 4  # read as helpers.FACTOR through the name bound by the import
    assert code_fingerprint(first) != before


def test_library_modules_imported_inside_the_body_are_named_not_hashed():
    f = compiled("""
        def f(x):
            import json
            from collections import OrderedDict
            return json.dumps(OrderedDict(x))
        """)
    assert code_fingerprint(f) == code_fingerprint(f)
    assert fingerprint_details(f).unhashable == ()


def test_module_constants_count_and_unrelated_globals_do_not(mods):
    a = mods.load(BASE)
    before = code_fingerprint(a.step)
    a.LIMIT = 11
    assert code_fingerprint(a.step) != before
    a.LIMIT = 10
    a.SOMETHING_ELSE = [1, 2, 3]
    assert code_fingerprint(a.step) == before


def test_defaults_and_keyword_only_defaults_count():
    base = compiled("def f(x, scale=2, *, shift=0):\n    return x * scale + shift\n")
    other_default = compiled("def f(x, scale=3, *, shift=0):\n    return x * scale + shift\n")
    other_kwonly = compiled("def f(x, scale=2, *, shift=1):\n    return x * scale + shift\n")
    fps = {code_fingerprint(base), code_fingerprint(other_default), code_fingerprint(other_kwonly)}
    assert len(fps) == 3


def test_functions_defined_in_a_loop_differ_by_their_defaults():
    made = []
    for learning_rate in (0.1, 0.01, 0.1):
        def train(x, learning_rate=learning_rate):
            return x * learning_rate

        made.append(train)
    fps = [code_fingerprint(f) for f in made]
    assert fps[0] != fps[1]
    assert fps[0] == fps[2]


def test_closure_values_count():
    def make(threshold):
        def keep(rows):
            return [r for r in rows if r > threshold]

        return keep

    assert code_fingerprint(make(1)) != code_fingerprint(make(2))
    assert code_fingerprint(make(1)) == code_fingerprint(make(1))


def test_a_library_function_is_stable_and_not_hashed_by_its_code():
    def uses_json(x):
        return json.dumps(x, sort_keys=True)

    details = fingerprint_details(uses_json)
    assert details.digest == code_fingerprint(uses_json)
    assert details.unhashable == ()
    assert code_fingerprint(json.dumps) == code_fingerprint(json.dumps)
    assert code_fingerprint(json.dumps) != code_fingerprint(json.loads)


def test_mutual_recursion_terminates_and_both_sides_count(mods):
    source = """
        def is_even(n):
            return True if n == 0 else is_odd(n - 1)

        def is_odd(n):
            return False if n == 0 else is_even(n - 1)

        def fact(n):
            return 1 if n <= 1 else n * fact(n - 1)
        """
    a = mods.load(source)
    b = mods.load(source.replace("return False if n == 0", "return None if n == 0"))
    assert code_fingerprint(a.is_even) == code_fingerprint(mods.load(source).is_even)
    assert code_fingerprint(a.is_even) != code_fingerprint(b.is_even)
    assert code_fingerprint(a.fact) == code_fingerprint(mods.load(source).fact)


def test_local_classes_count_by_their_methods_and_attributes(mods):
    source = """
        import dataclasses, enum

        class Mode(enum.Enum):
            FAST = 1
            SLOW = 2

        @dataclasses.dataclass(frozen=True)
        class Scaler:
            factor: float = 2.0

            def apply(self, x):
                return x * self.factor

        def step(x):
            return Scaler().apply(x), Mode.FAST
        """
    base = code_fingerprint(mods.load(source).step)
    assert base == code_fingerprint(mods.load(source).step)
    assert base != code_fingerprint(mods.load(source.replace("x * self.factor", "x + self.factor")).step)
    assert base != code_fingerprint(mods.load(source.replace("factor: float = 2.0", "factor: float = 3.0")).step)
    assert base != code_fingerprint(mods.load(source.replace("FAST = 1", "FAST = 3")).step)
    assert fingerprint_details(mods.load(source).step).unhashable == ()


def test_objects_referenced_through_globals_count_by_their_state(mods):
    source = """
        class Config:
            def __init__(self, depth):
                self.depth = depth

        CONFIG = Config(3)

        def step(x):
            return x * CONFIG.depth
        """
    module = mods.load(source)
    before = code_fingerprint(module.step)
    module.CONFIG.depth = 4
    assert code_fingerprint(module.step) != before
    module.CONFIG.depth = 3
    assert code_fingerprint(module.step) == before


def test_unhashable_values_are_deterministic_and_reported():
    import threading

    lock = threading.Lock()

    def guarded(x):
        with lock:
            return x

    details = fingerprint_details(guarded)
    assert details.digest == code_fingerprint(guarded)
    assert len(details.unhashable) == 1 and "lock" in details.unhashable[0]


def test_wrapped_functions_are_seen_through(mods):
    source = """
        import functools

        def traced(times):
            def decorate(fn):
                @functools.wraps(fn)
                def wrapper(*args, **kwargs):
                    for _ in range(times):
                        result = fn(*args, **kwargs)
                    return result
                return wrapper
            return decorate

        @traced(times=2)
        def step(x):
            return x + 1

        @functools.lru_cache(maxsize=8)
        def cached(x):
            return x + 1

        def uses_cached(x):
            return cached(x)
        """
    base = mods.load(source)
    assert code_fingerprint(base.step) == code_fingerprint(mods.load(source).step)
    assert code_fingerprint(base.step) != code_fingerprint(mods.load(source.replace("times=2", "times=3")).step)
    inner_changed = mods.load(source.replace("return x + 1", "return x + 2"))
    assert code_fingerprint(base.step) != code_fingerprint(inner_changed.step)
    assert code_fingerprint(base.uses_cached) != code_fingerprint(inner_changed.uses_cached)
    assert code_fingerprint(base.uses_cached) != code_fingerprint(
        mods.load(source.replace("maxsize=8", "maxsize=16")).uses_cached)


def test_other_callables_partials_and_methods():
    import functools

    def scale(x, factor):
        return x * factor

    assert code_fingerprint(functools.partial(scale, factor=2)) != code_fingerprint(functools.partial(scale, factor=3))

    class Model:
        def __init__(self, depth):
            self.depth = depth

        def predict(self, x):
            return x * self.depth

    assert code_fingerprint(Model(2).predict) == code_fingerprint(Model(2).predict)
    assert code_fingerprint(Model(2).predict) != code_fingerprint(Model(3).predict)


# --- values ------------------------------------------------------------------------------


def test_value_tokens_are_canonical():
    assert value_token({"b": 1, "a": {2, 3}}) == value_token({"a": {3, 2}, "b": 1})
    assert value_token(1) != value_token(1.0) != value_token(True)
    assert value_token((1, 2)) != value_token([1, 2])
    assert value_token(0.0) != value_token(-0.0)
    cyclic: list = [1]
    cyclic.append(cyclic)
    assert value_token(cyclic) == value_token(cyclic)


def test_arrays_and_frames_count_by_content():
    np = pytest.importorskip("numpy")
    pd = pytest.importorskip("pandas")
    assert value_token(np.arange(4)) == value_token(np.arange(4))
    assert value_token(np.arange(4)) != value_token(np.arange(4).reshape(2, 2))
    assert value_token(np.arange(4)) != value_token(np.arange(4.0))
    frame = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    assert value_token(frame) == value_token(frame.copy())
    assert value_token(frame) != value_token(frame.assign(a=[1, 3]))
    assert value_token(frame) != value_token(frame.rename(columns={"a": "c"}))


# --- across processes --------------------------------------------------------------------


STABILITY = """
import json
import enum

SEEN = {"alpha", "beta", "gamma", "delta"}
TABLE = {"z": frozenset({"p", "q", "r"}), "a": (1, 2.5, None)}

class Kind(enum.Enum):
    A = "a"

def helper(v):
    return v in SEEN

def step(rows, kind=Kind.A):
    return json.dumps([r for r in rows if helper(r)]), TABLE, kind
"""


def test_the_fingerprint_is_the_same_in_a_fresh_process(mods, tmp_path):
    module = mods.load(STABILITY)
    here = code_fingerprint(module.step)
    script = (
        "import importlib, sys\n"
        f"sys.path.insert(0, {str(tmp_path)!r})\n"
        "from flowyml.execution.fingerprint import code_fingerprint\n"
        f"print(code_fingerprint(importlib.import_module({module.__name__!r}).step))\n"
    )
    seen = set()
    for seed in ("1", "2"):  # different hash seeds reorder sets and str hashes
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env,
                              check=True, cwd=tmp_path)
        seen.add(done.stdout.strip())
    assert seen == {here}


# --- internals worth pinning ---------------------------------------------------------------


@pytest.mark.skipif(sys.version_info[:2] != (3, 11), reason="the direct decoder is for CPython 3.11")
def test_the_direct_bytecode_decoder_agrees_with_dis():
    import argparse
    import collections
    import dis
    import inspect

    needed = fp._JUMP_OPS | fp._GLOBAL_LOADS_311 | fp._NAME_OPS_311 | fp._LOCAL_OPS_311 | {fp._LOAD_CONST}

    def normalised(instructions):
        return [(o, op, a, v if op in needed else None) for o, op, a, v in instructions]

    def codes(code):
        yield code
        for const in code.co_consts:
            if isinstance(const, types.CodeType):
                yield from codes(const)

    count = 0
    for module in (json.decoder, dis, inspect, argparse, collections, fp):
        for code in codes(compile(inspect.getsource(module), module.__file__, "exec")):
            assert normalised(fp._instructions_311(code)) == normalised(fp._instructions_dis(code)), code
            count += 1
    assert count > 500


def test_library_code_is_not_project_local():
    assert not fp._function_is_local(json.dumps)
    assert not fp._module_is_local(json)
    assert not fp._module_is_local(sys)
    assert not fp._module_is_local(fp)  # flowyml itself is a library to its users
    assert fp._function_is_local(test_library_code_is_not_project_local)
    assert fp._function_is_local(compiled("def f():\n    return 1\n"))  # exec'd, no file


def test_a_local_wrapper_around_a_library_function_is_still_local():
    import functools

    def timed(fn):
        @functools.wraps(fn)
        def wrapper(*args):
            return fn(*args)

        return wrapper

    wrapped_len = timed(len)
    assert wrapped_len.__module__ == "builtins"  # copied by functools.wraps
    assert fp._function_is_local(wrapped_len)
    assert code_fingerprint(wrapped_len) != code_fingerprint(len)
