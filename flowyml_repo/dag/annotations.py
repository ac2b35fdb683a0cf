"""Resolving a function's annotations into types, even when some names do not resolve.

Annotations are read with ``typing.get_type_hints(include_extras=True)`` against
the function's globals and the closure values it uses, so string annotations from
``from __future__ import annotations`` work. When that fails, each annotation is
resolved on its own: ``typing``'s names mean themselves even where the module does
not bind them, and any other unbound name becomes ``Any`` wherever it appears
(``tuple[pl.DataFrame, Model]`` with ``pl`` imported under ``TYPE_CHECKING`` is
``tuple[Any, Model]``). Nothing is ever imported to resolve a name. Hints and
signatures are memoised per function, since a pipeline is built on every run.

What a step's types are, and whether two of them fit, is decided in
:mod:`flowyml.dag.typecheck`.
"""

from __future__ import annotations

import builtins
import inspect
import types
import typing
import weakref
from typing import Any

__all__ = ["UnresolvedMeta", "cached_signature", "is_union", "type_hints"]

_NONE = type(None)


def is_union(t: object) -> bool:
    """True for ``A | B`` and ``typing.Union[A, B]`` (``Optional[X]`` too)."""
    return typing.get_origin(t) in (typing.Union, types.UnionType)


class UnresolvedMeta(type):
    """Stands in for a name an annotation string uses but the module never binds."""

    def __getattr__(cls, attr: str) -> type:
        if attr.startswith("_"):  # typing probes private/dunder attributes; say "absent"
            raise AttributeError(attr)
        return _unresolved(f"{cls.__qualname__}.{attr}")

    def __getitem__(cls, item: object) -> type:
        return cls  # ``npt.NDArray[np.float64]`` with numpy unbound: still just unknown


def _unresolved(name: str) -> type:
    return UnresolvedMeta(name, (), {"__qualname__": name, "__module__": "<unresolved>"})


class _Lenient(dict):
    """Eval locals: closure values first, then (via eval) globals and builtins, then
    ``typing``'s own names, and an unresolved placeholder for anything else."""

    def __init__(self, globalns: dict[str, Any], localns: dict[str, Any]) -> None:
        super().__init__(localns)
        self._globalns = globalns

    def __missing__(self, name: str) -> object:
        if name in self._globalns or hasattr(builtins, name):
            raise KeyError(name)  # let eval find it in globals or builtins
        if name in typing.__all__:
            # ``from typing import Optional`` inside a function leaves the module unbound,
            # yet ``Optional`` in an annotation means nothing else.
            return getattr(typing, name)
        return _unresolved(name)


_SIGNATURES: weakref.WeakKeyDictionary[Any, inspect.Signature] = weakref.WeakKeyDictionary()


def cached_signature(target: Any) -> inspect.Signature:
    """``inspect.signature(target)``, memoised per function."""
    try:
        return _SIGNATURES[target]
    except KeyError:
        sig = _SIGNATURES[target] = inspect.signature(target)
        return sig
    except TypeError:  # not weak-referenceable
        return inspect.signature(target)


_HINTS_MEMO: weakref.WeakKeyDictionary[Any, tuple[object, dict[str, object]]] = weakref.WeakKeyDictionary()


def type_hints(fn: object) -> dict[str, object]:
    """``fn``'s annotations, resolved once per function (a pipeline is built on every run).

    Wrappers are followed through ``__wrapped__``; a name that does not resolve becomes
    ``Any`` without spoiling the other annotations.
    """
    target = inspect.unwrap(fn)
    raw = getattr(target, "__annotations__", None)
    if not raw:
        return {}
    try:
        seen = _HINTS_MEMO.get(target)
    except TypeError:  # not weak-referenceable
        return _resolve_hints(target)
    if seen is not None and seen[0] is raw:
        return seen[1]
    hints = _resolve_hints(target)
    _HINTS_MEMO[target] = (raw, hints)
    return hints


def _resolve_hints(target: object) -> dict[str, object]:
    """``target``'s annotations resolved one by one; an unresolvable one never spoils the rest."""
    globalns = getattr(target, "__globals__", {})
    localns = _closure(target)
    try:
        return typing.get_type_hints(target, localns=localns or None, include_extras=True)
    except Exception:  # noqa: BLE001 - any name or syntax problem: resolve each on its own
        pass
    raw = getattr(target, "__annotations__", None) or {}
    return {name: _resolve(name, ann, globalns, localns) for name, ann in raw.items()}


def _closure(target: object) -> dict[str, Any]:
    """Names a nested function takes from its enclosing one (a step made inside a test)."""
    try:
        return dict(inspect.getclosurevars(target).nonlocals)
    except (TypeError, ValueError):  # not a plain function
        return {}


def _resolve(name: str, annotation: object, globalns: dict[str, Any], localns: dict[str, Any]) -> object:
    holder = types.SimpleNamespace(__annotations__={name: annotation})
    try:
        return typing.get_type_hints(holder, globalns, localns or None, include_extras=True)[name]
    except Exception:  # noqa: BLE001
        pass
    if not isinstance(annotation, str):
        return annotation  # nested forward refs stay; the checker treats them as unknown
    try:
        value = eval(annotation, globalns, _Lenient(globalns, localns))  # noqa: S307 - as get_type_hints does
    except Exception:  # noqa: BLE001
        return Any
    return _NONE if value is None else _without_unresolved(value)


def _without_unresolved(t: object) -> object:
    """``t`` with every unresolved placeholder replaced by ``Any``, so none leaks out."""
    if isinstance(t, UnresolvedMeta):
        return Any
    if isinstance(t, list):  # Callable's parameter list
        return [_without_unresolved(a) for a in t]
    args = typing.get_args(t)
    if not _has_unresolved(args):
        return t
    new = tuple(_without_unresolved(a) for a in args)
    if is_union(t):
        return typing.Union[new]
    try:
        return typing.get_origin(t)[new]  # list, dict, tuple, abc classes, Annotated, user generics
    except TypeError:
        return Any


def _has_unresolved(args: typing.Iterable[object]) -> bool:
    return any(isinstance(a, UnresolvedMeta)
               or _has_unresolved(a if isinstance(a, list) else typing.get_args(a)) for a in args)

