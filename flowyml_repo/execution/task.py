"""Executing one step: call it under its controls, then store its outputs.

A :class:`StepTask` carries oids and the store location, never data, so the
same task runs inline, in a thread, in another process or on a Dask worker.
In-process executors may hand over already-loaded values to skip a read.
"""

from __future__ import annotations

import contextvars
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flowyml.assets import Asset, Dataset, rebuild_asset
from flowyml.control import call_with_controls
from flowyml.execution.capture import captured
from flowyml.manifest import OutputRecord


@dataclass
class StepTask:
    """Everything needed to execute one step, by reference.

    Attributes:
        step: the Step (a picklable reference for out-of-process executors).
        inputs: parameter name -> (output name, its OutputRecord).
        params: context values by parameter name.
        wants_asset: parameters that receive the asset rather than its data.
        store_root: where the object store lives.
        record_files: record files opened for reading (for the cache entry).
        use_cache: whether caches below the step (a map task's per-item cache)
            may be read; False when the step is forced or caching is off.
    """

    step: Any
    inputs: dict[str, tuple[str, OutputRecord]]
    params: dict[str, Any]
    wants_asset: frozenset[str]
    store_root: str
    record_files: bool = True
    use_cache: bool = True


@dataclass
class StepOutcome:
    """What executing a step produced."""

    outputs: dict[str, OutputRecord] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)
    started: float = 0.0
    duration: float = 0.0
    attempts: int = 0
    fallback_used: bool = False
    files: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    error_type: str | None = None
    exception: BaseException | None = None
    stdout: str = ""
    stderr: str = ""
    cacheable: bool = True  # False: finished, but not to be cached whole (a map with failed items)
    children: list = field(default_factory=list)  # StepRecords of a composite's inner steps
    cached: bool = False  # a composite whose inner steps all came from the cache
    exported: frozenset[str] = frozenset()  # outputs recorded on an inner step, not on this one


class TaskScope:
    """The step task being executed in this thread (see :func:`current_scope`).

    A plain class, not a dataclass: that would add ~0.4 ms to the import time of
    every run's first executed step.

    Attributes:
        task: the task.
        store: the ObjectStore it writes to.
        cacheable: set to False by code inside the step whose result must not be
            cached whole (a map task with failed items).
    """

    __slots__ = ("task", "store", "cacheable")

    def __init__(self, task: StepTask, store: Any, cacheable: bool = True) -> None:
        self.task = task
        self.store = store
        self.cacheable = cacheable


_SCOPE: contextvars.ContextVar[TaskScope | None] = contextvars.ContextVar("flowyml_task_scope", default=None)


def current_scope() -> TaskScope | None:
    """The task whose step function is running in this thread, or None outside a step."""
    return _SCOPE.get()


_OWN_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def user_traceback(exc: BaseException) -> str:
    """The traceback text of a step's error, starting at the user's code (flowyml's own
    frames above it — this module, the retry loop — are noise to the reader)."""
    import traceback  # only when a step fails: with textwrap, ~1.3 ms of import time

    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename.startswith(_OWN_DIR):
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(exc), exc, tb if tb is not None else exc.__traceback__))


def deliver(value: Any, output: str, wants_asset: bool) -> Any:
    """The form a parameter receives: the asset itself, or its data."""
    if isinstance(value, Asset):
        return value if wants_asset else value.data
    return Dataset(value, name=output) if wants_asset else value


def load_input(store: Any, output: str, rec: OutputRecord) -> Any:
    """Load a stored output (verified against its oid) and rebuild its asset."""
    data = store.get(rec.oid, rec.codec)
    return rebuild_asset(rec.asset, data) if rec.asset else data


def split_outputs(step: Any, value: Any) -> dict[str, Any]:
    """Map a step's return value onto its declared output names."""
    names = step.outputs
    if not names:
        return {} if value is None else {step.name: value}
    if len(names) == 1:
        return {names[0]: value}
    if not isinstance(value, (tuple, list)) or len(value) != len(names):
        got = f"{len(value)} values" if isinstance(value, (tuple, list)) else f"a {type(value).__name__}"
        raise ValueError(
            f"step {step.name!r} declares {len(names)} outputs {names} but returned {got}; "
            "return a tuple with one value per output")
    return dict(zip(names, value))


def store_output(store: Any, value: Any) -> OutputRecord:
    """Put one output into the store; an asset's data is stored, its description recorded."""
    if isinstance(value, Asset):
        ref = store.put(value.data)
        return OutputRecord(ref.oid, ref.codec, ref.size, value.describe())
    ref = store.put(value)
    return OutputRecord(ref.oid, ref.codec, ref.size, None)


def execute_task(task: StepTask, store: Any, loaded: Mapping[str, Any] | None = None) -> StepOutcome:
    """Execute ``task`` and store its outputs; never raises for a step's own error.

    Args:
        task: the step and its inputs by reference.
        store: the ObjectStore at ``task.store_root``.
        loaded: output name -> value already in this process's memory.
    """
    out = StepOutcome(started=time.time())
    t0 = time.perf_counter()
    step = task.step
    try:
        kwargs = dict(task.params)
        for param, (output, rec) in task.inputs.items():
            value = loaded[output] if loaded is not None and output in loaded else load_input(store, output, rec)
            kwargs[param] = deliver(value, output, param in task.wants_asset)
        scope = TaskScope(task, store)
        with captured() as printed:
            token = _SCOPE.set(scope)
            try:
                value = _call(step, kwargs, out, task.record_files)
            finally:
                _SCOPE.reset(token)
                out.stdout, out.stderr = printed.stdout, printed.stderr  # a failed step's too
        out.cacheable = scope.cacheable
        out.values = split_outputs(step, value)
        out.outputs = {name: store_output(store, v) for name, v in out.values.items()}
    except Exception as exc:
        out.error = user_traceback(exc)
        out.error_type = f"{type(exc).__module__}.{type(exc).__qualname__}"
        out.exception = exc
        out.values = {}
    out.duration = time.perf_counter() - t0
    return out


def _call(step: Any, kwargs: dict[str, Any], out: StepOutcome, record_files: bool) -> Any:
    """Call the step under its controls, noting attempts, the fallback and the files it read."""

    def count(attempt: int) -> None:
        out.attempts = attempt

    if not record_files:
        value, out.fallback_used = call_with_controls(step.func, step.controls, kwargs, count)
        return value
    from flowyml.execution.filedeps import FileReads, digest_files

    with FileReads() as reads:
        value, out.fallback_used = call_with_controls(step.func, step.controls, kwargs, count)
    if reads.paths:
        out.files = digest_files(reads.paths)
    return value
