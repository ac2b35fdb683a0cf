"""``parallel_map``: call a function on every item of a list in a pool of threads.

It is the small tool for a step that fans out over independent calls (requests,
file reads, native code that releases the GIL). Results come back in input
order. For per-item retries, a success ratio and per-item caching inside a
pipeline, use :func:`flowyml.map_task`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")


def parallel_map(fn: Callable[[T], R], items: Iterable[T], num_workers: int = 4, *,
                 return_exceptions: bool = False) -> list[R | BaseException]:
    """Call ``fn(item)`` for every item, ``num_workers`` at a time, in threads.

    Args:
        fn: the function to call on each item.
        items: the items (consumed once, into a list).
        num_workers: how many calls may run at once; 1 calls them inline.
        return_exceptions: put an item's exception in its place in the result
            instead of raising it.

    Returns:
        One result per item, in input order.

    Raises:
        Exception: the exception of the first item (by index) that raised,
            re-raised as it was, with a note naming the item's index (also set
            as its ``flowyml_index`` attribute when the exception allows it).
            Items not started yet are cancelled.
    """
    work = list(items)
    if num_workers < 1:
        raise ValueError("parallel_map(num_workers=...) must be at least 1")
    if num_workers == 1 or len(work) <= 1:
        return [_call_inline(fn, item, i, return_exceptions) for i, item in enumerate(work)]
    from concurrent.futures import ThreadPoolExecutor

    results: list[Any] = []
    with ThreadPoolExecutor(min(num_workers, len(work)), thread_name_prefix="flowyml-map") as pool:
        futures = [pool.submit(fn, item) for item in work]
        for i, fut in enumerate(futures):
            exc = fut.exception()
            if exc is None:
                results.append(fut.result())
            elif return_exceptions:
                results.append(exc)
            else:
                for later in futures[i + 1:]:
                    later.cancel()
                raise _with_index(exc, i)
    return results


def _call_inline(fn: Callable[[Any], Any], item: Any, index: int, return_exceptions: bool) -> Any:
    try:
        return fn(item)
    except Exception as exc:
        if return_exceptions:
            return exc
        _with_index(exc, index)
        raise


def _with_index(exc: BaseException, index: int) -> BaseException:
    """``exc``, annotated with the index of the item that raised it."""
    note = f"raised by parallel_map for the item at index {index}"
    if hasattr(exc, "add_note"):  # Python 3.11+
        exc.add_note(note)
    try:
        exc.flowyml_index = index  # type: ignore[attr-defined]
    except AttributeError:  # an exception type with __slots__
        pass
    return exc
