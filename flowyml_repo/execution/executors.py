"""Executors: where step tasks run. All share one small protocol.

An executor takes a :class:`~flowyml.execution.task.StepTask` and returns a
``concurrent.futures.Future`` of its :class:`StepOutcome` (or a :class:`Resolved`
one when the outcome is known at once). The runner decides what to run and in
which order; the executor only runs it.

=====================  ==========================================================
``SequentialExecutor``  inline, one at a time (the default)
``ThreadExecutor``      a thread pool in this process
``ProcessExecutor``     a pool of worker processes on this machine
``DaskExecutor``        a Dask ``distributed`` cluster (an address, or a LocalCluster)
=====================  ==========================================================

Out-of-process executors ship a task as cloudpickle bytes: the Step (a function
defined in a test or a notebook travels by value) plus input oids and the store
root, never the input data. The worker opens ``ObjectStore(task.store_root)``,
reads its inputs, writes its outputs, flushes them to disk and sends back the
outcome without the values (the parent loads them from the store if needed). A
step's error comes back as its traceback text, like a local one.
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

# Imported where a task actually runs: an all-cached run never needs the task
# machinery, and ``concurrent.futures`` costs ~3 ms of import time (it imports
# ``logging``) that the sequential path does without (see ``Resolved``).
if TYPE_CHECKING:
    from concurrent.futures import Future

    from flowyml.execution.task import StepOutcome, StepTask

__all__ = ["DaskExecutor", "Executor", "LocalExecutor", "ProcessExecutor", "Resolved", "SequentialExecutor",
           "ThreadExecutor", "make_executor", "run_pickled"]


@runtime_checkable
class Executor(Protocol):
    """Runs step tasks.

    Attributes:
        max_workers: how many tasks may run at once.
        in_process: True when tasks run in this process, so already-loaded
            values can be handed over instead of re-read from the store.
    """

    max_workers: int
    in_process: bool

    def submit(self, task: StepTask, store: Any, loaded: dict[str, Any] | None) -> Future[StepOutcome] | Resolved:
        """Start ``task``; the future resolves to its outcome."""
        ...

    def close(self) -> None:
        """Release workers (a no-op for executors without any)."""
        ...


class Resolved:
    """A future that is already finished: what an executor returns when the outcome is
    known at once (an inline run, a task that cannot be sent to a worker).

    It offers the part of ``concurrent.futures.Future`` that callers of an executor use,
    so running steps inline never imports ``concurrent.futures``.

    Args:
        outcome: the result.
    """

    __slots__ = ("_outcome",)

    def __init__(self, outcome: Any) -> None:
        self._outcome = outcome

    def done(self) -> bool:
        return True

    def cancelled(self) -> bool:
        return False

    def result(self, timeout: float | None = None) -> Any:
        return self._outcome

    def exception(self, timeout: float | None = None) -> BaseException | None:
        return None

    def add_done_callback(self, fn: Any) -> None:
        fn(self)


class SequentialExecutor:
    """Runs each task inline, one at a time, in registration order (the default)."""

    max_workers = 1
    in_process = True

    def submit(self, task: StepTask, store: Any, loaded: dict[str, Any] | None) -> Resolved:
        from flowyml.execution.task import execute_task

        return Resolved(execute_task(task, store, loaded))

    def close(self) -> None:
        pass

    def __repr__(self) -> str:
        return "SequentialExecutor()"


LocalExecutor = SequentialExecutor


class _Closing:
    """Context-manager support: ``with ThreadExecutor(8) as ex: ...`` closes the workers.

    Pool-backed subclasses keep their lazily started pool in ``_pool`` under ``_lock``.
    """

    _pool: Any = None
    _lock: threading.Lock

    def close(self) -> None:
        """Shut the workers down (waiting for running tasks); a later submit starts new ones."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ThreadExecutor(_Closing):
    """Runs tasks in a pool of threads in this process.

    Good for steps that wait (I/O, sleeps, native code that releases the GIL).
    The pool is started on first use and reused across runs until ``close()``.

    Args:
        max_workers: how many steps may run at once.
    """

    in_process = True

    def __init__(self, max_workers: int = 8) -> None:
        if max_workers < 1:
            raise ValueError("ThreadExecutor(max_workers=...) must be at least 1")
        self.max_workers = max_workers
        self._pool: Any = None
        self._lock = threading.Lock()

    def submit(self, task: StepTask, store: Any, loaded: dict[str, Any] | None) -> Future[StepOutcome]:
        from flowyml.execution.task import execute_task

        if loaded is not None:
            # A private copy of just the inputs: the runner keeps adding to its dict meanwhile.
            loaded = {o: loaded[o] for o, _ in task.inputs.values() if o in loaded}
        return self._executor().submit(execute_task, task, store, loaded)

    def _executor(self) -> Any:
        with self._lock:
            if self._pool is None:
                from concurrent.futures import ThreadPoolExecutor

                self._pool = ThreadPoolExecutor(self.max_workers, thread_name_prefix="flowyml-step")
            return self._pool

    def __repr__(self) -> str:
        return f"ThreadExecutor(max_workers={self.max_workers})"


