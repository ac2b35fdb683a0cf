"""Executors: where step tasks run. All share one small protocol.

An executor takes a :class:`~flowyml.execution.task.StepTask` and returns a
``concurrent.futures.Future`` of its :class:`StepOutcome`. The runner decides
what to run and in which order; the executor only runs it.
"""

from __future__ import annotations

from concurrent.futures import Future
from typing import Any, Protocol, runtime_checkable

from flowyml.execution.task import StepOutcome, StepTask, execute_task


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

    def submit(self, task: StepTask, store: Any, loaded: dict[str, Any] | None) -> Future[StepOutcome]:
        """Start ``task``; the future resolves to its outcome."""
        ...

    def close(self) -> None:
        """Release workers (a no-op for executors without any)."""
        ...


class SequentialExecutor:
    """Runs each task inline, one at a time, in registration order (the default)."""

    max_workers = 1
    in_process = True

    def submit(self, task: StepTask, store: Any, loaded: dict[str, Any] | None) -> Future[StepOutcome]:
        fut: Future[StepOutcome] = Future()
        fut.set_result(execute_task(task, store, loaded))
        return fut

    def close(self) -> None:
        pass

    def __repr__(self) -> str:
        return "SequentialExecutor()"


LocalExecutor = SequentialExecutor
