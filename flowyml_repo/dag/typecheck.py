"""Build-time type compatibility between connected pipeline steps.

For every edge *producer output → consumer parameter* ``pipeline.build()`` asks
whether the type the producer declares (its return annotation; element ``i`` of a
``tuple[A, B]`` annotation for a step with several outputs) can feed the type the
consumer declares (its parameter annotation). The answer is a :class:`Verdict`:
``"error"`` fails the build, ``"warning"`` is reported, ``"ok"`` passes.

The checker is lenient where nothing is declared and strict where two
declarations contradict each other. Rules, in the order they apply:

1. **Unknown is ok.** A missing annotation (also a bare ``None`` passed to
   :func:`check_compatible`, which is what ``dict.get`` returns for an unknown
   parameter; the None *type* is ``type(None)``, and :func:`output_types` /
   :func:`input_types` always return that for a ``None`` annotation), ``Any``, a
   ``TypeVar``/``ParamSpec``, a string or name that does not resolve (typically
   something imported only under ``TYPE_CHECKING``) and an expected ``object`` all
   fit anything. ``Annotated[X, ...]`` is ``X``; a ``NewType`` is its supertype.
2. **Unions.** A produced ``A | B`` is checked member by member: ok if every member
   fits, a warning if only some do (``Optional[X]`` into ``X``: "may be None"), an
   error if none does. An expected ``A | B`` (``Optional[X]`` too) accepts
   whatever fits one of its members.
3. **Literals.** A produced ``Literal`` fits an expected ``Literal`` when its values
   are a subset (warning when they only overlap, error when disjoint) and a plain
   type when its values' types do. A plain type into a ``Literal`` is a warning
   (not every ``str`` is ``'a'``), or an error when even the value types differ.
4. **Assets, at the step boundary.** An asset (``Dataset``, ``Model``,
   ``Metrics``, any ``Asset`` subclass) into a parameter annotated with a
   non-asset type is ok: the engine passes the asset's data, whose type is not
   declared. A non-asset type into an asset-annotated parameter is ok: the engine
   wraps the value in that asset (a produced ``None`` is still an error). Between
   two asset types the class rules apply, so ``Model`` into ``Dataset`` is an
   error (asset kinds differ) and ``Asset`` into ``Dataset`` a warning. Inside
   containers nothing is wrapped or unwrapped: ``list[Dataset]`` does not fit
   ``list[pd.DataFrame]``. Assets are recognised by class name and module, so this
   module imports nothing from the pipeline layer above it.
5. **Classes.** A subclass fits (``Dataset`` into ``Asset``, ``list`` into
   ``Sequence``); a superclass is a warning (not every ``Sequence`` is a
   ``list``); unrelated classes are an error (``int`` into ``str``, ``str`` into
   ``pd.DataFrame``). Numbers follow the tower ``bool ⊂ int ⊂ float ⊂ complex``
   with the ``numbers`` ABCs giving the rank, so ``int`` and ``np.int64`` fit
   ``float`` while ``float`` into ``int`` is an error. Classes that refuse
   ``issubclass`` (non-runtime protocols, ``TypedDict``) are not checked.
6. **Generics.** Origins first, by the class rules (``dict`` into ``list`` is an
   error), then type arguments, covariantly: a consumer receives its own copy
   loaded from the store, so the invariance of mutable containers is moot and
   ``list[bool]`` fits ``list[int]``. Mappings compare keys and values; tuples
   item by item (a length mismatch is an error, an unknown length into a fixed one
   a warning); one-argument collections (``list``, ``set``, ``Sequence``,
   ``Iterable`` …) compare elements, a tuple's element being the union of its
   items and a mapping's its key. A side without type arguments (``list`` into
   ``list[int]`` or the reverse) is ok: bare means "elements not declared", and
   warning on it would bury real problems. Other generics with one origin compare
   arguments pairwise; ``Callable`` signatures are not checked.

Annotations are resolved by :mod:`flowyml.dag.annotations`: string annotations
work, and a name imported only under ``TYPE_CHECKING`` becomes ``Any`` wherever it
appears. Nothing is ever imported to resolve a name.

Reasons are written to follow a step name in an error line, for example
``produces Model but 'model' expects Dataset (asset kinds differ)``.
"""