class ProcessExecutor(_Closing):
    """Runs tasks in worker processes on this machine.

    Good for CPU-bound Python steps. Workers start on first use (with
    ``forkserver`` where available, so a parent with threads is never forked)
    and are reused across runs until ``close()``. As with any
    ``multiprocessing`` code, a script using it should guard its entry point
    with ``if __name__ == "__main__":``.

    Args:
        max_workers: how many steps may run at once (default: the CPU count).
        mp_context: a ``multiprocessing`` start method ("forkserver", "spawn", "fork").
    """

    in_process = False

    def __init__(self, max_workers: int | None = None, mp_context: str | None = None) -> None:
        self.max_workers = max_workers or os.cpu_count() or 1
        self.mp_context = mp_context or _default_start_method()
        self._pool: Any = None
        self._lock = threading.Lock()

    def submit(self, task: StepTask, store: Any, loaded: dict[str, Any] | None) -> Future[StepOutcome] | Resolved:
        try:
            payload = dumps_task(task)
        except Exception as exc:  # noqa: BLE001 - a step that cannot travel fails like any step
            return Resolved(_error_outcome(exc, f"step {task.step.name!r} cannot be sent to a worker process"))
        return _chain(self._executor().submit(run_pickled, payload), task)

    def _executor(self) -> Any:
        with self._lock:
            if self._pool is None:
                import multiprocessing
                from concurrent.futures import ProcessPoolExecutor

                context = multiprocessing.get_context(self.mp_context)
                if self.mp_context == "forkserver":
                    # The fork server imports the engine once; each worker forks from it warm.
                    context.set_forkserver_preload(["flowyml.execution.executors", "flowyml.execution.task"])
                self._pool = ProcessPoolExecutor(self.max_workers, mp_context=context)
            return self._pool

    def __repr__(self) -> str:
        return f"ProcessExecutor(max_workers={self.max_workers}, mp_context={self.mp_context!r})"


class DaskExecutor(_Closing):
    """Runs tasks on a Dask ``distributed`` cluster.

    Give it a running ``distributed.Client``, or a scheduler ``address``, or
    nothing: then a ``LocalCluster`` of worker processes is started on first use
    and closed by ``close()``. Workers must reach the object store's folder (the
    same machine, or a shared filesystem).

    Args:
        address: a scheduler address such as ``"tcp://10.0.0.5:8786"``.
        client: an existing ``distributed.Client`` (left open by ``close()``).
        n_workers: worker processes of a started LocalCluster.
        threads_per_worker: threads per worker of a started LocalCluster.
        max_workers: how many steps may be in flight at once (default: the
            cluster's total thread count when the first task is submitted).
    """

    in_process = False

    def __init__(self, address: str | None = None, *, client: Any = None, n_workers: int = 2,
                 threads_per_worker: int = 1, max_workers: int | None = None) -> None:
        self.address = address
        self.n_workers = n_workers
        self.threads_per_worker = threads_per_worker
        self._client = client
        self._owns_client = client is None
        self._cluster: Any = None
        self._max_workers = max_workers
        self._lock = threading.Lock()

    @property
    def max_workers(self) -> int:
        """Steps in flight at once: as given, else every thread of the cluster."""
        if self._max_workers is None:
            if self._client is None and self.address is None:
                return self.n_workers * self.threads_per_worker  # without starting the cluster
            self._max_workers = max(sum(self.client.nthreads().values()), 1)
        return self._max_workers

    @property
    def client(self) -> Any:
        """The ``distributed.Client`` (connecting, or starting a LocalCluster, on first use)."""
        with self._lock:
            if self._client is None:
                from distributed import Client, LocalCluster

                if self.address is None:
                    self._cluster = LocalCluster(n_workers=self.n_workers, threads_per_worker=self.threads_per_worker,
                                                 processes=True, dashboard_address=None)
                    self._client = Client(self._cluster)
                else:
                    self._client = Client(self.address)
            return self._client

    def submit(self, task: StepTask, store: Any, loaded: dict[str, Any] | None) -> Future[StepOutcome] | Resolved:
        try:
            payload = dumps_task(task)
        except Exception as exc:  # noqa: BLE001
            return Resolved(_error_outcome(exc, f"step {task.step.name!r} cannot be sent to a Dask worker"))
        import uuid
        from concurrent.futures import Future

        remote = self.client.submit(run_pickled, payload, pure=False,
                                    key=f"flowyml-{task.step.name}-{uuid.uuid4().hex[:12]}")
        fut: Future[StepOutcome] = Future()

        def done(remote: Any) -> None:  # runs on a Dask client thread
            try:
                fut.set_result(loads_outcome(remote.result()))
            except BaseException as exc:  # noqa: BLE001 - a lost worker, a cancelled task
                fut.set_result(_error_outcome(exc, f"step {task.step.name!r} was lost by the Dask cluster"))

        remote.add_done_callback(done)
        return fut

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
            cluster, self._cluster = self._cluster, None
        if client is not None and self._owns_client:
            client.close()
        if cluster is not None:
            cluster.close()

    def __repr__(self) -> str:
        where = self.address or ("client" if not self._owns_client else "LocalCluster")
        return f"DaskExecutor({where})"


