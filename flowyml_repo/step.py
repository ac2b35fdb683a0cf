"""The ``@step`` decorator: a plain function plus what the pipeline needs to know.

A decorated step is still a plain callable (``clean_data(df)`` works in a unit
test). The pipeline reads its declared inputs and outputs, its caching options
and the control policies (``@when``, ``@retry``, ``@on_failure``) stacked under
it. Redefining a step with the same name is fine: there is no global registry
that could hold a stale one, only a weak list used by ``auto_discover``.
"""

from __future__ import annotations

import functools
import inspect
import types
import weakref
from collections.abc import Callable, Sequence
from typing import Any, overload

from flowyml.control import Controls, controls_of, innermost

# Every Step ever defined, weakly held, in definition order: only
# ``Pipeline(auto_discover=True)`` reads it, filtered by module.
_DEFINED: weakref.WeakValueDictionary[int, Step] = weakref.WeakValueDictionary()
_counter = iter(range(1 << 62))


class Step:
    """A pipeline step wrapping a user function.

    Attributes:
        name: the step's name (the function's name unless given).
        fn: the function as decorated (control wrappers included).
        func: the user's own function beneath any control wrapper.
        inputs: declared input names, or None to infer them from parameter names.
        outputs: declared output names.
        cache: False to always execute this step.
        cache_version: a string that, when changed, invalidates cached results.
        controls: the ``@when``/``@retry``/``@on_failure`` policies.
        arguments: each parameter of ``func``: its kind and whether it has a
            default (see :func:`arguments_of`).
    """

    __flowyml_step__ = True

    def __init__(self, fn: Callable[..., Any], *, name: str | None = None,
                 inputs: Sequence[str] | None = None, outputs: Sequence[str] | None = None,
                 cache: bool = True, cache_version: str | None = None) -> None:
        if isinstance(outputs, str) or isinstance(inputs, str):
            raise TypeError("inputs= and outputs= take a list of names, e.g. outputs=['model']")
        self.fn = fn
        self.func = innermost(fn)
        self.name = name or self.func.__name__
        self.inputs = list(inputs) if inputs is not None else None
        self.outputs = list(outputs or [])
        if len(set(self.outputs)) != len(self.outputs):
            raise ValueError(f"step {self.name!r} declares an output twice: {self.outputs}")
        self.cache = cache
        self.cache_version = cache_version
        self.controls: Controls = controls_of(fn)
        self.arguments = arguments_of(self.func)
        self.serial = next(_counter)
        functools.update_wrapper(self, self.func)
        _DEFINED[self.serial] = self

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<Step {self.name} inputs={self.inputs} outputs={self.outputs}>"

    def __get__(self, obj: Any, objtype: Any = None) -> Any:
        # A step defined in a class body behaves like a method when accessed on an instance.
        return self if obj is None else functools.partial(self.__call__, obj)

    @property
    def signature(self) -> inspect.Signature:
        """The function's signature."""
        return inspect.signature(self.func)

    @property
    def parameters(self) -> list[str]:
        """Names of the function's parameters, in order (not ``*args`` or ``**kwargs``)."""
        return [name for name, (kind, _) in self.arguments.items() if kind not in _VARIADIC]


_VARIADIC = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
_UNUSUAL_FLAGS = inspect.CO_VARARGS | inspect.CO_VARKEYWORDS


def arguments_of(fn: Callable[..., Any]) -> dict[str, tuple[inspect._ParameterKind, bool]]:
    """Each parameter of ``fn``: its kind and whether it has a default, in order.

    What binding a step needs of its signature. For a plain function it is read off
    the code object: ``inspect.signature`` costs more than the rest of defining a
    step (~6 us of ~11). Anything unusual (``*args``/``**kwargs``, positional-only
    parameters, a ``__signature__`` or ``__wrapped__``, a callable object) goes
    through ``inspect.signature``.
    """
    code = getattr(fn, "__code__", None)
    if (type(fn) is not types.FunctionType or code.co_flags & _UNUSUAL_FLAGS or code.co_posonlyargcount
            or "__signature__" in fn.__dict__ or "__wrapped__" in fn.__dict__):
        return {name: (p.kind, p.default is not p.empty)
                for name, p in inspect.signature(fn).parameters.items()}
    positional = code.co_argcount
    names = code.co_varnames[:positional + code.co_kwonlyargcount]
    first_default = positional - len(fn.__defaults__ or ())
    kw_defaults = fn.__kwdefaults__ or {}
    arguments = {name: (inspect.Parameter.POSITIONAL_OR_KEYWORD, i >= first_default)
                 for i, name in enumerate(names[:positional])}
    arguments.update((name, (inspect.Parameter.KEYWORD_ONLY, name in kw_defaults)) for name in names[positional:])
    return arguments


@overload
def step(fn: Callable[..., Any], /) -> Step: ...
@overload
def step(*, name: str | None = ..., inputs: Sequence[str] | None = ..., outputs: Sequence[str] | None = ...,
         cache: bool = ..., cache_version: str | None = ...) -> Callable[[Callable[..., Any]], Step]: ...


def step(fn: Callable[..., Any] | None = None, /, *, name: str | None = None,
         inputs: Sequence[str] | None = None, outputs: Sequence[str] | None = None,
         cache: bool = True, cache_version: str | None = None) -> Any:
    """Declare a pipeline step, bare (``@step``) or configured.

    Args:
        fn: the function, when used bare.
        name: the step name; defaults to the function's name.
        inputs: names of the outputs of other steps this step consumes. Each
            binds to the parameter of the same name, else to the next free
            positional parameter. Without ``inputs``, parameters named like
            another step's output are inputs.
        outputs: names for the return value; with several names the function
            returns a tuple or list of that length.
        cache: False to always execute this step.
        cache_version: change it to invalidate this step's cached results.

    Returns:
        A :class:`Step` (or a decorator producing one).
    """

    def decorate(f: Callable[..., Any]) -> Step:
        return Step(f, name=name, inputs=inputs, outputs=outputs, cache=cache, cache_version=cache_version)

    if fn is not None:
        return decorate(fn)
    return decorate


def defined_steps(module: str) -> list[Step]:
    """Steps defined in ``module`` that are still alive, newest definition per name last."""
    latest: dict[str, Step] = {}
    for serial in sorted(_DEFINED.keys()):
        s = _DEFINED.get(serial)
        if s is not None and s.func.__module__ == module:
            latest[s.name] = s
    return list(latest.values())