from __future__ import annotations

import collections
import collections.abc as cabc
import inspect
import numbers
import typing
from dataclasses import dataclass, field
from typing import Any

from flowyml.dag.annotations import UnresolvedMeta, cached_signature, is_union, type_hints

__all__ = ["Verdict", "check_compatible", "input_types", "output_types"]

OK, WARNING, ERROR = "ok", "warning", "error"
_SEVERITY = {OK: 0, WARNING: 1, ERROR: 2}
_NONE = type(None)
_TOWER = {bool: 0, int: 1, float: 2, complex: 3}


@dataclass(frozen=True)
class Verdict:
    """Whether a produced type can feed an expected one.

    Attributes:
        level: ``"ok"``, ``"warning"`` (a possible issue) or ``"error"`` (a hard mismatch).
        reason: a clause that reads well after a step name, e.g.
            ``"produces Model but 'model' expects Dataset (asset kinds differ)"``.
    """

    level: str
    reason: str


def check_compatible(produced: object, expected: object, *, param: str | None = None) -> Verdict:
    """Decide whether a value declared as ``produced`` can feed a parameter declared ``expected``.

    Args:
        produced: the producer's output type (``None`` or ``typing.Any`` when unknown).
        expected: the consumer parameter's type (``None`` or ``typing.Any`` when unknown).
        param: the consumer's parameter name, used in the reason.

    Returns:
        The verdict; see the module docstring for the rules.
    """
    produced = Any if produced is None else produced
    expected = Any if expected is None else expected
    result = _check(produced, expected, top=True)
    if result.level == OK:
        return Verdict(OK, result.detail)
    p_name, e_name = _names(_strip(produced), _strip(expected))
    who = repr(param) if param else "the parameter"
    reason = f"produces {p_name} but {who} expects {e_name}"
    if not result.trivial:
        reason += f" ({result.rendered()})"
    return Verdict(result.level, reason)


def output_types(fn: typing.Callable[..., Any], n_outputs: int) -> list[object]:
    """The type of each of ``fn``'s outputs, from its return annotation.

    With one output that is the annotation itself. With several it is element
    ``i`` of a ``tuple[A, B, ...]`` (or ``A`` for each of ``tuple[A, ...]``, or the
    fields of a ``NamedTuple``); any other annotation gives ``typing.Any`` for each.

    Args:
        fn: the step's function (wrappers are followed through ``__wrapped__``).
        n_outputs: how many outputs the step declares.

    Returns:
        ``n_outputs`` types, ``typing.Any`` where unknown.
    """
    if n_outputs <= 0:
        return []
    returned = type_hints(fn).get("return", Any)
    if n_outputs == 1:
        return [returned]
    return _split_outputs(returned, n_outputs)


def input_types(fn: typing.Callable[..., Any]) -> dict[str, object]:
    """The type each named parameter of ``fn`` expects.

    ``*args`` and ``**kwargs`` are left out: they cannot be wired by name.

    Args:
        fn: the step's function (wrappers are followed through ``__wrapped__``).

    Returns:
        Parameter name -> its annotation, ``typing.Any`` when unannotated or unresolvable.
    """
    target = inspect.unwrap(fn)
    try:
        params = cached_signature(target).parameters.values()
    except (TypeError, ValueError):  # builtins and some C callables have no signature
        return {}
    hints = type_hints(target)
    wired = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    return {p.name: hints.get(p.name, Any) for p in params if p.kind not in wired}


def _split_outputs(returned: object, n: int) -> list[object]:
    stripped = _strip(returned)
    if isinstance(stripped, type) and issubclass(stripped, tuple) and hasattr(stripped, "_fields"):
        fields = type_hints(stripped) if len(stripped._fields) == n else {}
        return [fields.get(f, Any) for f in stripped._fields] if fields else [Any] * n
    if typing.get_origin(stripped) is not tuple:
        return [Any] * n
    args = typing.get_args(stripped)
    if len(args) == 2 and args[1] is Ellipsis:
        return [args[0]] * n
    return list(args) if len(args) == n else [Any] * n