_NAMED = {"sequential": SequentialExecutor, "local": SequentialExecutor, "threads": ThreadExecutor,
          "processes": ProcessExecutor, "dask": DaskExecutor}


def make_executor(spec: Any) -> tuple[Any, bool]:
    """An executor for ``spec``: an executor object, or one of the names below.

    Args:
        spec: an executor, None (sequential), or "sequential", "threads",
            "processes" or "dask" (default settings for each).

    Returns:
        ``(executor, owned)``; ``owned`` is True when it was created here, so the
        caller closes it after the run.

    Raises:
        ValueError: an unknown name.
    """
    if spec is None:
        return SequentialExecutor(), True
    if isinstance(spec, str):
        cls = _NAMED.get(spec.lower())
        if cls is None:
            raise ValueError(f"unknown executor {spec!r}; use one of {', '.join(sorted(_NAMED))} "
                             "or an executor object such as ThreadExecutor(max_workers=8)")
        return cls(), True
    return spec, False


# -- out-of-process plumbing -----------------------------------------------------------------

_STORES: dict[str, Any] = {}
_STORES_LOCK = threading.Lock()


def dumps_task(task: StepTask) -> bytes:
    """``task`` as bytes for another process: cloudpickle, so functions travel by value."""
    import cloudpickle

    return cloudpickle.dumps(task)


def run_pickled(payload: bytes) -> bytes:
    """Worker side: execute a pickled task against the store it names; the outcome as bytes.

    The outputs are flushed to disk before the outcome is returned, so the parent
    never records an output that a crash of this worker could lose.
    """
    import pickle

    from flowyml.execution.task import execute_task

    task: StepTask = pickle.loads(payload)
    store = _store_at(task.store_root)
    outcome = execute_task(task, store, None)
    try:
        store.flush()
    except Exception as exc:  # noqa: BLE001 - reported as the step's failure
        outcome = _error_outcome(exc, f"step {task.step.name!r}: its outputs could not be flushed")
    outcome.values = {}  # the parent reads values from the store when it needs them
    return dumps_outcome(outcome)


def dumps_outcome(outcome: StepOutcome) -> bytes:
    """An outcome as bytes; an exception that cannot travel is dropped (its traceback text stays)."""
    import cloudpickle

    try:
        return cloudpickle.dumps(outcome)
    except Exception:  # noqa: BLE001
        outcome.exception = None
        return cloudpickle.dumps(outcome)


def loads_outcome(data: bytes) -> StepOutcome:
    """The outcome a worker sent."""
    import pickle

    try:
        return pickle.loads(data)
    except Exception as exc:  # noqa: BLE001 - e.g. an exception class the parent cannot import
        return _error_outcome(exc, "a worker's result could not be read")


def _store_at(root: str) -> Any:
    with _STORES_LOCK:
        store = _STORES.get(root)
        if store is None:
            from flowyml.store.objects import ObjectStore

            store = _STORES[root] = ObjectStore(root)
        return store


def _chain(remote: Future[bytes], task: StepTask) -> Future[StepOutcome]:
    """A future of the decoded outcome; a dead worker becomes the step's error."""
    from concurrent.futures import Future

    fut: Future[StepOutcome] = Future()

    def done(remote: Future[bytes]) -> None:
        exc = remote.exception()
        if exc is not None:
            fut.set_result(_error_outcome(exc, f"step {task.step.name!r}: its worker process failed"))
        else:
            fut.set_result(loads_outcome(remote.result()))

    remote.add_done_callback(done)
    return fut


def _error_outcome(exc: BaseException, context: str) -> StepOutcome:
    import traceback

    from flowyml.execution.task import StepOutcome

    text = "".join(traceback.format_exception(exc))
    return StepOutcome(error=f"{context}:\n{text}", error_type=f"{type(exc).__module__}.{type(exc).__qualname__}",
                       exception=exc if isinstance(exc, Exception) else None)


def _default_start_method() -> str:
    import multiprocessing

    return "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
