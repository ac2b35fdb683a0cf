"""``@map_task``: one function mapped over a list, with concurrency, retries and a success ratio.

Called directly, a map task returns a :class:`MapResult`::

    @map_task(concurrency=8, retries=2, min_success_ratio=0.95)
    def process_document(doc: dict) -> dict:
        return transform(doc)

    result = process_document(documents)   # MapResult(successes=..., total=...)

As a pipeline step (``@step(inputs=[...], outputs=[...])`` stacked on top, or
``map_task(..., inputs=..., outputs=...)`` given straight to ``add_step``) it
receives the list on its first parameter and outputs ``results``: one value per
item, in order, None for an item that failed. Other parameters are filled from
the context (or upstream outputs) like any step's and passed to every call.

Inside a run each item is cached on its own, under the key
``blake3(map function fingerprint, the item's content token, the other
arguments' tokens)``, so a rerun executes only the items that failed or
changed. A step whose map had failures is never cached whole, so those items
are tried again next run while the others come from their per-item entries.
Files an item opens for reading are recorded in its entry (and invalidate it
when they change). Items run in threads of the process running the step.
"""

from __future__ import annotations

import inspect
import logging
import time
import traceback
import typing
from collections.abc import Callable, Sequence
import dataclasses
from dataclasses import dataclass, field
from typing import Any

from flowyml.errors import MapTaskError
from flowyml.execution.task import TaskScope, current_scope

__all__ = ["MapFailure", "MapResult", "MapTask", "map_task"]

log = logging.getLogger("flowyml")

_ITEM_KEY_FORMAT = 1
_INLINE_BYTES = 4096
_ignored_roots: set[str] = set()


@dataclass(frozen=True)
class MapFailure:
    """One item that failed every attempt.

    Attributes:
        index: the item's position in the input list.
        item: the item.
        error: the formatted traceback of the last attempt.
        error_type: the exception's qualified type name.
        attempts: how many times the item was tried.
        exception: the exception itself (not compared).
    """

    index: int
    item: Any
    error: str
    error_type: str
    attempts: int
    exception: BaseException | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class MapResult:
    """What a map task did with each item.

    Attributes:
        successes: items that produced a result.
        total: items in the input.
        results: one entry per item, in input order; None for a failed item.
        failures: the failed items with their errors, by index.
        cached: items whose result came from the per-item cache (inside a run).
    """

    successes: int
    total: int
    results: list
    failures: list[MapFailure]
    cached: int = 0

    @property
    def success_ratio(self) -> float:
        """``successes / total`` (1.0 for an empty input)."""
        return self.successes / self.total if self.total else 1.0

    @property
    def failed_indices(self) -> list[int]:
        """The indices of the failed items, ascending."""
        return [f.index for f in self.failures]