# --- the checker -----------------------------------------------------------------


@dataclass(frozen=True)
class _Result:
    """One comparison: a level, why, and where inside the types it happened."""

    level: str
    detail: str = ""
    trivial: bool = False  # the detail only restates "P is not E"
    path: tuple[str, ...] = field(default=())

    def rendered(self) -> str:
        where = " of ".join(reversed(self.path))
        return f"{where}: {self.detail}" if where else self.detail

    def inside(self, label: str) -> _Result:
        if self.level == OK:
            return self
        return _Result(self.level, self.detail, False, (label, *self.path))


def _ok(detail: str = "compatible") -> _Result:
    return _Result(OK, detail)


def _mismatch(p: object, e: object) -> _Result:
    p_name, e_name = _names(p, e)
    return _Result(ERROR, f"{p_name} is not {e_name}", trivial=True)


def _worst(results: typing.Iterable[_Result]) -> _Result:
    results = list(results)
    return max(results, key=lambda r: _SEVERITY[r.level]) if results else _ok()


def _check(p: object, e: object, top: bool) -> _Result:
    p, e = _strip(p), _strip(e)
    if _is_unknown(e) or e is object:
        return _ok("the parameter accepts anything")
    if _is_unknown(p):
        return _ok("the produced type is not declared")
    if is_union(p):
        return _check_produced_union(p, e, top)
    if is_union(e):
        return _check_expected_union(p, e, top)
    if _is_literal(p) or _is_literal(e):
        return _check_literal(p, e, top)
    if top and (_is_asset(p) != _is_asset(e)):
        return _check_boundary(p, e)
    return _check_generic(p, e)


def _strip(t: object) -> object:
    """``Annotated[X, ...]`` -> X, ``NewType`` -> its supertype, ``None`` -> NoneType."""
    while True:
        if t is None:
            return _NONE
        if typing.get_origin(t) is typing.Annotated:
            t = typing.get_args(t)[0]
        elif isinstance(t, typing.NewType):
            t = t.__supertype__
        elif type(t).__name__ == "TypeAliasType":  # ``type X = ...`` on 3.12+
            t = t.__value__
        else:
            return t


def _is_unknown(t: object) -> bool:
    return (t is Any or isinstance(t, (str, typing.ForwardRef, typing.TypeVar, typing.ParamSpec,
                                       UnresolvedMeta))
            or (not isinstance(t, type) and typing.get_origin(t) is None and not _is_literal(t)))


def _is_literal(t: object) -> bool:
    return typing.get_origin(t) is typing.Literal


def _is_asset(t: object) -> bool:
    # By name, not import: dag sits below the pipeline API and must not import it.
    return isinstance(t, type) and any(
        k.__module__ == "flowyml.assets" and k.__qualname__ == "Asset" for k in t.__mro__)


def _check_produced_union(p: object, e: object, top: bool) -> _Result:
    members = typing.get_args(p)
    results = [_check(m, e, top) for m in members]
    bad = [(m, r) for m, r in zip(members, results) if r.level != OK]
    if not bad:
        return _ok("every member of the union fits")
    if len(bad) == len(members) and all(r.level == ERROR for _, r in bad):
        return _first_explained(results, p, e)
    return _Result(WARNING, "may be " + " or ".join(_name(m) for m, _ in bad))


def _check_expected_union(p: object, e: object, top: bool) -> _Result:
    members = typing.get_args(e)
    # A parameter with an asset among its members receives the asset itself, never
    # its data, so an asset does not fit a non-asset member (Model into Dataset | None).
    unwraps = top and not (_is_asset(p) and any(_is_asset(_strip(m)) for m in members))
    results = [_check(p, m, unwraps or _is_asset(_strip(m))) for m in members]
    best = min(results, key=lambda r: _SEVERITY[r.level])
    if best.level != ERROR:
        return best
    return _first_explained(results, p, e)


