"""Step control decorators: ``@when``, ``@retry`` and ``@on_failure``.

They may be stacked in any order under ``@step``. Each returns a single thin
wrapper around the innermost function holding the merged policies, so a direct
call behaves like a pipeline call: retries first, then the fallback once every
attempt failed. The runner reads the same policies from ``__flowyml_controls__``
and applies them itself, recording attempts and fallbacks.
"""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

_CONTROLS = "__flowyml_controls__"
_INNER = "__flowyml_inner__"


@dataclass(frozen=True)
class RetryPolicy:
    """How often to retry a failing step and how long to wait in between.

    The wait before attempt ``n + 1`` is ``delay * backoff ** (n - 1)`` seconds.
    """

    max_attempts: int = 3
    backoff: float = 2.0
    delay: float = 0.1
    exceptions: tuple[type[BaseException], ...] = (Exception,)

    def wait_before(self, attempt: int) -> float:
        """Seconds to sleep before ``attempt`` (2, 3, …)."""
        return self.delay * self.backoff ** max(attempt - 2, 0)


_ONE_ATTEMPT = RetryPolicy(max_attempts=1)


@dataclass(frozen=True)
class Controls:
    """The policies attached to one step function."""

    condition: Callable[..., Any] | None = None
    retry: RetryPolicy | None = None
    fallback: Callable[..., Any] | None = None


def controls_of(fn: Callable[..., Any]) -> Controls:
    """The merged policies of a (possibly decorated) function."""
    return getattr(fn, _CONTROLS, Controls())


def innermost(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The user's own function beneath any control wrapper."""
    return getattr(fn, _INNER, fn)


def when(predicate: Callable[..., Any]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Run the step only if ``predicate`` is true.

    The predicate receives the step's arguments it names (for example
    ``lambda data: data["quality"] > 0.9``). A step whose predicate is false is
    reported as *skipped*, and so are the steps that need its outputs.
    """
    return _attach(condition=predicate)


def retry(max_attempts: int = 3, backoff: float = 2.0, delay: float = 0.1,
          exceptions: tuple[type[BaseException], ...] = (Exception,)) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Retry a failing step up to ``max_attempts`` times with exponential backoff.

    Args:
        max_attempts: attempts in all, the first included.
        backoff: factor by which the wait grows after each failure.
        delay: seconds to wait before the second attempt.
        exceptions: only these exception types are retried.
    """
    if max_attempts < 1:
        raise ValueError("retry(max_attempts=...) must be at least 1")
    return _attach(retry=RetryPolicy(max_attempts, backoff, delay, tuple(exceptions)))


def on_failure(fallback: Callable[..., Any]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Call ``fallback`` when the step still fails after its retries.

    The fallback receives the step's arguments it names, plus the exception as
    ``error`` (or ``exception``/``exc``) if it has such a parameter. Its return
    value becomes the step's output for this run; it is never cached.
    """
    return _attach(fallback=fallback)


def call_with_controls(fn: Callable[..., Any], controls: Controls, kwargs: dict[str, Any],
                       on_attempt: Callable[[int], None] | None = None) -> tuple[Any, bool]:
    """Call ``fn(**kwargs)`` under the retry policy, then the fallback.

    Returns:
        ``(value, fallback_used)``.

    Raises:
        The last exception when every attempt failed and there is no fallback.
    """
    policy = controls.retry or _ONE_ATTEMPT
    for attempt in range(1, policy.max_attempts + 1):
        if on_attempt is not None:
            on_attempt(attempt)
        try:
            return fn(**kwargs), False
        except policy.exceptions as exc:
            if attempt < policy.max_attempts:
                time.sleep(policy.wait_before(attempt + 1))
                continue
            if controls.fallback is None:
                raise
            return call_fallback(controls.fallback, kwargs, exc), True
        except Exception as exc:
            if controls.fallback is None:
                raise
            return call_fallback(controls.fallback, kwargs, exc), True
    raise AssertionError("unreachable")  # pragma: no cover


def call_fallback(fallback: Callable[..., Any], kwargs: dict[str, Any], exc: BaseException) -> Any:
    """Call a fallback with the step arguments and the error it names."""
    available = dict(kwargs, error=exc, exception=exc, exc=exc)
    return fallback(**select_arguments(fallback, available))


def select_arguments(fn: Callable[..., Any], available: dict[str, Any]) -> dict[str, Any]:
    """The subset of ``available`` that ``fn`` accepts, by parameter name."""
    params = inspect.signature(fn).parameters.values()
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return dict(available)
    return {p.name: available[p.name] for p in params
            if p.name in available and p.kind is not p.POSITIONAL_ONLY}


def _attach(**policy: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        if hasattr(fn, "__flowyml_step__"):
            raise TypeError(
                f"put @{next(iter(policy))} below @step on {getattr(fn, 'name', fn)!r}: "
                "control decorators wrap the plain function"
            )
        inner = innermost(fn)
        controls = replace(controls_of(fn), **policy)
        return _wrap(inner, controls)

    return decorate


def _wrap(inner: Callable[..., Any], controls: Controls) -> Callable[..., Any]:
    signature = inspect.signature(inner)

    @functools.wraps(inner)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        return call_with_controls(inner, controls, dict(bound.arguments))[0]

    setattr(wrapper, _CONTROLS, controls)
    setattr(wrapper, _INNER, inner)
    return wrapper