class MapTask:
    """A function mapped over a list; see :func:`map_task`.

    Calling it returns a :class:`MapResult`; as a pipeline step it outputs the
    list of results. Its signature, as a step sees it, is the function's with
    the first parameter (and the return type) turned into lists.
    """

    def __init__(self, fn: Callable[..., Any], *, concurrency: int = 8, retries: int = 2,
                 min_success_ratio: float = 1.0, retry_delay: float = 0.0, name: str | None = None,
                 inputs: Sequence[str] | None = None, outputs: Sequence[str] | None = None) -> None:
        if getattr(fn, "__flowyml_step__", False):
            raise TypeError(f"put @map_task below @step on {getattr(fn, 'name', fn)!r}: "
                            "it maps the plain function")
        if concurrency < 1 or retries < 0 or not 0.0 <= min_success_ratio <= 1.0:
            raise ValueError("map_task needs concurrency >= 1, retries >= 0 and 0 <= min_success_ratio <= 1")
        params = list(inspect.signature(fn).parameters.values())
        if not params or params[0].kind not in (params[0].POSITIONAL_ONLY, params[0].POSITIONAL_OR_KEYWORD):
            raise TypeError(f"map task {fn.__name__!r} needs a first positional parameter to receive each item")
        # Underscored names: @step copies this object's __dict__ onto the Step it makes.
        self._fn = fn
        self._concurrency = concurrency
        self._retries = retries
        self._min_ratio = min_success_ratio
        self._retry_delay = retry_delay
        self._step_options = (name, list(inputs) if inputs is not None else None,
                              list(outputs) if outputs is not None else None)
        self._name_like(fn)

    def _name_like(self, fn: Callable[..., Any]) -> None:
        self.__name__ = getattr(fn, "__name__", "map_task")
        self.__qualname__ = getattr(fn, "__qualname__", self.__name__)
        self.__module__ = getattr(fn, "__module__", None)
        self.__doc__ = getattr(fn, "__doc__", None)

    # -- what it looks like to a pipeline -------------------------------------------------

    @property
    def __signature__(self) -> inspect.Signature:
        hints = self.__annotations__
        sig = inspect.signature(self._fn)
        params = list(sig.parameters.values())
        first = params[0].replace(annotation=hints.get(params[0].name, inspect.Parameter.empty),
                                  default=inspect.Parameter.empty)
        return sig.replace(parameters=[first, *params[1:]],
                           return_annotation=hints.get("return", inspect.Signature.empty))

    @property
    def __annotations__(self) -> dict[str, Any]:  # type: ignore[override]
        from flowyml.dag.typecheck import input_types, output_types

        raw = getattr(self._fn, "__annotations__", None) or {}
        hints = {k: v for k, v in input_types(self._fn).items() if k in raw}
        first = next(iter(inspect.signature(self._fn).parameters))
        if first in hints:
            hints[first] = list[hints[first]]  # type: ignore[index]
        if "return" in raw:
            returned = output_types(self._fn, 1)[0]
            hints["return"] = list[returned] if self._min_ratio >= 1.0 else list[typing.Optional[returned]]
        return hints

    def as_step(self) -> Any:
        """This map task as a pipeline step (what ``Pipeline.add_step`` does with it)."""
        from flowyml.step import Step

        name, inputs, outputs = self._step_options
        return Step(self, name=name, inputs=inputs, outputs=outputs)

    # -- pickling and fingerprints: the configuration, not the derived names ---------------

    def __getstate__(self) -> dict[str, Any]:
        return {"fn": self._fn, "concurrency": self._concurrency, "retries": self._retries,
                "min_success_ratio": self._min_ratio, "retry_delay": self._retry_delay,
                "step_options": self._step_options}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._fn = state["fn"]
        self._concurrency = state["concurrency"]
        self._retries = state["retries"]
        self._min_ratio = state["min_success_ratio"]
        self._retry_delay = state["retry_delay"]
        self._step_options = state["step_options"]
        self._name_like(self._fn)

    def __repr__(self) -> str:
        return (f"<map_task {self.__name__} concurrency={self._concurrency} retries={self._retries} "
                f"min_success_ratio={self._min_ratio}>")

    # -- calling --------------------------------------------------------------------------

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Map over the items (the first argument); the other arguments go to every call.

        Returns:
            A :class:`MapResult`; as a pipeline step, its ``results`` list.

        Raises:
            MapTaskError: the success ratio is below ``min_success_ratio``.
        """
        items, constants = self._split(args, kwargs)
        scope = current_scope()
        result = self.map(items, constants, scope)
        as_step = scope is not None and scope.task.step.func is self
        if result.success_ratio + 1e-12 < self._min_ratio:
            raise MapTaskError(self._failure_message(result), result)
        if result.failures and as_step:
            log.warning("map task %s: %d of %d items failed (kept as None; they run again next time)",
                        self.__name__, len(result.failures), result.total)
        return result.results if as_step else result

    def _split(self, args: tuple, kwargs: dict) -> tuple[list, dict[str, Any]]:
        bound = inspect.signature(self._fn).bind_partial(*args, **kwargs)
        first = next(iter(inspect.signature(self._fn).parameters))
        if first not in bound.arguments:
            raise TypeError(f"map task {self.__name__!r} needs the list of items as its first argument")
        constants = dict(bound.arguments)
        items = constants.pop(first)
        if isinstance(items, (str, bytes, dict)) or not hasattr(items, "__iter__"):
            raise TypeError(f"map task {self.__name__!r} maps over a list; got a {type(items).__name__}")
        return list(items), constants

    def map(self, items: Sequence[Any], constants: dict[str, Any] | None = None,
            scope: TaskScope | None = None) -> MapResult:
        """Run the function on every item (no success-ratio check).

        Args:
            items: the items.
            constants: other keyword arguments, the same for every call.
            scope: the pipeline task this runs inside, for per-item caching
                (None: no caching).
        """
        run = _MapRun(self, list(items), dict(constants or {}), scope)
        return run.execute()

    def _failure_message(self, result: MapResult) -> str:
        shown = "; ".join(f"item {f.index}: {f.error.strip().splitlines()[-1]}" for f in result.failures[:3])
        more = f" (and {len(result.failures) - 3} more)" if len(result.failures) > 3 else ""
        return (f"map task {self.__name__!r}: {result.successes}/{result.total} items succeeded "
                f"({result.success_ratio:.1%}), below min_success_ratio={self._min_ratio:g}; "
                f"failures: {shown}{more}")


class _MapRun:
    """One call of a map task: per-item cache lookups, attempts, stores, in a thread pool."""

    def __init__(self, task: MapTask, items: list, constants: dict[str, Any], scope: TaskScope | None) -> None:
        self.task = task
        self.items = items
        self.constants = constants
        self.scope = scope
        self.caching = scope is not None
        self.record = scope is not None and scope.task.record_files
        if self.caching:
            from flowyml.store.cache import CacheIndex

            root = scope.task.store_root
            if root not in _ignored_roots:  # cache entries and objects are not the step's input files
                from flowyml.execution.filedeps import ignore_dir

                ignore_dir(root)
                _ignored_roots.add(root)
            self.cache = CacheIndex(root)
            self.lookup = scope.task.use_cache
            self.prefix = self._key_prefix()

    def _key_prefix(self) -> list:
        from flowyml.execution.fingerprint import code_fingerprint
        from flowyml.execution.keys import param_token

        tokens = {k: param_token(v) for k, v in self.constants.items()}
        return [_ITEM_KEY_FORMAT, "map-item", code_fingerprint(self.task._fn), tokens]

    def key(self, item: Any) -> str:
        from flowyml.execution.keys import param_token
        from flowyml.store.canonical import digest, pack

        return digest(pack([*self.prefix, param_token(item)]))

    def execute(self) -> MapResult:
        n = len(self.items)
        # Equal items share a key: each key is computed once (and its entry written by one thread).
        self.keys = [self.key(item) for item in self.items] if self.caching else [None] * n
        first = {}
        for i, key in enumerate(self.keys):
            first.setdefault(key if key is not None else i, i)
        todo = sorted(first.values())
        workers = min(self.task._concurrency, len(todo))
        if workers <= 1:
            done = dict(zip(todo, map(self.one, todo)))
        else:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(workers, thread_name_prefix="flowyml-map") as pool:
                done = dict(zip(todo, pool.map(self.one, todo)))
        results: list = [None] * n
        failures: list[MapFailure] = []
        files: set[str] = set()
        cached = 0
        for i in range(n):
            key = self.keys[i]
            status, value, item_files = done[first[key if key is not None else i]]
            files.update(item_files)
            if status == "failed":
                failures.append(value if value.index == i else dataclasses.replace(value, index=i, item=self.items[i]))
            else:
                results[i] = value
                cached += status == "cached"
        if self.record and files:
            from flowyml.execution.filedeps import record_read

            for path in sorted(files):  # into the step's own record, in the step's thread
                record_read(path)
        if failures and self.scope is not None:
            self.scope.cacheable = False
        return MapResult(n - len(failures), n, results, failures, cached)

    def one(self, i: int) -> tuple[str, Any, Sequence[str]]:
        """``("ok" | "cached", value, files read)`` or ``("failed", MapFailure, files)``."""
        item = self.items[i]
        key = self.keys[i]
        if key is not None and self.lookup:
            hit = self._cached(key)
            if hit is not None:
                return "cached", hit[0], hit[1]
        attempts = self.task._retries + 1
        for attempt in range(1, attempts + 1):
            try:
                value, files = self._call(item)
            except Exception as exc:
                if attempt < attempts:
                    if self.task._retry_delay:
                        time.sleep(self.task._retry_delay * 2 ** (attempt - 1))
                    continue
                error = "".join(traceback.format_exception(exc))
                kind = f"{type(exc).__module__}.{type(exc).__qualname__}"
                return "failed", MapFailure(i, item, error, kind, attempt, exc), ()
            if key is not None:
                self._store(key, value, files)
            return "ok", value, tuple(files)
        raise AssertionError("unreachable")  # pragma: no cover

    def _call(self, item: Any) -> tuple[Any, dict[str, str]]:
        fn = self.task._fn
        if not self.record:
            return fn(item, **self.constants), {}
        from flowyml.execution.filedeps import FileReads, digest_files

        with FileReads() as reads:
            value = fn(item, **self.constants)
        return value, (digest_files(reads.paths) if reads.paths else {})

    def _cached(self, key: str) -> tuple[Any, Sequence[str]] | None:
        from flowyml.execution.task import load_input
        from flowyml.manifest import OutputRecord

        entry = self.cache.get(key)
        if entry is None or not (entry.get("outputs") or "value" in entry):
            return None
        files = entry.get("files") or {}
        if files:
            from flowyml.execution.filedeps import changed_files

            if changed_files(files):
                return None
        if "value" in entry:
            return entry["value"], tuple(files)
        o = entry["outputs"][0]
        rec = OutputRecord(o["oid"], o["codec"], o["size"], o.get("asset"))
        store = self.scope.store  # type: ignore[union-attr]
        if not store.has(rec.oid):
            return None
        try:
            return load_input(store, "item", rec), tuple(files)
        except Exception:  # noqa: BLE001 - a damaged object is a miss: the item runs again
            return None

    def _store(self, key: str, value: Any, files: dict[str, str]) -> None:
        from flowyml.execution.task import store_output
        from flowyml.store.canonical import is_plain, pack

        step = self.scope.task.step  # type: ignore[union-attr]
        entry: dict[str, Any] = {"files": files, "step": getattr(step, "name", None), "map": self.task.__name__}
        # A small plain result lives in its entry: one file per item instead of two (an object
        # write costs ~130 us here). It is a copy: the step's output list holds it too.
        if is_plain(value) and len(pack(value)) <= _INLINE_BYTES:
            entry["value"] = value
        else:
            rec = store_output(self.scope.store, value)  # type: ignore[union-attr]
            entry["outputs"] = [dict(rec.to_dict(), name="item")]
        self.cache.put(key, entry)


def map_task(fn: Callable[..., Any] | None = None, /, *, concurrency: int = 8, retries: int = 2,
             min_success_ratio: float = 1.0, retry_delay: float = 0.0, name: str | None = None,
             inputs: Sequence[str] | None = None, outputs: Sequence[str] | None = None) -> Any:
    """Map a function over a list with concurrency, per-item retries and a success ratio.

    Args:
        fn: the function, when used bare (``@map_task``); its first parameter receives one item.
        concurrency: how many items run at once (threads).
        retries: extra attempts for a failing item (``retries=2``: up to 3 calls).
        min_success_ratio: the share of items that must succeed; below it the
            call raises :class:`~flowyml.errors.MapTaskError`.
        retry_delay: seconds before the first retry, doubling for each next one.
        name, inputs, outputs: step options, for giving the map task straight to
            ``Pipeline.add_step`` (``@step(...)`` on top works too).

    Returns:
        A :class:`MapTask` (or a decorator producing one).
    """

    def decorate(f: Callable[..., Any]) -> MapTask:
        return MapTask(f, concurrency=concurrency, retries=retries, min_success_ratio=min_success_ratio,
                       retry_delay=retry_delay, name=name, inputs=inputs, outputs=outputs)

    return decorate(fn) if fn is not None else decorate