def _first_explained(results: list[_Result], p: object, e: object) -> _Result:
    """The first error that says more than "P is not E", else that plain statement."""
    for r in results:
        if not r.trivial:
            return r
    return _mismatch(p, e)


def _check_literal(p: object, e: object, top: bool) -> _Result:
    if _is_literal(p) and _is_literal(e):
        allowed = {_literal_key(v) for v in typing.get_args(e)}
        outside = [v for v in typing.get_args(p) if _literal_key(v) not in allowed]
        if not outside:
            return _ok()
        if len(outside) == len(typing.get_args(p)):
            return _mismatch(p, e)
        return _Result(WARNING, "may be " + " or ".join(repr(v) for v in outside))
    if _is_literal(p):
        return _check(_literal_types(p), e, top)
    fits = _check(p, _literal_types(e), top)
    if fits.level == ERROR:
        return _mismatch(p, e)
    return _Result(WARNING, f"not every {_name(p)} is one of {_literal_values(e)}")


def _literal_key(value: object) -> tuple[type, object]:
    return type(value), value  # Literal[1] and Literal[True] differ


def _literal_types(t: object) -> object:
    return typing.Union[tuple(type(v) for v in typing.get_args(t))]


def _literal_values(t: object) -> str:
    return ", ".join(repr(v) for v in typing.get_args(t))


def _check_boundary(p: object, e: object) -> _Result:
    """Exactly one side is an asset: the engine unwraps or wraps at the step boundary."""
    if _is_asset(p):
        return _ok(f"the engine passes the data of the {_name(p)}")
    if p is _NONE:
        return _mismatch(p, e)
    return _ok(f"the engine wraps the value in a {_name(e)}")


def _split(t: object) -> tuple[type | None, tuple[object, ...]]:
    """(origin class, type arguments); origin None for forms this checker does not know."""
    origin = typing.get_origin(t)
    if isinstance(origin, type):
        return origin, typing.get_args(t)
    return (t, ()) if isinstance(t, type) else (None, ())


def _check_generic(p: object, e: object) -> _Result:
    p_origin, p_args = _split(p)
    e_origin, e_args = _split(e)
    if p_origin is None or e_origin is None:
        return _ok("not checked")
    origin = _check_class(p_origin, e_origin)
    if not p_args and not e_args:
        return origin
    # Against generics "dict is not list" explains more than restating the whole types.
    origin = _Result(origin.level, origin.detail)
    if origin.level == ERROR or not p_args or not e_args:
        return origin
    return _worst([origin, _check_args(p_origin, p_args, e_origin, e_args)])


def _check_class(p: type, e: type) -> _Result:
    if p is e:
        return _ok()
    try:
        if e in _TOWER and (rank := _numeric_rank(p)) is not None:
            return _ok() if rank <= _TOWER[e] else _mismatch(p, e)
        if issubclass(p, e):
            return _ok()
        if issubclass(e, p):
            return _Result(WARNING, f"not every {_name(p)} is a {_name(e)}")
    except TypeError:  # non-runtime protocols, TypedDict: not checkable
        return _ok("not checked")
    if _is_asset(p) and _is_asset(e):
        return _Result(ERROR, "asset kinds differ")
    return _mismatch(p, e)


def _numeric_rank(cls: type) -> int | None:
    for abc, rank in ((bool, 0), (numbers.Integral, 1), (numbers.Real, 2), (numbers.Complex, 3)):
        if issubclass(cls, abc):
            return rank
    return None


def _check_args(p_origin: type, p_args: tuple, e_origin: type, e_args: tuple) -> _Result:
    if issubclass(e_origin, tuple):
        return _check_tuple(p_origin, p_args, e_args)
    if issubclass(e_origin, cabc.Mapping) and len(e_args) == 2:
        kv = _mapping_args(p_origin, p_args)
        if kv is None:
            return _ok("type arguments not checked")
        return _worst([_check(kv[0], e_args[0], False).inside("key"),
                       _check(kv[1], e_args[1], False).inside("value")])
    if issubclass(e_origin, cabc.Iterable) and len(e_args) == 1:
        element = _element_type(p_origin, p_args)
        if element is None:
            return _ok("type arguments not checked")
        return _check(element, e_args[0], False).inside("element")
    if p_origin is e_origin and len(p_args) == len(e_args) and e_origin is not cabc.Callable:
        return _worst(_check(a, b, False).inside(f"argument {i + 1}")
                      for i, (a, b) in enumerate(zip(p_args, e_args)))
    return _ok("type arguments not checked")


def _homogeneous(args: tuple) -> bool:
    return len(args) == 2 and args[1] is Ellipsis


def _check_tuple(p_origin: type, p_args: tuple, e_args: tuple) -> _Result:
    fixed = issubclass(p_origin, tuple) and not _homogeneous(p_args)
    if _homogeneous(e_args):
        items = p_args if fixed else (_element_type(p_origin, p_args),)
        return _worst(_check(item, e_args[0], False).inside(f"item {i}" if fixed else "element")
                      for i, item in enumerate(items) if item is not None)
    if fixed and len(p_args) != len(e_args):
        return _Result(ERROR, f"{len(p_args)} items, expects {len(e_args)}")
    if fixed:
        return _worst(_check(a, b, False).inside(f"item {i}")
                      for i, (a, b) in enumerate(zip(p_args, e_args)))
    element = _element_type(p_origin, p_args)
    checks = [_check(element, b, False).inside(f"item {i}")
              for i, b in enumerate(e_args)] if element is not None else []
    return _worst([_Result(WARNING, f"may not have exactly {len(e_args)} items"), *checks])


def _mapping_args(origin: type, args: tuple) -> tuple[object, object] | None:
    if issubclass(origin, collections.Counter) and len(args) == 1:
        return args[0], int
    if issubclass(origin, cabc.Mapping) and len(args) == 2:
        return args[0], args[1]
    return None


def _element_type(origin: type, args: tuple) -> object | None:
    """What iterating a value of ``origin[args]`` yields, or None when not derivable."""
    if issubclass(origin, tuple):
        items = args[:1] if _homogeneous(args) else args
        return typing.Union[items] if items else None
    if issubclass(origin, cabc.Mapping):
        return args[0] if args else None
    if issubclass(origin, cabc.Iterable) and len(args) == 1:
        return args[0]
    return None


# --- naming types in reasons -----------------------------------------------------


def _names(p: object, e: object) -> tuple[str, str]:
    """Short names, qualified by package when two different types share one."""
    p_name, e_name = _name(p), _name(e)
    if p_name == e_name and p is not e:
        return _name(p, qualify=True), _name(e, qualify=True)
    return p_name, e_name


def _name(t: object, qualify: bool = False) -> str:
    t = _strip(t)
    if t is _NONE:
        return "None"
    if t is Any:
        return "Any"
    if t is Ellipsis:
        return "..."
    if isinstance(t, (list, tuple)):  # Callable's parameter list
        return "[" + ", ".join(_name(a, qualify) for a in t) + "]"
    if isinstance(t, (typing.TypeVar, typing.ParamSpec)):
        return t.__name__
    if is_union(t):
        return " | ".join(_name(a, qualify) for a in typing.get_args(t))
    if _is_literal(t):
        return f"Literal[{_literal_values(t)}]"
    origin, args = _split(t)
    if origin is not None and args:
        return f"{_name(origin, qualify)}[{', '.join(_name(a, qualify) for a in args)}]"
    if isinstance(t, type):
        short = t.__qualname__.rpartition("<locals>.")[2]  # a class made inside a function
        package = t.__module__.split(".")[0]
        plain = qualify and package not in ("builtins", "<unresolved>")
        return f"{package}.{short}" if plain else short
    return repr(t).replace("typing.", "")
